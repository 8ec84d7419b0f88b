"""Which events tell subscribers what, the attention list's changes, message words, and the signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest

from notify import channels, messages
from notify.kinds import KINDS, effects_of, timed_status

AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
PID = "4a9ec220-b200-447f-acb0-eee89ea70a1c"


def effects(name: str, **data: Any) -> Any:
    return effects_of(name, {"actor": "Li", **data}, project_id=PID, position=42, occurred_at=AT)


@pytest.mark.parametrize(("name", "data", "kinds"), [
    ("StageAdvanced", {"from_stage": "uat", "to_stage": "trial", "reason": ""}, ["gate_passed"]),
    ("StageReturned", {"from_stage": "uat", "to_stage": "development", "reason": "defects"}, ["stage_moved_back"]),
    ("CriterionRejected", {"criterion_id": "c1", "reason": "slow"}, ["criterion_rejected"]),
    ("ChangeRequestRaised", {"change_request_id": "cr1", "title": "Coupons"}, ["change_awaiting_decision"]),
    ("ChangeRequestApproved", {"change_request_id": "cr1", "reason": "ok"}, ["change_decided"]),
    ("ChangeRequestRejected", {"change_request_id": "cr1", "reason": "no"}, ["change_decided"]),
    ("ChangeRequestWithdrawn", {"change_request_id": "cr1"}, ["change_decided"]),
    ("ReleasePaused", {"release_id": "r1", "percent": 20, "reason": "errors"}, ["release_paused"]),
    ("ReleaseRolledBack", {"release_id": "r1", "from_percent": 50, "reason": "crash"}, ["release_rolled_back"]),
    ("ReleaseCompleted", {"release_id": "r1"}, ["release_completed"]),
    # Events of the client sign-off and proposals work (issue 14), built here before they reach main.
    ("CriterionSignedOff", {"criterion_id": "c1", "verdict": "verified", "comment": "fine"}, ["client_sign_off"]),
    ("CriterionSignedOff", {"criterion_id": "c1", "verdict": "rejected", "comment": "colours"},
     ["client_sign_off", "criterion_rejected"]),
    ("ChangeProposed", {"proposal_id": "p1", "title": "Dark mode", "description": "", "tier": "value_added"},
     ["client_proposal"]),
    ("ChangeProposalAccepted", {"proposal_id": "p1", "change_request_id": "cr9"}, ["change_decided"]),
    ("ChangeProposalDeclined", {"proposal_id": "p1", "reason": "later"}, ["change_decided"]),
    ("CommentAdded", {"comment_id": "k1", "text": "hello"}, []),
    ("ScopeItemAdded", {"item_id": "s1", "title": "Cart", "tier": "core"}, []),
])
def test_each_event_maps_to_its_kinds(name: str, data: dict[str, Any], kinds: list[str]) -> None:
    notices = effects(name, **data).notices
    assert [n.kind for n in notices] == kinds
    assert all(n.kind in KINDS and n.project_id == PID and n.actor == "Li" for n in notices)
    assert len({n.key for n in notices}) == len(notices)


@pytest.mark.parametrize(("name", "data", "added", "dropped"), [
    ("ChangeRequestRaised", {"change_request_id": "cr1", "title": "Coupons", "requested_by": "Acme"},
     [("change_request", "cr1")], []),
    ("ChangeRequestApproved", {"change_request_id": "cr1"}, [], [("change_request", "cr1")]),
    ("ChangeProposed", {"proposal_id": "p1", "title": "Dark mode"}, [("proposal", "p1")], []),
    ("ChangeProposalDeclined", {"proposal_id": "p1"}, [], [("proposal", "p1")]),
    ("CriterionRejected", {"criterion_id": "c1", "reason": "slow"}, [("rejected_criterion", "c1")], []),
    ("CriterionSignedOff", {"criterion_id": "c1", "verdict": "rejected", "comment": "no"},
     [("rejected_criterion", "c1")], []),
    ("CriterionSignedOff", {"criterion_id": "c1", "verdict": "verified"}, [], [("rejected_criterion", "c1")]),
    ("CriterionWaived", {"criterion_id": "c1"}, [], [("rejected_criterion", "c1")]),
    ("MilestoneCompleted", {"milestone_id": "m1"}, [], [("late_milestone", "m1")]),
])
def test_the_attention_list_follows_decisions(name: str, data: dict[str, Any], added: list[tuple[str, str]],
                                             dropped: list[tuple[str, str]]) -> None:
    e = effects(name, **data)
    assert [(k, r) for k, r, _ in e.attention_add] == added
    assert e.attention_drop == dropped


def test_timed_status_matches_the_views_seven_days() -> None:
    assert timed_status("2026-12-10", "2026-12-01", 7) == ""
    assert timed_status("2026-12-08", "2026-12-01", 7) == "at_risk"
    assert timed_status("2026-12-01", "2026-12-01", 7) == "at_risk"
    assert timed_status("2026-11-30", "2026-12-01", 7) == "late"


def notice(kind: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "project": {"id": PID, "name": "Mall", "client": "Acme"}, "position": 42,
            "occurred_at": AT.isoformat(), "actor": "Li", "data": data}


def test_every_kind_has_words_in_both_languages() -> None:
    for kind in KINDS:
        for lang in ("en", "zh-CN"):
            text = messages.title(notice(kind, to_stage="trial", from_stage="uat", decision="approved",
                                         subject="change_request", verdict="verified"), lang)
            assert text.startswith("Mall") and "{" not in text
    zh = messages.title(notice("gate_passed", to_stage="trial"), "zh_CN")
    assert zh == "Mall：已通过阶段关口，进入「培训与试运行」"
    assert messages.title(notice("change_decided", subject="proposal", proposal_id="p1", decision="declined"),
                          "en") == "Mall: proposal p1 declined"


def test_html_mail_escapes_what_people_typed() -> None:
    body = messages.html_body(notice("criterion_rejected", criterion_id="c1", reason="<script>x</script>"), "en")
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_dingtalk_signature_is_the_documented_one() -> None:
    # DingTalk's documentation: hmac_sha256(key=secret, msg="timestamp\nsecret"), base64, then URL-quoted.
    secret, stamp = "SEC000000000000000000000", 1700000000000
    documented = base64.b64encode(hmac.new(secret.encode("utf-8"), f"{stamp}\n{secret}".encode(),
                                           digestmod=hashlib.sha256).digest())
    assert channels.dingtalk_sign(secret, stamp) == documented.decode()
    assert urllib.parse.quote_plus(channels.dingtalk_sign(secret, stamp)) == urllib.parse.quote_plus(documented)


def test_feishu_signature_is_the_documented_one() -> None:
    # Feishu's documentation: hmac_sha256(key="timestamp\nsecret", msg=empty), base64.
    secret, stamp = "demo-secret", 1700000000
    documented = base64.b64encode(hmac.new(f"{stamp}\n{secret}".encode(), digestmod=hashlib.sha256)
                                  .digest()).decode("utf-8")
    assert channels.feishu_sign(secret, stamp) == documented
    assert channels.feishu_sign(secret, stamp + 1) != documented


def test_the_webhook_signature_covers_the_timestamp_and_the_body() -> None:
    body = channels.webhook_body("d-1", notice("gate_passed", to_stage="trial"), "en", None)
    signed = channels.webhook_signature("whsec_x", "1700000000", body)
    assert signed == "sha256=" + hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert channels.webhook_signature("whsec_x", "1700000001", body) != signed
    assert channels.webhook_signature("whsec_x", "1700000000", body + b" ") != signed
    # The same bytes for every attempt: what a receiver de-duplicates by id is also byte-for-byte the same.
    assert channels.webhook_body("d-1", notice("gate_passed", to_stage="trial"), "en", None) == body


def test_back_off_doubles_with_jitter_up_to_its_cap() -> None:
    from notify.runner import Policy

    policy = Policy(retry_seconds=10, retry_max_seconds=60)
    waits = [policy.backoff(n) for n in range(1, 7)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    assert all(30 <= w <= 60 for w in waits[3:])
