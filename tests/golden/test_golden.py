"""Events an older release stored still load: topics resolve and the project comes back as it was.

The files here are written once by make_golden.py and never regenerated (see its docstring).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from delivery.application import DeliveryApplication
from delivery.project import Project
from delivery.settings import Database

HERE = Path(__file__).resolve().parent
GOLDEN = sorted(HERE.glob("events_v*.jsonl"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))


def read_golden(path: Path) -> list[StoredEvent]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        StoredEvent(
            originator_id=UUID(r["originator_id"]), originator_version=r["originator_version"],
            topic=r["topic"], state=r["state"].encode("utf-8"),
        )
        for r in records
    ]


def project_event_classes() -> set[type[Project.Event]]:
    """Every event class the Project aggregate defines (the decorated methods create them)."""
    return {
        cls for cls in vars(Project).values()
        if isinstance(cls, type) and issubclass(cls, Project.Event) and cls is not Project.Event
    }


def v1_state(p: Project) -> dict[str, Any]:
    return {
        "stage": p.stage_id, "launched": p.launched, "name": p.name, "client": p.client,
        "scope": {i.id: (i.title, i.tier, i.status, i.change_request_id) for i in p.scope.values()},
        "baseline": [b.id for b in p.baseline or []],
        "milestones": {m.id: (m.original_due_on, m.due_on, len(m.reschedules), m.completed_on)
                       for m in p.milestones.values()},
        "criteria": {c.id: (c.state, c.measured) for c in p.criteria.values()},
        "changes": {c.id: (c.kind, c.status, c.cost, c.raised_in_stage) for c in p.change_requests.values()},
        "releases": {r.id: (r.version, r.state, r.percent, r.rollbacks, len(r.observations))
                     for r in p.releases.values()},
        "funnel": [(s.name, s.expected_rate, s.actual_rate) for s in p.funnel],
        "created_on": p.created_on,
    }


def v2_state(p: Project) -> dict[str, Any]:
    """v1's view of a project, plus what v2 added: the template it was planned from and the waived plans."""
    return {**v1_state(p), "template": p.template, "waived": sorted(p.waived_plans)}


V1_LIFECYCLE: dict[str, Any] = {
        "stage": "launch", "launched": True, "name": "Golden lifecycle 金样项目", "client": "Golden Client 金色客户",
        "scope": {
            "S1": ("Login", "core", "delivered", None),
            "S2": ("Checkout", "core", "open", None),
            "S3": ("Share card", "touchpoint", "open", None),
            "S4": ("Points", "value_added", "removed", None),
            "S5": ("Coupons", "value_added", "open", "CR1"),
        },
        "baseline": ["S1", "S2", "S3"],
        "milestones": {
            "M1": (date(2026, 1, 20), date(2026, 1, 22), 1, date(2026, 1, 5)),
            "M2": (date(2026, 2, 10), date(2026, 2, 10), 0, date(2026, 1, 6)),
        },
        "criteria": {"AC1": ("verified", None), "AC2": ("verified", 850.0), "AC3": ("waived", None)},
        "changes": {
            "CR1": ("add", "implemented", Decimal("1200.50"), "development"),
            "CR2": ("modify", "approved", Decimal("800.00"), "development"),
            "CR3": ("add", "rejected", Decimal("30000.00"), "development"),
            "CR4": ("remove", "withdrawn", Decimal("0.00"), "development"),
        },
        "releases": {"R1": ("1.0", "rolled_back", 0, 1, 1), "R2": ("1.0.1", "completed", 100, 0, 3)},
        "funnel": [("Browse", 60.0, 55.0), ("Add to cart", 35.0, 30.0), ("Pay", 80.0, 82.0)],
        "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
}

# The state each golden file's projects (in store order) must load into, written out by hand: a change
# in how old events decode shows here, not only as an exception.
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "events_v1.jsonl": [V1_LIFECYCLE],
    "events_v2.jsonl": [
        {**V1_LIFECYCLE, "template": None,
         "waived": ["integration_test", "launch", "planning", "solution", "trial", "uat"]},
        {
            "stage": "research", "launched": False, "name": "Golden template 模板项目",
            "client": "Golden Client 金色客户", "scope": {}, "baseline": [],
            "milestones": {f"M{i + 1}": (date(2026, 1, 5) + timedelta(days=d), date(2026, 1, 5) + timedelta(days=d),
                                         0, None)
                           for i, d in enumerate((10, 18, 22, 45, 55, 62, 72, 80))},
            "criteria": {f"AC{i}": ("open", None) for i in range(1, 17)},
            "changes": {}, "releases": {}, "funnel": [],
            "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
            "template": "website_inquiry", "waived": [],
        },
    ],
}

def v3_state(p: Project) -> dict[str, Any]:
    """v2's view of a project, plus what v3 corrects: milestone titles and deliverables, criterion texts."""
    return {**v2_state(p), "titles": {m.id: (m.title, m.deliverables) for m in p.milestones.values()},
            "texts": {c.id: c.text for c in p.criteria.values()}}


V3_CORRECTED: dict[str, Any] = {
    "stage": "research", "launched": False, "name": "Golden corrected project 更正项目",
    "client": "Golden Client 金色客户", "scope": {"S1": ("Login", "core", "open", None)}, "baseline": [],
    "milestones": {"M1": (date(2026, 1, 20), date(2026, 1, 20), 0, None)},
    "criteria": {"AC1": ("open", None)}, "changes": {}, "releases": {}, "funnel": [],
    "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "template": None, "waived": [],
    "titles": {"M1": ("Research signed off", ["Interview notes", "Funnel model"])},
    "texts": {"AC1": "Client signs off the notes"},
}
EXPECTED["events_v3.jsonl"] = [
    {**EXPECTED["events_v2.jsonl"][0], "titles": {"M1": ("Research signed off", ["Interview notes", "Funnel model"]),
                                                  "M2": ("Build complete", [])},
     "texts": {"AC1": "Client signs off the research notes", "AC2": "List page p95 load",
               "AC3": "Payment callbacks are idempotent"}},
    # The template's own texts (its 8 milestones and 16 criteria are checked above, by id and state).
    {**EXPECTED["events_v2.jsonl"][1], "titles": mock.ANY, "texts": mock.ANY},
    V3_CORRECTED,
]


def v4_state(p: Project) -> dict[str, Any]:
    """v3's view, plus what v4 added: which criteria ask for the client's sign-off, proposals and comments."""
    return {**v3_state(p), "signoff": sorted(c.id for c in p.criteria.values() if c.client_signoff),
            "decided_by": {c.id: c.decided_by for c in p.criteria.values()},
            "proposals": {i: (q.title, q.tier, q.status, q.change_request_id, q.reason, q.proposed_by)
                          for i, q in p.proposals.items()},
            "comments": p.comment_count}


_V4_TEMPLATED = {**EXPECTED["events_v3.jsonl"][1], "signoff": ["AC12"],  # its UAT sign-off
                 "decided_by": {f"AC{i}": "" for i in range(1, 17)}, "proposals": {}, "comments": 0}
EXPECTED["events_v4.jsonl"] = [
    {**EXPECTED["events_v3.jsonl"][0], "signoff": [],
     "decided_by": {"AC1": "pm@agency", "AC2": "pm@agency", "AC3": "pm@agency"}, "proposals": {}, "comments": 0},
    _V4_TEMPLATED,
    {**V3_CORRECTED, "signoff": [], "decided_by": {"AC1": ""}, "proposals": {}, "comments": 0},
    {
        "stage": "planning", "launched": False, "name": "Golden participation 客户参与",
        "client": "Golden Client 金色客户",
        "scope": {"S1": ("Login", "core", "open", None), "S2": ("Coupons 优惠券", "value_added", "open", "CR1")},
        "baseline": ["S1"],
        "milestones": {"M1": (date(2026, 1, 20), date(2026, 1, 20), 0, date(2026, 1, 5))},
        "criteria": {"AC1": ("verified", None)},
        "changes": {"CR1": ("add", "approved", Decimal("1500.50"), "planning")},
        "releases": {}, "funnel": [], "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        "template": None, "waived": ["solution"], "signoff": ["AC1"], "decided_by": {"AC1": "Ms Wang 王女士"},
        "proposals": {"P1": ("Coupons 优惠券", "value_added", "accepted", "CR1", "", "Ms Wang 王女士"),
                      "P2": ("Dark mode", "touchpoint", "declined", None, "Next phase 下一期", "Ms Wang 王女士")},
        "comments": 2,
        "titles": {"M1": ("Findings signed off", [])}, "texts": {"AC1": "The client signs off the findings"},
    },
]


def v5_state(p: Project) -> dict[str, Any]:
    """v4's view, plus what v5 added: the scope items each milestone delivers (those that name any)."""
    return {**v4_state(p), "delivers": {m.id: m.scope_item_ids for m in p.milestones.values() if m.scope_item_ids}}


EXPECTED["events_v5.jsonl"] = [
    *({**expected, "delivers": {}} for expected in EXPECTED["events_v4.jsonl"]),
    {
        "stage": "research", "launched": False, "name": "Golden scheduled 排期项目", "client": "Golden Client 金色客户",
        "scope": {"S1": ("Checkout", "core", "open", None),
                  "S2": ("Member points 会员积分", "value_added", "open", None)},
        "baseline": [],
        "milestones": {"M1": (date(2026, 2, 1), date(2026, 2, 1), 0, None),
                       "M2": (date(2026, 2, 8), date(2026, 2, 8), 0, None)},
        "criteria": {}, "changes": {}, "releases": {}, "funnel": [],
        "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "template": None, "waived": [],
        "titles": {"M1": ("Points live", []), "M2": ("Checkout live", ["Release notes"])}, "texts": {},
        "signoff": [], "decided_by": {}, "proposals": {}, "comments": 0,
        "delivers": {"M1": ["S2"], "M2": ["S1", "S2"]},
    },
]


def v6_state(p: Project) -> dict[str, Any]:
    """v5's view, plus what v6 added: the project's currency (CNY for every project that never set one)."""
    return {**v5_state(p), "currency": p.currency}


EXPECTED["events_v6.jsonl"] = [
    *({**expected, "currency": "CNY"} for expected in EXPECTED["events_v5.jsonl"]),
    {
        "stage": "research", "launched": False, "name": "Golden currency 币种项目", "client": "Golden Client 金色客户",
        "scope": {}, "baseline": [], "milestones": {}, "criteria": {}, "changes": {}, "releases": {}, "funnel": [],
        "created_on": datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "template": None, "waived": [],
        "titles": {}, "texts": {}, "signoff": [], "decided_by": {}, "proposals": {}, "comments": 0, "delivers": {},
        "currency": "EUR",
    },
]
STATE_OF = {"events_v1.jsonl": v1_state, "events_v2.jsonl": v2_state, "events_v3.jsonl": v3_state,
            "events_v4.jsonl": v4_state, "events_v5.jsonl": v5_state, "events_v6.jsonl": v6_state}


@pytest.fixture
def app(sqlite_url: str) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(Database(sqlite_url))
    yield application
    application.close()


def test_golden_files_are_there_and_each_has_an_expected_state() -> None:
    assert [p.name for p in GOLDEN][:1] == ["events_v1.jsonl"]
    assert {p.name for p in GOLDEN} == set(EXPECTED)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_every_stored_topic_still_resolves_to_a_project_event(path: Path) -> None:
    for record in read_golden(path):
        cls = resolve_topic(record.topic)
        assert isinstance(cls, type) and issubclass(cls, Project.Event), record.topic


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_events_load_into_the_expected_project(app: DeliveryApplication, path: Path) -> None:
    assert app.mapper.compressor is None and app.mapper.cipher is None  # the files hold plain JSON
    records = read_golden(path)
    pids = list(dict.fromkeys(r.originator_id for r in records))
    assert len(pids) == len(EXPECTED[path.name])
    for pid in pids:
        versions = [r.originator_version for r in records if r.originator_id == pid]
        assert versions == list(range(1, len(versions) + 1))

    app.recorder.insert_events(records)
    for pid, expected in zip(pids, EXPECTED[path.name], strict=True):
        project = app.get_project(pid)
        assert project.version == sum(1 for r in records if r.originator_id == pid)
        assert STATE_OF[path.name](project) == expected


def test_the_newest_golden_file_records_every_event_type_the_project_has() -> None:
    classes = project_event_classes()
    # Guard against a vacuous pass: the enumeration sees the decorated events and Created.
    assert {Project.Created, Project.LaunchCompleted, Project.ReleaseRolledBack} <= classes
    assert len(classes) >= 30
    stored = {r.topic for r in read_golden(GOLDEN[-1])}
    missing = sorted(get_topic(cls) for cls in classes if get_topic(cls) not in stored)
    assert not missing, (
        f"{GOLDEN[-1].name} has no stored example of {missing}: extend play_full_lifecycle and write "
        "the next golden version with make_golden.py (never regenerate an existing one)."
    )
