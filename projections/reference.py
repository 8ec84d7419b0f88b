"""The forecast's reference class: slip histograms per template and stage, over every project, kept by addition.

Each project's header keeps its own completed milestones' slips by stage
(`ProjectHeader.slips`); a project of a template *contributes* those to its template's
rows, plus one to the template's project count once it has any. Applying a batch
writes only the difference between each touched project's contribution before and
after it (a few rows added to, whatever the number of projects), and a rebuild adds
each folded project's whole contribution. Reading a template's class is one query over
at most stages x distinct slips rows, never a scan of the projects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.engine import Connection

from projections.forecast import Reference
from projections.models import ProjectHeader
from projections.tables import ViewTables

# (template, stage, slip days); the stage "" with slip 0 counts projects.
Cell = tuple[str, str, int]
PROJECTS = ""


def contribution(header: ProjectHeader | None) -> dict[Cell, int]:
    """What one project adds to the reference class as its header stands."""
    if header is None or header.template is None:
        return {}
    cells: dict[Cell, int] = {}
    for stage, by_slip in header.slips.items():
        for slip, n in by_slip.items():
            if n:
                cells[(header.template, stage, slip)] = n
    if cells:
        cells[(header.template, PROJECTS, 0)] = 1
    return cells


def difference(before: Mapping[Cell, int], after: Mapping[Cell, int]) -> dict[Cell, int]:
    """`after` less `before`, cells that did not change left out."""
    cells = {cell: n - before.get(cell, 0) for cell, n in after.items()}
    cells.update({cell: -n for cell, n in before.items() if cell not in after})
    return {cell: n for cell, n in cells.items() if n}


def add(conn: Connection, tables: ViewTables, changes: Iterable[Mapping[Cell, int]]) -> None:
    """Add these changes to the stored class (in key order: concurrent writers never lock in a cycle)."""
    total: dict[Cell, int] = {}
    for change in changes:
        for cell, n in change.items():
            total[cell] = total.get(cell, 0) + n
    values = [{"template": t, "stage": s, "slip_days": d, "milestones": n}
              for (t, s, d), n in sorted(total.items()) if n]
    if values:
        conn.execute(tables.add_reference, values)


def load(conn: Connection, tables: ViewTables, template: str | None) -> Reference:
    """A template's reference class as stored (empty without a template)."""
    if template is None:
        return Reference.empty()
    by_stage: dict[str, dict[int, int]] = {}
    projects = 0
    for stage, slip, n in conn.execute(tables.select_reference, {"template": template}):
        if stage == PROJECTS:
            projects = int(n)
        else:
            by_stage.setdefault(stage, {})[int(slip)] = int(n)
    return Reference(by_stage, projects)


class InMemory:
    """The same class kept in a dict (bench/forecast.py replays histories through it)."""

    def __init__(self) -> None:
        self.cells: dict[Cell, int] = {}

    def add(self, change: Mapping[Cell, int]) -> None:
        for cell, n in change.items():
            self.cells[cell] = self.cells.get(cell, 0) + n

    def reference(self, template: str | None) -> Reference:
        if template is None:
            return Reference.empty()
        by_stage: dict[str, dict[int, int]] = {}
        projects = 0
        for (t, stage, slip), n in self.cells.items():
            if t != template or not n:
                continue
            if stage == PROJECTS:
                projects = n
            else:
                by_stage.setdefault(stage, {})[slip] = n
        return Reference(by_stage, projects)
