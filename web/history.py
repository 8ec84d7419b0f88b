"""A project's events as sentences in the reader's language: the console's history, and what changed
since the version a stale form was rendered from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from delivery.application import DeliveryApplication
from web.i18n import Translator

# Newest events the console's history shows (the audit replay has them all).
RECENT = 15
# Events a stale form's message lists at most (then "and N more").
SINCE = 20
_META = ("originator_id", "originator_version", "timestamp", "originator_topic")


@dataclass(frozen=True)
class Happening:
    version: int
    type: str
    actor: str
    at: datetime
    sentence: str


def _values(t: Translator, data: dict[str, Any]) -> dict[str, Any]:
    """The event's fields as a sentence shows them: stages by name, dates and numbers in the locale."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("stage", "from_stage", "to_stage") and isinstance(value, str):
            out[key] = t.stage_name(value)
        elif isinstance(value, datetime | date):
            out[key] = t.date(value)
        elif key in ("percent", "from_percent", "to_percent") and isinstance(value, int | float):
            out[key] = t.percent(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = t.join(value)
        else:
            out[key] = value
    reason = str(data.get("reason") or "")
    out["why"] = t.gettext(" ({reason})", reason=reason) if reason else ""
    if isinstance(data.get("items"), list):
        out["count"] = len(data["items"])
    if isinstance(data.get("steps"), list):
        out["count"] = len(data["steps"])
    if "tier" in data:
        out["tier"] = t.word("scope tier", str(data["tier"]))
    if "kind" in data:
        out["kind"] = t.word("change kind", str(data["kind"]))
    if isinstance(data.get("metrics"), dict):
        out["metrics"] = ", ".join(f"{k} = {t.number(v, 2 if float(v) % 1 else 0)}" for k, v in data["metrics"].items())
        out["health"] = t.gettext("unhealthy") if data.get("failures") else t.gettext("healthy")
    if "verdict" in data:
        out["verdict"] = t.word("criterion state", str(data["verdict"]))
    if isinstance(data.get("template"), str):
        out["template"] = t.template_title(data["template"])
    if "measured" in data:
        measured = data["measured"]
        shown = "" if measured is None else t.number(measured, 2 if float(measured) % 1 else 0)
        out["measured"] = t.gettext(" measured {value}", value=shown) if shown else ""
    return out


def sentence(t: Translator, kind: str, actor: str, data: dict[str, Any]) -> str:
    """One event in words; an event this page has no words for yet reads as its name."""
    if not t.has_word("event sentence", kind):
        return t.gettext("{actor}: {type}", actor=actor, type=t.event_name(kind))
    return t.word("event sentence", kind, actor=actor, **_values(t, {k: v for k, v in data.items() if k != "actor"}))


def _happening(t: Translator, event: Any) -> Happening:
    data = {k: v for k, v in vars(event).items() if k not in _META}
    kind = type(event).__name__
    actor = str(data.get("actor", ""))
    return Happening(version=event.originator_version, type=kind, actor=actor, at=event.timestamp,
                     sentence=sentence(t, kind, actor, data))


def recent(app: DeliveryApplication, t: Translator, project_id: str, limit: int = RECENT) -> list[Happening]:
    """The project's newest events, newest first."""
    events = app.events.get(UUID(project_id), desc=True, limit=limit)
    return [_happening(t, e) for e in events]


def since(app: DeliveryApplication, t: Translator, project_id: str, version: int,
          limit: int = SINCE) -> tuple[list[Happening], int]:
    """The events recorded after `version`, oldest first (at most `limit`), and how many there are."""
    events = list(app.events.get(UUID(project_id), gt=version))
    return [_happening(t, e) for e in events[:limit]], len(events)
