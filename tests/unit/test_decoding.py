"""The rebuild's decoder makes the very events the library's mapper makes, or leaves the event to it."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Notification

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.decoding import FastDecoder
from tests.golden.test_golden import GOLDEN, read_golden


@pytest.fixture(scope="module")
def app() -> Any:
    application = DeliveryApplication(Database("sqlite:///:memory:"))
    yield application
    application.close()


def both(app: Any, topic: str, state: bytes, version: int = 3) -> tuple[Any, Any]:
    oid = uuid4()
    fast = FastDecoder(app.mapper)(7, oid, version, topic, state)
    slow = app.mapper.to_domain_event(Notification(
        id=7, originator_id=oid, originator_version=version, topic=topic, state=state))
    return fast, slow


def same(fast: Any, slow: Any) -> None:
    assert type(fast) is type(slow)
    assert fast.__dict__ == slow.__dict__
    # Equal values of the same types (a date is not a datetime, a tuple not a list, nested included).
    assert repr(fast.__dict__) == repr(slow.__dict__)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_golden_event_decodes_as_the_mapper_decodes_it(app: Any, path: Any) -> None:
    stored = read_golden(path)
    decoder = FastDecoder(app.mapper)
    assert stored
    for n, event in enumerate(stored, start=1):
        fast = decoder(n, event.originator_id, event.originator_version, event.topic, event.state)
        slow = app.mapper.to_domain_event(event)
        same(fast, slow)


def test_nested_transcodings_are_decoded_innermost_first(app: Any) -> None:
    state = json.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-06-03T10:34:00+00:00"},
        "items": [{"_type_": "date_iso", "_data_": "2026-06-03"}, {"plain": [1, 2.5, None, "文"]}],
        "deep": {"a": {"_type_": "decimal_str", "_data_": "1.10"}, "b": []},
        "actor": "pm",
    }, ensure_ascii=False).encode()
    same(*both(app, "delivery.project:Project.StageAdvanced", state))


@pytest.mark.parametrize("state", [
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-06-03T10:34:00+00:00"},"n":123456789012345678901234567890}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-06-03T10:34:00+00:00"},"x":NaN}',
], ids=["beyond-64-bits", "nan"])
def test_json_orjson_refuses_is_decoded_by_the_mapper(app: Any, state: bytes) -> None:
    same(*both(app, "delivery.project:Project.StageAdvanced", state))


@pytest.mark.parametrize(("topic", "state"), [
    ("delivery.project:Project.StageAdvanced", b'{"timestamp":{"_type_":"no_such","_data_":"x"}}'),
    ("delivery.project:Project.StageAdvanced", b'{"timestamp":{"_type_":"datetime_iso","_data_":"not a time"}}'),
    ("delivery.project:Project.StageAdvanced", b'{"timestamp": '),
    ("delivery.project:Project.NoSuchEvent", b'{}'),
    ("no.such.module:Thing", b'{}'),
], ids=["unknown-transcoding", "bad-value", "cut-json", "unknown-class", "unknown-module"])
def test_an_event_the_mapper_refuses_raises_what_the_mapper_raises(app: Any, topic: str, state: bytes) -> None:
    oid = uuid4()
    with pytest.raises(Exception) as slow:
        app.mapper.to_domain_event(Notification(
            id=7, originator_id=oid, originator_version=1, topic=topic, state=state))
    with pytest.raises(type(slow.value)) as fast:
        FastDecoder(app.mapper)(7, oid, 1, topic, state)
    assert str(fast.value) == str(slow.value)


def test_a_big_integer_nested_in_a_list_is_kept_exact(app: Any) -> None:
    state = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-06-03T10:34:00+00:00"},'
             b'"l":[{"n":99999999999999999999}]}')
    fast, slow = both(app, "delivery.project:Project.StageAdvanced", state)
    same(fast, slow)
    assert fast.l[0]["n"] == 99999999999999999999
