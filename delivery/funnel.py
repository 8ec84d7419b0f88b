"""The business loop as a conversion funnel: expected rates in research, actual after launch."""

from __future__ import annotations

from dataclasses import dataclass

MIN_STEPS = 3
MAX_STEPS = 5


@dataclass
class FunnelStep:
    name: str
    # Percent of the previous step's users expected to reach this one (the first step: of visitors).
    expected_rate: float
    actual_rate: float | None = None
