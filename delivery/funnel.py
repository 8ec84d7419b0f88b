"""The business loop as a conversion funnel: expected rates in research, actual after launch."""

from __future__ import annotations

from dataclasses import dataclass

MIN_STEPS = 3
MAX_STEPS = 5
# One unit everywhere: percent. A funnel whose every rate is at most 1 was written as fractions (0.3 for 30%):
# no real loop converts at most 1% at every step, so it is refused rather than silently read as 0.3%. Each
# rate is a fine percentage alone: refused together (conflicting_input, 409 in the API; rule_fractions).


@dataclass
class FunnelStep:
    name: str
    # Percent of the previous step's users expected to reach this one (the first step: of visitors).
    expected_rate: float
    actual_rate: float | None = None
