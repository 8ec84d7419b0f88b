"""A project's view state: a small header and keyed rows, the unit every reducer reads and writes.

The same `ProjectState` serves three ways of folding events:
- in memory, complete (a rebuild, an *as of* view): every row is present;
- live, partial (applying new events to the stored views): rows are fetched on
  demand by key, and only the rows an event touched are marked to be written back.

A reducer therefore never scans a collection: it reads and edits rows by key and
keeps counters in the header. Scans happen only when a read model is built from a
complete state (projections/views.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel, Field

from projections.models import (
    ChangeLogEntry,
    ChangeProposalView,
    ChecklistItem,
    CommentView,
    MilestoneRecord,
    ObservationRow,
    ProjectHeader,
    ReceiptRow,
    ReleaseView,
    ScopeRow,
    StageEntry,
)

# Collect young objects after this many allocations (Python's default is 700): folding builds many short-lived
# objects, and with the default, full collections walk the whole heap every few folds (pauses of ~100 ms were
# measured on *as of* reads). `delivery serve` and a rebuild both use these.
COLLECTOR_THRESHOLDS = (50_000, 20, 100)

# A view snapshot of a project every this many versions (rebuilds, an idle applier, *as of* reads leave them).
SNAPSHOT_EVERY = 100

# The kinds of row, each with its model. A row's key is unique within (project, kind).
ROW_TYPES: dict[str, type[BaseModel]] = {
    "stage": StageEntry,
    "scope": ScopeRow,
    "milestone": MilestoneRecord,
    "criterion": ChecklistItem,
    "change": ChangeLogEntry,
    "release": ReleaseView,
    "observation": ObservationRow,
    "proposal": ChangeProposalView,
    "comment": CommentView,
    "receipt": ReceiptRow,
}

Key = tuple[str, str]
# Fetches rows of one project by (kind, key); returns those found as {key: (seq, row)}.
Loader = Callable[[list[Key]], dict[Key, tuple[int, BaseModel]]]


class Rows:
    """A project's rows by (kind, key), each with its `seq` (the version that created it).

    Rows from a view snapshot may be kept as their JSON until first asked for (`raw`): an *as of*
    view decodes the rows its fold touches and the kinds its view lists, not the whole project.
    """

    def __init__(self, load: Loader | None = None, raw: dict[Key, str] | None = None,
                 seqs: dict[Key, int] | None = None) -> None:
        self._rows: dict[Key, BaseModel] = {}
        self._seq: dict[Key, int] = seqs if seqs is not None else {}
        self._raw: dict[Key, str] = raw if raw is not None else {}
        self._absent: set[Key] = set()
        self._load = load
        self.dirty: set[Key] = set()

    @property
    def complete(self) -> bool:
        return self._load is None

    def preload(self, found: dict[Key, tuple[int, BaseModel]], asked: Iterable[Key] = ()) -> None:
        """Rows fetched ahead (a batch's keys in one query); keys asked but not found are absent."""
        for key, (seq, row) in found.items():
            self._rows[key] = row
            self._seq[key] = seq
        self._absent.update(k for k in asked if k not in found)

    def _decode(self, k: Key) -> BaseModel | None:
        # A kept *as of* state is read by several requests at once: a row goes into `_rows` before it leaves
        # `_raw`, so a reader finds it in one or the other (two decoding it at once keep equal rows).
        text = self._raw.get(k)
        if text is None:
            return self._rows.get(k)
        row = self._rows[k] = ROW_TYPES[k[0]].model_validate_json(text)
        self._raw.pop(k, None)
        return row

    def get(self, kind: str, key: str) -> Any:
        k = (kind, key)
        row = self._rows.get(k)
        if row is None and self._raw:
            row = self._decode(k)
        if row is None and self._load is not None and k not in self._absent:
            found = self._load([k])
            if k in found:
                self._seq[k], self._rows[k] = found[k][0], found[k][1]
                row = found[k][1]
            else:
                self._absent.add(k)
        return row

    def edit(self, kind: str, key: str) -> Any:
        """A row to change in place; it will be written back."""
        row = self.get(kind, key)
        if row is None:
            raise KeyError(f"{kind} {key}")
        self.dirty.add((kind, key))
        return row

    def add(self, kind: str, key: str, seq: int, row: BaseModel) -> None:
        k = (kind, key)
        self._rows[k], self._seq[k] = row, seq
        if self._raw:
            self._raw.pop(k, None)
        self._absent.discard(k)
        self.dirty.add(k)

    def seq(self, kind: str, key: str) -> int:
        return self._seq[(kind, key)]

    def of(self, kind: str) -> list[Any]:
        """Every row of a kind in the order they were created (complete states only)."""
        assert self.complete, "only a complete state can be listed"
        keys = sorted((k for k in self._seq if k[0] == kind), key=self._seq.__getitem__)
        if self._raw:
            for k in keys:
                if k in self._raw:
                    self._decode(k)
        return [self._rows[k] for k in keys]

    def items(self) -> Iterator[tuple[Key, int, BaseModel]]:
        for key in list(self._raw):
            self._decode(key)
        for key, row in self._rows.items():
            yield key, self._seq[key], row

    def encoded(self, texts: dict[Key, str] | None = None) -> Iterator[tuple[Key, int, str]]:
        """Every row as its JSON (a row still undecoded as it came), for a view snapshot.

        `texts` holds rows already encoded that have not changed since (a rebuild keeps them from one
        snapshot of a project to the next, and for its rows at the end).
        """
        for key, seq in self._seq.items():
            text = self._raw.get(key)
            if text is None and texts is not None:
                text = texts.get(key)
            yield key, seq, text if text is not None else self._rows[key].model_dump_json()

    def changed(self) -> Iterator[tuple[Key, int, BaseModel]]:
        for key in self.dirty:
            yield key, self._seq[key], self._rows[key]


class ProjectState:
    """Header plus rows; `header` is None before the project's Created event."""

    def __init__(self, header: ProjectHeader | None = None, rows: Rows | None = None) -> None:
        self.header = header
        self.rows = rows if rows is not None else Rows()
        self.header_dirty = False
        # Set when a milestone's due date or completion changed: the portfolio's next milestone is recomputed.
        self.milestones_moved = False

    @property
    def h(self) -> ProjectHeader:
        assert self.header is not None, "a project's first event is Created"
        return self.header

    def clean(self) -> None:
        self.rows.dirty.clear()
        self.header_dirty = False
        self.milestones_moved = False

    # --------------------------------------------------------- snapshots

    def dumps(self, texts: dict[Key, str] | None = None) -> str:
        """The whole (complete) state as text, rows in creation order: a view snapshot.

        The header's JSON on the first line, then one line per row, `kind TAB seq TAB key TAB row JSON`
        (JSON holds no raw tab or newline), so `loads` splits it without decoding a row it is not asked
        for. A key with a tab or newline in it (none is made so) falls back to one JSON document.
        """
        assert self.header is not None and self.rows.complete
        rows = sorted(self.rows.encoded(texts), key=lambda r: (r[0][0], r[1]))
        if any("\t" in key or "\n" in key for (_kind, key), _seq, _text in rows):
            return self._document()
        lines = [self.header.model_dump_json()]
        lines += [f"{kind}\t{seq}\t{key}\t{text}" for (kind, key), seq, text in rows]
        return "\n".join(lines)

    def _document(self) -> str:
        assert self.header is not None
        kinds: dict[str, list[tuple[str, int, BaseModel]]] = {kind: [] for kind in ROW_TYPES}
        for (kind, key), seq, row in sorted(self.rows.items(), key=lambda r: (r[0][0], r[1])):
            kinds[kind].append((key, seq, row))
        return Snapshot(header=self.header, **kinds).model_dump_json()  # type: ignore[arg-type]

    @classmethod
    def loads(cls, text: str) -> ProjectState:
        """A state from `dumps`; rows are decoded when first used (either form: lines or one document)."""
        return cls.from_parts(parse_snapshot(text))

    @classmethod
    def from_parts(cls, parts: SnapshotParts) -> ProjectState:
        """A state of its own from a parsed snapshot (which stays as it is: it may be kept and used again)."""
        header, raw, seqs = parts
        state = cls(ProjectHeader.model_validate_json(header), Rows(raw=dict(raw), seqs=dict(seqs)))
        state.clean()
        return state


# How a view snapshot in one JSON document begins (`Snapshot`'s first field); the line form begins with the
# header's own JSON.
DOCUMENT = '{"header":'

# A view snapshot split but not decoded: the header's JSON, each row's JSON and each row's seq by (kind, key).
SnapshotParts = tuple[str, dict[Key, str], dict[Key, int]]


def parse_snapshot(text: str) -> SnapshotParts:
    """Split a view snapshot into its header and rows, decoding nothing (the line form of `dumps`).

    One JSON document (an older snapshot, or a key that cannot go on a line) is decoded and
    each row encoded alone, into the same parts.
    """
    raw: dict[Key, str] = {}
    seqs: dict[Key, int] = {}
    if text.startswith(DOCUMENT):
        snap = Snapshot.model_validate_json(text)
        for kind in ROW_TYPES:
            for key, seq, row in getattr(snap, kind):
                raw[(kind, key)], seqs[(kind, key)] = row.model_dump_json(), seq
        return snap.header.model_dump_json(), raw, seqs
    lines = text.split("\n")
    for line in lines[1:]:
        kind, seq, key, body = line.split("\t", 3)
        k = (kind, key)
        raw[k], seqs[k] = body, int(seq)
    return lines[0], raw, seqs


def snapshot_document(text: str) -> dict[str, Any]:
    """A view snapshot (either form) as plain JSON data: the header and each kind's [key, seq, row]."""
    if text.startswith(DOCUMENT):
        found: dict[str, Any] = json.loads(text)
        return found
    header, raw, seqs = parse_snapshot(text)
    doc: dict[str, Any] = {"header": json.loads(header), **{kind: [] for kind in ROW_TYPES}}
    for (kind, key), body in raw.items():
        doc.setdefault(kind, []).append([key, seqs[(kind, key)], json.loads(body)])
    return doc


class Snapshot(BaseModel):
    """A view snapshot's shape: the header and each kind's rows as (key, seq, row)."""

    header: ProjectHeader
    stage: list[tuple[str, int, StageEntry]] = Field(default_factory=list)
    scope: list[tuple[str, int, ScopeRow]] = Field(default_factory=list)
    milestone: list[tuple[str, int, MilestoneRecord]] = Field(default_factory=list)
    criterion: list[tuple[str, int, ChecklistItem]] = Field(default_factory=list)
    change: list[tuple[str, int, ChangeLogEntry]] = Field(default_factory=list)
    release: list[tuple[str, int, ReleaseView]] = Field(default_factory=list)
    observation: list[tuple[str, int, ObservationRow]] = Field(default_factory=list)
    proposal: list[tuple[str, int, ChangeProposalView]] = Field(default_factory=list)
    comment: list[tuple[str, int, CommentView]] = Field(default_factory=list)
    receipt: list[tuple[str, int, ReceiptRow]] = Field(default_factory=list)
