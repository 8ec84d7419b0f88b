"""The notifications page and the portfolio's attention list, in both languages, without a browser."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from delivery.settings import Database
from tests.e2e.pages_helpers import Site, make_site
from tests.receivers import Receiver

PAGE = "/pm/notifications"


@pytest.fixture
def site(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DELIVERY_NOTIFY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DELIVERY_NOTIFY_RETRY_SECONDS", "0.05")
    monkeypatch.setenv("DELIVERY_NOTIFY_POLL_SECONDS", "0.05")
    yield from make_site(Database(sqlite_url))


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)
    return value


def pm(site: Site, lang: str = "en") -> Any:
    visitor = site.visitor(cookies={"dt_lang": lang})
    visitor.sign_in(site.token("pm"))
    return visitor


def test_a_pm_subscribes_a_webhook_sees_its_secret_once_then_retries_a_dead_letter(site: Site) -> None:
    receiver = Receiver(status=500).start()
    try:
        visitor = pm(site)
        pid = site.project("Mall")
        created = visitor.post(PAGE, PAGE, name="Ops hook", channel="webhook", target=receiver.url, project_id=pid,
                               language="en", kind_gate_passed="on")
        assert created.status_code == 201
        secret = re.search(r'value="(whsec_[^"]+)" id="new-secret"', created.text)
        assert secret and secret[1], created.text[:3000]
        receiver.secret = secret[1]
        listing = visitor.client.get(PAGE)
        assert "Ops hook" in listing.text and secret[1] not in listing.text
        services = site.services
        services.app.waive_stage_plan(pid, stage="research", reason="known", actor="pm")
        services.app.transition(pid, to_stage="solution", actor="pm")
        [dead] = wait_until(services.notices.dead_letters)
        page = visitor.client.get(PAGE)
        assert f'data-dead="{dead.delivery_id}"' in page.text and "HTTP 500" in page.text
        receiver.status = None
        retried = visitor.post(PAGE, f"{PAGE}/dead/{dead.delivery_id}/retry")
        assert retried.status_code == 200 and "queued again" in retried.text
        wait_until(receiver.delivered)
        assert list(receiver.delivered()) == [dead.delivery_id]
        [sub] = services.notices.subscriptions()
        # The receiver has the body before the sender has its answer and records the delivery: wait for that.
        def recorded() -> Any:
            answer = visitor.client.get(f"{PAGE}?log={sub.id}")
            return answer if "No dead letter." in answer.text else None

        log = wait_until(recorded)
        assert "Delivery log: Ops hook" in log.text and "delivered" in log.text and "✗" in log.text
        assert "No dead letter." in log.text
    finally:
        receiver.stop()


def test_a_bad_subscription_form_names_the_field_keeps_the_input_and_records_nothing(site: Site) -> None:
    visitor = pm(site)
    answer = visitor.post(PAGE, PAGE, name="Mail", channel="email", target="not-an-address", language="en",
                          kind_gate_passed="on", secret="")
    assert answer.status_code == 422
    assert 'id="subscribe-target"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="not-an-address"' in answer.text
    no_kind = visitor.post(PAGE, PAGE, name="x", channel="webhook", target="https://h.example/x", language="en")
    assert no_kind.status_code == 422 and "kinds" in no_kind.text
    assert site.services.notices.subscriptions() == []


def test_the_portfolio_shows_what_needs_the_pms_attention_in_chinese(site: Site) -> None:
    services = site.services
    pid = site.project("商城小程序")
    for stage, to in (("research", "solution"), ("solution", "planning")):
        services.app.waive_stage_plan(pid, stage=stage, reason="已知", actor="pm")
        services.app.transition(pid, to_stage=to, actor="pm")
    services.app.raise_change_request(pid, title="增加优惠券", requested_by="客户", kind="add", tier="value_added",
                                      actor="pm")
    wait_until(services.notices.attention)
    page = pm(site, "zh-CN").client.get("/portfolio")
    assert "待处理事项" in page.text and "变更请求待决定" in page.text and "增加优惠券" in page.text
    assert 'href="/pm/notifications"' in page.text
    english = pm(site).client.get("/portfolio")
    assert "Needs your attention" in english.text and "Change request awaiting decision" in english.text


def test_only_a_pm_opens_the_notifications_page(site: Site) -> None:
    auditor = site.visitor()
    auditor.sign_in(site.token("auditor"))
    assert auditor.client.get(PAGE).status_code == 403
    assert "Needs your attention" not in auditor.client.get("/portfolio").text
    assert pm(site).client.get(f"{PAGE}?log=nope").status_code == 404
    zh = pm(site, "zh-CN").client.get(PAGE)
    assert "新建订阅" in zh.text and "钉钉机器人" in zh.text and "没有死信。" in zh.text
