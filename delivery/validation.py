"""Checks of single input values; each failure names the field and the rule."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation

from delivery.errors import InvalidInput

TITLE_MAX = 200
TEXT_MAX = 2000
NAME_MAX = 120


# Characters no store can keep or no page, export or calendar can show: NUL (PostgreSQL refuses it
# in text), the other C0 controls but tab, line feed and carriage return, DEL, and lone surrogates
# (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def storable(field: str, value: str) -> str:
    """`value` unless it holds a character the stores cannot keep; the error names the field and the rule."""
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise InvalidInput(
            field, f"must not contain control characters or lone surrogates (found U+{ord(found.group()):04X})"
        )
    return value


def text(field: str, value: object, *, max_len: int = TITLE_MAX) -> str:
    """A required, non-blank string of at most `max_len` characters (surrounding blanks dropped)."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    storable(field, value)
    stripped = value.strip()
    if not stripped:
        raise InvalidInput(field, "must not be empty")
    if len(stripped) > max_len:
        raise InvalidInput(field, f"must be at most {max_len} characters")
    return stripped


def optional_text(field: str, value: object, *, max_len: int = TEXT_MAX) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and not value.strip():
        return ""
    return text(field, value, max_len=max_len)


def number(field: str, value: object) -> float:
    """A finite real number; booleans are refused although Python counts them as ints."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(field, "must be a number")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidInput(field, "must be a finite number")
    return result


def integer(field: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be a whole number")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}")
    return value


def money(field: str, value: object) -> Decimal:
    """An amount with at most two decimal places, as Decimal (never float)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(field, "must be an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(field, "must be an amount") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        raise InvalidInput(field, "must be a finite amount below 10^12")
    cents = amount.quantize(Decimal("0.01"))
    # A float sent for a cent amount may carry a rounding error in its last digit (0.57 computed as
    # 57 * 0.01 is 0.5700000000000001): it is that amount. Anything further off has more decimals.
    if amount != cents and not (isinstance(value, float) and math.isclose(value, float(cents), rel_tol=1e-15)):
        raise InvalidInput(field, "must have at most two decimal places")
    return amount.quantize(Decimal("0.01"))


def day(field: str, value: object) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(field, "must be a date in ISO 8601 form (YYYY-MM-DD)")


def choice(field: str, value: object, options: Iterable[str]) -> str:
    allowed = tuple(options)
    if isinstance(value, str) and value in allowed:
        return value
    raise InvalidInput(field, f"must be one of {', '.join(allowed)}")


def text_list(field: str, value: object, *, max_items: int = 50, max_len: int = TITLE_MAX) -> list[str]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(field, "must be a list of strings")
    if len(value) > max_items:
        raise InvalidInput(field, f"must have at most {max_items} entries")
    return [text(f"{field}[{i}]", v, max_len=max_len) for i, v in enumerate(value)]
