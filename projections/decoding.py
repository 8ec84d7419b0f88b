"""Stored events decoded for folding, without the library's per-event detours (a rebuild's hot loop).

`to_domain_event` of the library's mapper turns a stored event into a domain event with
the standard `json` decoder and an object hook in Python for every JSON object. A
rebuild decodes every event in the store once, and there that decoding was the largest
single cost (0.67 s per 100,000 events on SQLite against 0.57 s for every reducer).

`FastDecoder` makes the same object: orjson parses the bytes (in C, straight from the
UTF-8), and the values the transcoder marks (`{"_type_": name, "_data_": ...}`, innermost
first, as the library's hook does) are turned back through the very same registered
transcodings. Anything it does not handle the same way is left to the mapper, which
gives its own answer or error: a cipher or a compressor, an event class that upcasts,
JSON that orjson reads otherwise or refuses (integers beyond 64 bits, NaN), a name with no transcoding.
`tests/unit/test_decoding.py` checks it against the mapper on every stored golden event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic

# Beyond this a float may be an integer orjson could not hold in 64 bits (it reads those as floats).
_EXACT = 2.0**63
_new = object.__new__
_set = object.__setattr__


class _Unhandled(Exception):
    """The fast path does not decode this event as the mapper would: the mapper does it."""


class FastDecoder:
    """A stored event's parts (position, id, version, topic, state) as the domain event the mapper makes."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.usable = mapper.cipher is None and mapper.compressor is None
        self._names: dict[str, Callable[[Any], Any]] = {
            name: transcoding.decode for name, transcoding in mapper.transcoder.names.items()
        }
        self._classes: dict[str, type | None] = {}

    def __call__(self, position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        """The domain event; one the mapper cannot decode either raises what the mapper raises."""
        try:
            cls = self._classes[topic]
        except KeyError:
            cls = self._classes[topic] = self._class(topic)
        if cls is not None and self.usable:
            try:
                values = self._values(state)
            except (_Unhandled, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
            else:
                if "class_version" not in values:
                    values["originator_id"] = originator_id
                    values["originator_version"] = version
                    event: Any = _new(cls)
                    _set(event, "__dict__", values)
                    return event
        return self.mapper.to_domain_event(Notification(
            id=position, originator_id=originator_id, originator_version=version, topic=topic, state=state))

    def _class(self, topic: str) -> type | None:
        """The event class, or None where the mapper must decide (unknown topic, a class that upcasts, an id
        the mapper would convert)."""
        try:
            cls = resolve_topic(topic)
        except Exception:  # the mapper raises the library's own error for it
            return None
        if getattr(cls, "class_version", 1) != 1:
            return None
        return cls if isinstance(cls, type) else None

    def _values(self, state: bytes) -> dict[str, Any]:
        values = orjson.loads(state)
        if type(values) is not dict:
            raise _Unhandled
        names = self._names
        for key, value in values.items():
            t = type(value)
            if t is dict:
                if len(value) == 2 and "_type_" in value and "_data_" in value:
                    data = value["_data_"]
                    if type(data) is dict or type(data) is list:
                        data = self._walk(data)
                    values[key] = names[value["_type_"]](data)
                else:
                    values[key] = self._walk(value)
            elif t is list and value:
                values[key] = self._walk(value)
            elif t is float and not -_EXACT < value < _EXACT:
                raise _Unhandled  # orjson reads an integer beyond 64 bits as a float; the mapper keeps it
        return values

    def _walk(self, value: Any) -> Any:
        """Nested values, innermost first, as the library's object hook sees them."""
        t = type(value)
        if t is dict:
            walked = {k: self._walk(v) for k, v in value.items()}
            if len(walked) == 2 and "_type_" in walked and "_data_" in walked:
                return self._names[walked["_type_"]](walked["_data_"])
            return walked
        if t is list:
            return [self._walk(v) for v in value]
        if t is float and not -_EXACT < value < _EXACT:
            raise _Unhandled
        return value
