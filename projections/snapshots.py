"""Snapshots checked against the events they stand for.

Two kinds of snapshot are kept beside the events, and neither is hash-chained:
the library's aggregate snapshots (a project loads from the latest and folds only
the events after it, so a forged one changes what commands decide) and the view
snapshots *as of* reads start from. Both are caches that the events alone
determine, so `delivery verify` folds each project's events from nothing and
compares every stored snapshot with the state at its version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Snapshot
from sqlalchemy import select, text

from delivery.application import DeliveryApplication
from projections.reducers import apply
from projections.state import ProjectState, snapshot_document
from projections.store import UNREADABLE, ViewStore, snapshots_table

Progress = Callable[[int, int], None]
Locate = Callable[[str, int], int | None]


def _finding(problem: str, pid: str, version: int, position: int | None, message: str) -> dict[str, Any]:
    return {"problem": problem, "chain": "snapshots", "position": position, "project_id": pid,
            "version": version, "message": message}


def _differing(ours: dict[str, Any], theirs: Any) -> list[str]:
    """The top-level fields that differ (all of them when `theirs` is not an object)."""
    if not isinstance(theirs, dict):
        return ["*"]
    return sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))


def library_snapshots(app: DeliveryApplication, store: ViewStore) -> dict[str, list[tuple[int, str, bytes]]]:
    """Every stored aggregate snapshot: project id → [(version, topic, state)] in version order."""
    if app.snapshots is None:
        return {}
    name = app.snapshots.recorder.events_table_name  # type: ignore[attr-defined]
    if store.database.kind == "postgresql" and store.database.schema:
        name = f'"{store.database.schema}".{name}'
    found: dict[str, list[tuple[int, str, bytes]]] = {}
    with store.reader.connect() as conn:
        rows = conn.execute(text(f"SELECT originator_id, originator_version, topic, state FROM {name} "
                                 "ORDER BY originator_id, originator_version"))
        for oid, version, topic, state in rows:
            pid = str(oid if isinstance(oid, UUID) else UUID(str(oid)))
            found.setdefault(pid, []).append((int(version), str(topic), bytes(state)))
    return found


def view_snapshots(store: ViewStore) -> dict[str, list[tuple[int, str]]]:
    """Every stored view snapshot: project id → [(version, doc)] in version order."""
    s = snapshots_table
    found: dict[str, list[tuple[int, str]]] = {}
    with store.reader.connect() as conn:
        for pid, version, doc in conn.execute(select(s.c.project_id, s.c.version, s.c.doc)
                                              .order_by(s.c.project_id, s.c.version)):
            found.setdefault(str(pid), []).append((int(version), str(doc)))
    return found


def _events(app: DeliveryApplication, pid: str, upto: int) -> Iterator[Any]:
    yield from app.events.get(UUID(pid), lte=upto)


def check_library(
    app: DeliveryApplication, pid: str, snapshots: list[tuple[int, str, bytes]], locate: Locate,
) -> dict[str, Any] | None:
    """The first aggregate snapshot of a project that differs from its events folded to its version."""
    wanted = {version: (topic, state) for version, topic, state in snapshots}
    aggregate: Any = None
    seen = 0
    try:
        for event in _events(app, pid, max(wanted)):
            aggregate = project_aggregate(aggregate, [event])
            seen = int(event.originator_version)
            if seen not in wanted:
                continue
            topic, state = wanted.pop(seen)
            cls = getattr(type(aggregate), "Snapshot", None) or app.snapshot_class or Snapshot
            fresh = app.mapper.to_stored_event(cls.take(aggregate))
            ours, theirs = json.loads(fresh.state), _json(state)
            for both in (ours, theirs):
                if isinstance(both, dict):
                    both.pop("timestamp", None)  # when the snapshot was taken, not what it says
            if topic != fresh.topic or ours != theirs:
                fields = ["topic"] if topic != fresh.topic else _differing(ours.get("state", {}),
                                                                            (theirs or {}).get("state"))
                return _finding("snapshot", pid, seen, locate(pid, seen),
                                f"the stored snapshot of project {pid} at v{seen} differs from its events "
                                f"folded to v{seen} ({', '.join(fields)}): commands would decide on a "
                                "state the events never had")
    except UNREADABLE as exc:  # a store edited so the events no longer fold: say where, not a traceback
        return _unfolded(pid, seen, locate, exc)
    return _beyond("snapshot", "stored snapshot", pid, wanted)


def check_views(
    app: DeliveryApplication, pid: str, snapshots: list[tuple[int, str]], locate: Locate,
) -> dict[str, Any] | None:
    """The first view snapshot of a project that differs from its events folded to its version."""
    wanted = dict(snapshots)
    state = ProjectState()
    seen = 0
    try:
        for event in _events(app, pid, max(wanted)):
            apply(state, event)
            seen = int(event.originator_version)
            if seen not in wanted:
                continue
            ours, theirs = snapshot_document(state.dumps()), _document(wanted.pop(seen))
            if ours != theirs:
                fields = _differing(ours, theirs)
                return _finding("view_snapshot", pid, seen, locate(pid, seen),
                                f"the view snapshot of project {pid} at v{seen} differs from its events "
                                f"folded to v{seen} ({', '.join(fields)}): *as of* views would show it")
    except UNREADABLE as exc:  # as above: the events no longer fold
        return _unfolded(pid, seen, locate, exc)
    return _beyond("view_snapshot", "view snapshot", pid, wanted)


def _unfolded(pid: str, seen: int, locate: Locate, exc: BaseException) -> dict[str, Any]:
    return _finding("unreadable", pid, seen + 1, locate(pid, seen + 1),
                    f"project {pid} cannot be folded past v{seen}: {type(exc).__name__}: {exc}")


def _beyond(kind: str, noun: str, pid: str, wanted: dict[int, Any]) -> dict[str, Any] | None:
    """A snapshot left over once the events ran out: it stands for an event the store does not have."""
    if not wanted:
        return None
    version = min(wanted)
    return _finding(kind, pid, version, None,
                    f"the {noun} of project {pid} at v{version} stands for an event that is not in the store")


def check_snapshots(
    app: DeliveryApplication, store: ViewStore, locate: Locate, project_id: str | None = None,
    progress: Progress | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """How many snapshots were checked, and the first that does not match its events (None if all do)."""
    library, views = library_snapshots(app, store), view_snapshots(store)
    if project_id is not None:
        library = {k: v for k, v in library.items() if k == project_id}
        views = {k: v for k, v in views.items() if k == project_id}
    total = sum(map(len, library.values())) + sum(map(len, views.values()))
    done = 0
    for pid in sorted(set(library) | set(views)):
        bad = (check_library(app, pid, library[pid], locate) if pid in library else None) or (
            check_views(app, pid, views[pid], locate) if pid in views else None)
        if bad is not None:
            return done, bad
        done += len(library.get(pid, ())) + len(views.get(pid, ()))
        if progress is not None:
            progress(done, total)
    return done, None


def _document(value: str) -> Any:
    try:
        return snapshot_document(value)
    except ValueError:  # not JSON, or a line without its four fields
        return None


def _json(value: bytes | str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None
