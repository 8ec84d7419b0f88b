"""Notifications end to end in one process, on SQLite and PostgreSQL: planned from the events into the outbox,
delivered to local receivers (webhook, chat robots, SMTP), retried, dead-lettered, raised by the scheduler."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import Message

import pytest

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.errors import InvalidInput, RuleViolation
from delivery.settings import Database
from notify import channels
from notify.runner import Notifier, Policy
from notify.store import NotifyStore
from projections.store import make_engine
from tests.pg_cluster import free_port
from tests.receivers import Receiver

FAST = Policy(max_attempts=4, retry_seconds=0.01, retry_max_seconds=0.05, poll_seconds=0.05, schedule_seconds=0.05)


@pytest.fixture
def app(database: Database) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(database)
    yield application
    application.close()


@pytest.fixture
def store(database: Database) -> Iterator[NotifyStore]:
    engine = make_engine(database)
    yield NotifyStore(engine)
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def notifier(app: DeliveryApplication, store: NotifyStore, policy: Policy = FAST,
             today: Callable[[], date] = clock.today, **settings: object) -> Notifier:
    return Notifier(app, store, policy=policy, settings=channels.Settings(timeout=2.0, **settings),  # type: ignore[arg-type]
                    today=today)


def drain(n: Notifier, until: Callable[[], bool], timeout: float = 10.0) -> None:
    """Plan and send (retries included) until `until()` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the notifications did not settle in time"
        while n.plan_once():
            pass
        n.send_once()
        time.sleep(0.01)


def project(app: DeliveryApplication, name: str = "Mall app") -> str:
    return str(app.create_project(name=name, client="Acme", actor="pm").project_id)


def pass_gate(app: DeliveryApplication, pid: str) -> None:
    """Leave the project's stage (its plan waived) for the next one."""
    stage = app.get_project(pid).stage
    app.waive_stage_plan(pid, stage=stage, reason="known already", actor="pm")
    app.transition(pid, to_stage=stage.next, actor="pm")


def frozen(app: DeliveryApplication, name: str = "Mall app") -> str:
    """A project in planning: its baseline frozen, so change requests may be raised."""
    pid = project(app, name)
    pass_gate(app, pid)
    pass_gate(app, pid)
    return pid


def subscribe(store: NotifyStore, target: str, kinds: list[str], *, channel: str = "webhook",
              project_id: str | None = None, language: str = "en", secret: str | None = None,
              start: int = 0) -> tuple[str, str]:
    sub, shown = store.subscribe(name="ops", project_id=project_id, kinds=kinds, channel=channel, target=target,
                                 language=language, secret=secret, start_position=start, created_by="pm")
    return sub.id, shown


def test_a_webhook_is_signed_retried_after_two_500s_and_keeps_its_delivery_id(
    app: DeliveryApplication, store: NotifyStore, receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    sid, secret = subscribe(store, receiver.url, ["gate_passed", "change_awaiting_decision"])
    receiver.secret = secret
    pid = frozen(app)
    app.raise_change_request(pid, title="Add coupons", requested_by="Client", kind="add", tier="value_added",
                             actor="pm")
    n = notifier(app, store)
    drain(n, lambda: len(receiver.delivered()) == 3)

    assert receiver.refused == []
    assert sorted(receiver.delivered().values()) == [1, 1, 1]
    by_id: dict[str, list[bytes]] = {}
    for r in receiver.received:
        by_id.setdefault(r.headers["X-Delivery-Id"], []).append(r.body)
    # Three attempts each (500, 500, 200), the same id and the same bytes every time.
    assert [len(v) for v in by_id.values()] == [3, 3, 3]
    assert all(len(set(v)) == 1 for v in by_id.values())
    assert sorted(b["kind"] for b in receiver.bodies()) == ["change_awaiting_decision", "gate_passed", "gate_passed"]
    gate = min((b for b in receiver.bodies() if b["kind"] == "gate_passed"), key=lambda b: b["position"])
    assert gate["schema"] == "delivery.notification/1"
    assert gate["project"] == {"id": pid, "name": "Mall app", "client": "Acme"}
    assert gate["data"]["from_stage"] == "research" and gate["data"]["to_stage"] == "solution"
    assert gate["delivery_id"] in by_id
    assert "Mall app" in gate["text"]
    log = store.deliveries(sid)
    assert [d.state for d, _ in log] == ["delivered"] * 3
    assert [[a.ok for a in tries] for _, tries in log] == [[False, False, True]] * 3
    assert "HTTP 500" in log[0][1][0].detail


def test_a_signature_made_with_another_secret_is_refused_by_the_receiver(
    app: DeliveryApplication, store: NotifyStore, receiver: Receiver,
) -> None:
    subscribe(store, receiver.url, ["gate_passed"])
    receiver.secret = "whsec_not_the_one"
    pid = project(app)
    pass_gate(app, pid)
    n = notifier(app, store)
    drain(n, lambda: bool(store.dead_letters()))
    assert receiver.refused and set(receiver.refused) == {"bad signature"}
    assert store.dead_letters()[0].last_error == "HTTP 401 from the receiver"


def test_planned_once_per_event_and_subscription_across_restarts_and_never_for_the_past(
    app: DeliveryApplication, store: NotifyStore, database: Database, receiver: Receiver,
) -> None:
    pid = frozen(app)
    app.raise_change_request(pid, title="Before", requested_by="Client", kind="add", tier="core", actor="pm")
    start = app.recorder.max_notification_id() or 0
    sid, _ = subscribe(store, receiver.url, ["change_awaiting_decision"], project_id=pid, start=start)
    other, _ = subscribe(store, receiver.url, ["change_awaiting_decision"], project_id=project(app, "Other"),
                         start=start)
    app.raise_change_request(pid, title="After", requested_by="Client", kind="add", tier="core", actor="pm")
    first = notifier(app, store)
    while first.plan_once():
        pass
    # A second planner (a restart, or another process) finds nothing left to plan.
    engine = make_engine(database)
    again = notifier(app, NotifyStore(engine))
    assert again.plan_once() == 0
    engine.dispose()
    planned = store.deliveries(sid)
    assert [d.notice["data"]["title"] for d, _ in planned] == ["After"]
    assert store.deliveries(other) == []


def test_dead_letter_after_the_last_attempt_then_retried_by_the_pm(
    app: DeliveryApplication, store: NotifyStore, receiver: Receiver,
) -> None:
    receiver.status = 503
    sid, secret = subscribe(store, receiver.url, ["release_paused", "gate_passed"])
    receiver.secret = secret
    pid = project(app)
    pass_gate(app, pid)
    n = notifier(app, store)
    drain(n, lambda: bool(store.dead_letters()))
    dead = store.dead_letters()
    assert len(dead) == 1 and dead[0].attempts == FAST.max_attempts and dead[0].state == "dead"
    assert len(receiver.received) == FAST.max_attempts
    store.retry(dead[0].delivery_id)
    with pytest.raises(RuleViolation):
        store.retry(dead[0].delivery_id)  # pending again: not a dead letter any more
    receiver.status = None
    drain(n, lambda: bool(receiver.delivered()))
    assert store.dead_letters() == []
    [(d, tries)] = store.deliveries(sid)
    assert d.state == "delivered" and len(tries) == FAST.max_attempts + 1
    assert list(receiver.delivered()) == [d.delivery_id]


def test_time_based_kinds_are_raised_once_per_transition_across_restarts(
    app: DeliveryApplication, store: NotifyStore, database: Database, receiver: Receiver,
) -> None:
    sid, secret = subscribe(store, receiver.url, ["milestone_at_risk", "milestone_late"])
    receiver.secret = secret
    pid = project(app)
    today = clock.today()
    mid = app.plan_milestone(pid, title="Prototype", stage="research", due_on=today + timedelta(days=10),
                             actor="pm").value
    day = {"today": today}
    n = notifier(app, store, today=lambda: day["today"])

    def run_scheduler(on: date, notifier_: Notifier) -> None:
        day["today"] = on
        while notifier_.plan_once():
            pass
        notifier_.schedule_once()
        drain(notifier_, lambda: not store.due(clock.now() + timedelta(days=1)))

    run_scheduler(today, n)
    assert receiver.bodies() == []
    run_scheduler(today + timedelta(days=4), n)
    run_scheduler(today + timedelta(days=5), n)
    # A restart: a new notifier over the same tables raises nothing already raised.
    engine = make_engine(database)
    restarted = notifier(app, NotifyStore(engine), today=lambda: day["today"])
    run_scheduler(today + timedelta(days=6), restarted)
    assert [b["kind"] for b in receiver.bodies()] == ["milestone_at_risk"]
    run_scheduler(today + timedelta(days=11), restarted)
    run_scheduler(today + timedelta(days=12), restarted)
    assert [b["kind"] for b in receiver.bodies()] == ["milestone_at_risk", "milestone_late"]
    assert [i.kind for i in store.attention()] == ["late_milestone"]
    # Rescheduled: the new date has transitions of its own; completed: off the attention list.
    app.reschedule_milestone(pid, milestone_id=mid, due_on=today + timedelta(days=30), reason="client away",
                             actor="pm")
    run_scheduler(today + timedelta(days=12), restarted)
    assert store.attention() == []
    run_scheduler(today + timedelta(days=31), restarted)
    assert [b["kind"] for b in receiver.bodies()] == ["milestone_at_risk", "milestone_late", "milestone_late"]
    assert [i.kind for i in store.attention()] == ["late_milestone"]
    app.complete_milestone(pid, milestone_id=mid, actor="pm")
    run_scheduler(today + timedelta(days=40), restarted)
    assert store.attention() == []
    assert len(receiver.bodies()) == 3 == len(set(receiver.delivered()))
    assert len(store.deliveries(sid)) == 3
    engine.dispose()


def test_the_attention_list_holds_what_waits_for_a_decision_newest_first(
    app: DeliveryApplication, store: NotifyStore,
) -> None:
    pid = frozen(app)
    mid = app.plan_milestone(pid, title="Prototype", stage="planning", due_on=clock.today() + timedelta(days=60),
                             actor="pm").value
    cid = app.add_criterion(pid, milestone_id=mid, text="Client signs the prototype", actor="pm").value
    cr = app.raise_change_request(pid, title="Add coupons", requested_by="Client", kind="add", tier="value_added",
                                  actor="pm").value
    app.reject_criterion(pid, criterion_id=cid, reason="colours wrong", actor="pm")
    n = notifier(app, store)
    while n.plan_once():
        pass
    items = store.attention()
    assert [(i.kind, i.ref) for i in items] == [("rejected_criterion", cid), ("change_request", cr)]
    assert items[0].project_name == "Mall app" and items[0].detail == {"reason": "colours wrong"}
    app.approve_change_request(pid, change_request_id=cr, reason="worth it", actor="pm")
    app.verify_criterion(pid, criterion_id=cid, evidence="signed", actor="pm")
    while n.plan_once():
        pass
    assert store.attention() == []


def test_chat_robots_get_their_own_formats_and_signatures(
    app: DeliveryApplication, store: NotifyStore,
) -> None:
    robots = {"dingtalk": Receiver(robot="dingtalk", robot_secret="SECdemo123").start(),
              "feishu": Receiver(robot="feishu", robot_secret="feishu-secret").start(),
              "wecom": Receiver().start(), "slack": Receiver().start()}
    try:
        for channel, r in robots.items():
            subscribe(store, r.url + ("?access_token=abc" if channel == "dingtalk" else ""), ["gate_passed"],
                      channel=channel, language="zh-CN" if channel != "slack" else "en",
                      secret=r.robot_secret or None)
        pid = project(app, "商城小程序")
        pass_gate(app, pid)
        n = notifier(app, store)
        drain(n, lambda: all(r.received for r in robots.values()))
        assert all(r.refused == [] for r in robots.values())
        ding = robots["dingtalk"].received[0]
        assert ding.json["msgtype"] == "markdown" and "access_token=abc" in ding.path
        assert "商城小程序：已通过阶段关口，进入「产品与方案确认」" in ding.json["markdown"]["text"]
        feishu = robots["feishu"].received[0].json
        assert feishu["msg_type"] == "text" and "已通过阶段关口" in feishu["content"]["text"]
        assert robots["wecom"].received[0].json["msgtype"] == "markdown"
        assert "已通过阶段关口" in robots["wecom"].received[0].json["markdown"]["content"]
        assert robots["slack"].received[0].json["text"].startswith(
            "商城小程序: gate passed, now in Product & solution confirmation")
    finally:
        for r in robots.values():
            r.stop()


def test_a_robot_signed_with_the_wrong_secret_refuses_and_the_delivery_is_retried(
    app: DeliveryApplication, store: NotifyStore,
) -> None:
    robot = Receiver(robot="dingtalk", robot_secret="SECright").start()
    try:
        subscribe(store, robot.url, ["gate_passed"], channel="dingtalk", secret="SECwrong")
        pid = project(app)
        pass_gate(app, pid)
        n = notifier(app, store)
        drain(n, lambda: bool(store.dead_letters()))
        assert robot.refused == ["sign not match"] * FAST.max_attempts
        assert "errcode=310000" in store.dead_letters()[0].last_error
    finally:
        robot.stop()


def test_email_goes_to_a_local_smtp_server_in_the_recipients_language(
    app: DeliveryApplication, store: NotifyStore,
) -> None:
    from aiosmtpd.controller import Controller

    mails: list[Message] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            mails.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[attr-defined]
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        subscribe(store, "li.lei@example.com", ["change_awaiting_decision"], channel="email", language="zh_CN")
        pid = frozen(app)
        app.raise_change_request(pid, title="增加优惠券", requested_by="客户", kind="add", tier="value_added",
                                 actor="pm")
        n = notifier(app, store, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                     smtp_from="tracker@example.com", public_url="https://tracker.example.com")
        drain(n, lambda: bool(mails))
        mail = mails[0]
        assert mail["To"] == "li.lei@example.com" and mail["From"] == "tracker@example.com"
        assert str(mail["Subject"]) == "Mall app：变更请求「增加优惠券」等待决定"
        parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk()
                 if not p.is_multipart()}
        assert set(parts) == {"text/plain", "text/html"}
        assert "变更请求「增加优惠券」等待决定" in parts["text/plain"]
        assert f"https://tracker.example.com/pm/p/{pid}" in parts["text/plain"]
        assert "<h2>" in parts["text/html"] and "增加优惠券" in parts["text/html"]
        assert mail["X-Delivery-Id"]
    finally:
        controller.stop()


def test_email_without_smtp_settings_fails_with_a_reason_in_the_log(
    app: DeliveryApplication, store: NotifyStore,
) -> None:
    sid, _ = subscribe(store, "pm@example.com", ["gate_passed"], channel="email")
    pid = project(app)
    pass_gate(app, pid)
    n = notifier(app, store)
    drain(n, lambda: bool(store.dead_letters()))
    [(_d, tries)] = store.deliveries(sid)
    assert "DELIVERY_SMTP_HOST" in tries[0].detail


@pytest.mark.parametrize(("field", "values"), [
    ("channel", {"channel": "pager"}),
    ("kinds", {"kinds": []}),
    ("kinds[1]", {"kinds": ["gate_passed", "everything"]}),
    ("target", {"target": "ftp://example.com/x"}),
    ("target", {"channel": "email", "target": "not an address"}),
    ("language", {"language": "fr"}),
    ("secret", {"secret": "mine"}),
    ("name", {"name": "x" * 121}),
])
def test_a_bad_subscription_names_the_field_and_changes_nothing(
    store: NotifyStore, field: str, values: dict[str, object],
) -> None:
    given: dict[str, object] = {"name": "ops", "project_id": None, "kinds": ["gate_passed"], "channel": "webhook",
                                "target": "https://hooks.example.com/x", "language": "en", "secret": None,
                                "start_position": 0, "created_by": "pm", **values}
    with pytest.raises(InvalidInput) as caught:
        store.subscribe(**given)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert store.subscriptions() == []
