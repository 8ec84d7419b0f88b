"""Checks of single input values; each failure names the field and the rule."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from delivery.errors import InvalidInput
from delivery.messages import msg

TITLE_MAX = 200
TEXT_MAX = 2000
NAME_MAX = 120


# The dates a person can mean: anything outside is a typo (0001, 9999) that no page, calendar or
# date arithmetic should have to carry. The API schema states the same range (api/schemas.py).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)

# Characters no store can keep or no page, export, calendar or terminal can show safely: NUL
# (PostgreSQL refuses it in text), the other C0 and the C1 controls, DEL, and lone surrogates (not
# encodable as UTF-8). Single-line text (names, titles, ids) refuses them all, tab and line breaks
# included; multi-line text (descriptions, notes, reasons, evidence) keeps tab and line breaks.
_SINGLE_LINE_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MULTI_LINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def storable(field: str, value: str, *, multiline: bool = False) -> str:
    """`value` unless it holds a character refused in such text; the error names the field and the rule."""
    found = (_MULTI_LINE_REFUSED if multiline else _SINGLE_LINE_REFUSED).search(value)
    if found is not None:
        raise InvalidInput(field, msg("rule_control_chars", char=f"U+{ord(found.group()):04X}"))
    return value


def text(field: str, value: object, *, max_len: int = TITLE_MAX, multiline: bool = False) -> str:
    """A required, non-blank string of at most `max_len` characters (surrounding blanks dropped).

    Single-line unless `multiline`, which keeps tab and line breaks (CR LF and CR become LF).
    """
    if not isinstance(value, str):
        raise InvalidInput(field, msg("rule_string"))
    storable(field, value, multiline=multiline)
    if multiline and "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    stripped = value.strip()
    if not stripped:
        raise InvalidInput(field, msg("rule_not_empty"))
    if len(stripped) > max_len:
        raise InvalidInput(field, msg("rule_max_chars", max=max_len))
    return stripped


def optional_text(field: str, value: object, *, max_len: int = TEXT_MAX, multiline: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and not value.strip():
        return ""
    return text(field, value, max_len=max_len, multiline=multiline)


def note(field: str, value: object) -> str:
    """A required multi-line text (a reason, evidence) of at most TEXT_MAX characters."""
    return text(field, value, max_len=TEXT_MAX, multiline=True)


def optional_note(field: str, value: object) -> str:
    """An optional multi-line text (a description, a note): blank is empty."""
    return optional_text(field, value, max_len=TEXT_MAX, multiline=True)


def number(field: str, value: object) -> float:
    """A finite real number; booleans are refused although Python counts them as ints."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(field, msg("rule_number"))
    result = float(value)
    if not math.isfinite(result):
        raise InvalidInput(field, msg("rule_finite_number"))
    return result


def integer(field: str, value: object, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, msg("rule_whole_number"))
    if not low <= value <= high:
        raise InvalidInput(field, msg("rule_between", low=low, high=high))
    return value


def money(field: str, value: object) -> Decimal:
    """An amount with at most two decimal places, as Decimal (never float)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(field, msg("rule_amount"))
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(field, msg("rule_amount")) from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        raise InvalidInput(field, msg("rule_amount_range"))
    cents = amount.quantize(Decimal("0.01"))
    # A float sent for a cent amount may carry a rounding error in its last digit (0.57 computed as
    # 57 * 0.01 is 0.5700000000000001): it is that amount. Anything further off has more decimals.
    if amount != cents and not (isinstance(value, float) and math.isclose(value, float(cents), rel_tol=1e-15)):
        raise InvalidInput(field, msg("rule_two_decimals"))
    return amount.quantize(Decimal("0.01"))


def day(field: str, value: object) -> date:
    """A calendar date between FIRST_DAY and LAST_DAY, as a date or in ISO 8601 form."""
    parsed: date | None = None
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = date.fromisoformat(value)
    if parsed is None:
        raise InvalidInput(field, msg("rule_iso_date"))
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise InvalidInput(field, msg("rule_between", low=FIRST_DAY.isoformat(), high=LAST_DAY.isoformat()))
    return parsed


def choice(field: str, value: object, options: Iterable[str]) -> str:
    allowed = tuple(options)
    if isinstance(value, str) and value in allowed:
        return value
    raise InvalidInput(field, msg("rule_one_of", options=list(allowed)))


def text_list(field: str, value: object, *, max_items: int = 50, max_len: int = TITLE_MAX) -> list[str]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(field, msg("rule_string_list"))
    if len(value) > max_items:
        raise InvalidInput(field, msg("rule_max_entries", max=max_items))
    return [text(f"{field}[{i}]", v, max_len=max_len) for i, v in enumerate(value)]
