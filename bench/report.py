"""Figures: one measured value, its same-run baseline, the ratio, the target; printed as a table and saved as JSON.

Usage: imported by the benches; `python bench/report.py [bench/results/latest.json]` prints a saved run again.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """`value` (the subject) against `baseline`; the target applies to `ratio`, or to `value` when `on_value`."""

    key: str
    label: str
    unit: str
    value: float | None
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""  # e.g. ">= 0.7", "<= 50"
    on_value: bool = False
    samples: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def ok(self) -> bool | None:
        if not self.target:
            return None
        measured = self.value if self.on_value else self.ratio
        if measured is None:
            return None
        op, _, number = self.target.partition(" ")
        limit = float(number)
        return {">=": measured >= limit, "<=": measured <= limit, "<": measured < limit, ">": measured > limit}[op]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "ok": self.ok}


def failed(key: str, label: str, unit: str, why: str, target: str = "", on_value: bool = False) -> Figure:
    return Figure(key, label, unit, None, target=target, on_value=on_value, note=f"FAILED: {why}")


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("ms", "MB", "x"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"


def table(store: str, figures: list[Figure]) -> str:
    rows = [("figure", "measured", "baseline", "ratio", "target", "")]
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}"
        if f.ratio is not None and not f.on_value and f.target and ratio == f"{float(f.target.split()[1]):.2f}":
            ratio = f"{f.ratio:.3f}"  # 0.6996 is not 0.70 when the target is >= 0.7
        verdict = {True: "ok", False: "MISS", None: ""}[f.ok]
        target = f"{'value' if f.on_value else 'ratio'} {f.target}" if f.target else ""
        rows.append((f.label, _number(f.value, f.unit), _number(f.baseline, f.unit), ratio, target, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"== {store}"]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths,
                                                                                               strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.label}: {f.note}" for f in figures if f.note]
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version(),
            "platform": platform.platform()}


def write(path: Path, mode: str, settings: dict[str, Any], stores: dict[str, list[Figure]]) -> None:
    dirty = bool(_git("status", "--porcelain", "--", "delivery", "projections", "api", "web"))
    payload = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "app_tree_dirty": dirty,  # uncommitted changes under delivery/ projections/ api/ web/ when measured
        "pythonpath": os.environ.get("PYTHONPATH") or None,  # set: the code measured may not be this tree's
        "machine": machine(),
        "settings": settings,
        "stores": {store: [f.as_json() for f in figures] for store, figures in stores.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0]) if args else ROOT / "bench" / "results" / "latest.json"
    payload = json.loads(path.read_text())
    print(f"{payload['mode']} run, {payload['when']}, commit {payload['commit']}"
          f"{' (+ uncommitted app changes)' if payload.get('app_tree_dirty') else ''}, settings {payload['settings']}")
    keys = set(Figure.__dataclass_fields__)
    for store, raw in payload["stores"].items():
        print(table(store, [Figure(**{k: v for k, v in f.items() if k in keys}) for f in raw]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
