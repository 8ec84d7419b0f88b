"""Issue 14 in a real browser: a client signs off in the portal, the gate then opens for the pm; the receipt
is there to keep; a client proposes a change the pm accepts on the console."""

from __future__ import annotations

from typing import Any

import pytest

from delivery import clock
from tests.browser.conftest import REQUIRE_BROWSER, sign_in
from tests.browser.server import Served

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - only on a machine without the dev dependencies
    if REQUIRE_BROWSER:
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def test_a_client_signs_off_in_the_portal_and_the_gate_opens_for_the_pm(
    served: Served, browser: Any, context: Any,
) -> None:
    pid = served.project("Sign-off project", "Acme")
    app = served.services.app
    app.plan_milestone(pid, title="Findings agreed", stage="research", due_on=clock.today(), actor="setup")
    recorded = app.add_criterion(pid, milestone_id="M1", text="The client signs off the findings",
                                 client_signoff=True, actor="setup")
    served.services.reads.wait_for(recorded.position)

    pm = context.new_page()
    sign_in(pm, served, served.token("pm", name="Pat"))
    pm.goto(f"{served.url}/pm/p/{pid}")
    expect(pm.locator("#crit-AC1")).to_contain_text("Closed by the client's sign-off")
    expect(pm.locator("#crit-AC1").get_by_role("button", name="Verify")).to_have_count(0)  # the client signs it
    pm.locator("#ms-M1").get_by_role("button", name="Complete milestone").click()
    expect(pm.locator("#ms-M1 [role=alert]")).to_contain_text("AC1 (open)")
    expect(pm.locator("#overview")).to_contain_text("criterion AC1")  # what keeps the project in research

    client_context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    try:
        client = client_context.new_page()
        sign_in(client, served, served.token("client", [pid], name="Ms Wang"))
        card = client.locator("[data-signoff=AC1]")
        expect(card.locator(".badge")).to_have_text("open")
        card.get_by_label("Comment (required to reject)").fill("Findings agreed in the workshop")
        card.get_by_role("button", name="Sign off: verified").click()
        expect(client.locator("#signoff [role=status]")).to_have_text("Recorded.")
        expect(client.locator("[data-signoff=AC1] .badge")).to_have_text("verified")
        receipt = client.locator("#receipts [data-receipt]").first
        expect(receipt).to_contain_text("Client sign-off")
        expect(receipt).to_contain_text("Ms Wang")
        receipt.get_by_role("link", name="Printable").click()
        expect(client.get_by_role("heading", level=1)).to_contain_text("Receipt: Client sign-off")
        expect(client.locator("main")).to_contain_text("Findings agreed in the workshop")
        with client.expect_download() as download:
            client.get_by_role("link", name="Download the receipt (JSON)").click()
        assert download.value.suggested_filename == f"receipt-{pid}-v{4}.json"
    finally:
        client_context.close()

    pm.goto(f"{served.url}/pm/p/{pid}")
    pm.locator("#ms-M1").get_by_role("button", name="Complete milestone").click()
    expect(pm.locator("#ms-M1 [role=status]")).to_have_text("✓ Milestone completed.")
    pm.locator("#stage-actions").get_by_role("button", name="Move to Product & solution confirmation").click()
    expect(pm.locator("li.stage[aria-current=step]")).to_contain_text("Product & solution confirmation")


def test_a_client_proposes_and_comments_and_the_pm_declines_on_the_console(served: Served, browser: Any,
                                                                           context: Any) -> None:
    pid = served.project("Proposal project", "Acme")
    recorded = served.services.app.plan_milestone(pid, title="Kick-off", stage="research", due_on=clock.today(),
                                                  actor="setup")
    served.services.reads.wait_for(recorded.position)
    client = context.new_page()
    sign_in(client, served, served.token("client", [pid], name="Acme PO"))
    form = client.locator("form#propose")
    form.get_by_label("Title").fill("Coupons at checkout")
    form.get_by_label("Description").fill("For the 11.11 campaign")
    form.get_by_label("Tier").select_option("value_added")
    form.get_by_role("button", name="Send the proposal").click()
    expect(client.locator("[data-proposal=P1] .badge")).to_have_text("proposed")
    comment = client.locator("form#add_comment")
    comment.get_by_label("About").select_option("milestone:M1")
    comment.get_by_label("Comment (plain text)").fill("<b>Not bold</b>")
    comment.get_by_role("button", name="Add the comment").click()
    expect(client.locator("[data-comment=C1] p")).to_have_text("<b>Not bold</b>")

    pm_context = browser.new_context(locale="en-US")
    try:
        pm = pm_context.new_page()
        sign_in(pm, served, served.token("pm", name="Pat"))
        pm.goto(f"{served.url}/pm/p/{pid}")
        decide = pm.locator("#participation form.cmd")
        decide.get_by_label("Reason (to decline)").fill("Next phase")
        decide.get_by_role("button", name="Decline").click()
        expect(pm.locator("#participation [data-proposal=P1] .badge")).to_have_text("declined")
    finally:
        pm_context.close()
    client.reload()
    expect(client.locator("[data-proposal=P1]")).to_contain_text("Declined: Next phase")
