"""The client's part on the pages (no browser): sign-off from the portal by token or granted share link,
proposals decided on the console, comments shown escaped, receipts downloaded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from delivery import clock
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def _uat(site: Site) -> str:
    """A project in research whose milestone M1 carries AC1, which only the client's sign-off closes."""
    pid = site.project("Mall app", "Acme")
    app = site.services.app
    app.plan_milestone(pid, title="Research done", stage="research", due_on=clock.today() + timedelta(days=9),
                       actor="pm")
    recorded = app.add_criterion(pid, milestone_id="M1", text="Client signs off the findings", client_signoff=True,
                                 actor="pm")
    site.services.reads.wait_for(recorded.position)
    return pid


def _share_link(site: Site, pm: Visitor, pid: str) -> tuple[str, str]:
    created = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share", days="7")
    link = re.search(r'value="http://testserver(/s/[\w-]+)" id="new-share-link"', created.text)
    assert link
    (link_id,) = re.findall(r'data-link="(\w+)"', created.text)
    return link[1], link_id


def test_a_share_link_signs_off_only_once_the_pm_grants_it(site: Site) -> None:
    pid = _uat(site)
    pm = site.visitor()
    pm.sign_in(site.token("pm", name="Pat"))
    path, link_id = _share_link(site, pm, pid)
    guest = site.visitor()
    portal = guest.client.get(path)
    assert "read-only" in portal.text and f'action="/p/{pid}/sign-off/AC1"' not in portal.text
    refused = guest.client.post(f"/p/{pid}/sign-off/AC1", data={"csrf": guest.csrf(f"/p/{pid}"),
                                                                "verdict": "verified"})
    assert refused.status_code == 403
    assert site.services.reads.checklist(pid).stages[0].milestones[0].items[0].state == "open"
    bad = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share/{link_id}/signer", signer=" ")
    # Post/redirect/get, as every console form: the refusal shows beside the grants, naming the field.
    assert bad.status_code == 200 and 'id="participation-error"' in bad.text and "signer" in bad.text
    granted = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share/{link_id}/signer", signer="Ms Wang")
    assert "signs off as Ms Wang" in granted.text
    done = guest.post(f"/p/{pid}", f"/p/{pid}/sign-off/AC1", verdict="verified", comment="Findings agreed")
    assert done.status_code == 200 and "Recorded." in done.text
    item = site.services.reads.checklist(pid).stages[0].milestones[0].items[0]
    assert (item.state, item.decided_by, item.evidence) == ("verified", "Ms Wang", "Findings agreed")


def test_a_client_token_signs_and_a_refusal_shows_beside_the_form(site: Site) -> None:
    pid = _uat(site)
    client = site.visitor()
    client.sign_in(site.token("client", [pid], name="Acme PO"))
    refused = client.post(f"/p/{pid}", f"/p/{pid}/sign-off/AC1", verdict="rejected", comment="")
    # Post/redirect/get: the refusal shows beside the form on the portal, and a reload sends nothing again.
    assert refused.status_code == 200 and 'id="signoff-AC1-error"' in refused.text
    assert refused.url.path == f"/p/{pid}" and refused.history[0].status_code == 303
    assert 'id="signoff-AC1-error"' not in client.client.get(f"/p/{pid}").text
    client.post(f"/p/{pid}", f"/p/{pid}/sign-off/AC1", verdict="rejected", comment="Missing the survey")
    page = client.post(f"/p/{pid}", f"/p/{pid}/sign-off/AC1", verdict="verified", comment="Survey added")
    assert "Recorded." in page.text
    receipts = site.services.reads.receipts(pid).items
    assert [(r.outcome, r.by) for r in receipts] == [("rejected", "Acme PO"), ("verified", "Acme PO")]
    version = receipts[-1].version
    download = client.client.get(f"/p/{pid}/receipts/{version}.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert json.loads(download.text)["statement"]["event"]["data"]["comment"] == "Survey added"
    printable = client.client.get(f"/p/{pid}/receipts/{version}")
    assert printable.status_code == 200 and "Survey added" in printable.text and "Client sign-off" in printable.text
    assert client.client.get(f"/p/{pid}/receipts/1").status_code == 404
    assert client.client.get("/receipts/public-key.pem").text.startswith("-----BEGIN PUBLIC KEY-----")


def test_proposals_and_comments_between_client_and_pm(site: Site) -> None:
    pid = _uat(site)
    client, pm = site.visitor(), site.visitor()
    client.sign_in(site.token("client", [pid], name="Acme PO"))
    pm.sign_in(site.token("pm", name="Pat"))
    page = client.post(f"/p/{pid}", f"/p/{pid}/proposals", title="Coupons", description="For 11.11",
                       tier="value_added")
    assert page.status_code == 200 and 'data-proposal="P1"' in page.text
    bad = client.post(f"/p/{pid}", f"/p/{pid}/proposals", title="", tier="core")
    assert bad.status_code == 200 and 'id="propose-error"' in bad.text and bad.history[0].status_code == 303
    client.post(f"/p/{pid}", f"/p/{pid}/comments", target="milestone:M1", text="<script>alert(1)</script>\nThanks")
    console = pm.client.get(f"/pm/p/{pid}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in console and "<script>alert" not in console
    # The console's forms post/redirect/get: the result shows where the form stands.
    refused = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/accept_change_proposal", proposal_id="P1", kind="add",
                      anchor="participation")
    assert refused.status_code == 200 and 'id="participation-error"' in refused.text  # baseline not frozen
    declined = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/decline_change_proposal", proposal_id="P1",
                       reason="Added to scope directly", anchor="participation")
    assert "Proposal declined." in declined.text
    commented = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/add_comment", target="criterion:AC1",
                        text="Please sign by Friday", anchor="comments")
    assert "Comment added." in commented.text
    portal = client.client.get(f"/p/{pid}").text
    assert "Declined: Added to scope directly" in portal and "Please sign by Friday" in portal
    assert portal.index("&lt;script&gt;") < portal.index("Please sign by Friday")  # in the order written
    auditor = site.visitor()
    auditor.sign_in(site.token("auditor"))
    assert auditor.client.get(f"/p/{pid}").status_code == 200
    assert auditor.client.post(f"/p/{pid}/comments", data={"csrf": auditor.csrf(f"/p/{pid}"),
                                                          "target": "milestone:M1", "text": "x"}).status_code == 403
    assert len(site.services.reads.comments(pid).items) == 2
