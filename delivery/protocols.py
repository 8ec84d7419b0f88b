"""Python 3.11's `isinstance(x, SomeRuntimeProtocol)` made cheap: the library asks it of every event it saves or loads.

On 3.11 each such check walks the protocol's whole MRO to list its members, twice when the
answer is no (`typing._get_protocol_attrs`); 3.12 keeps that list on the class. At 32
connections that walk was ~8 % of a request thread's CPU per command (`bench/cpu.py`). A
protocol's members are fixed when its class is made, so the list is kept per class here,
the way 3.12 does. Nothing changes on 3.12 and later.
"""

from __future__ import annotations

import sys
import typing
import weakref
from typing import Any

_members: weakref.WeakKeyDictionary[type, frozenset[str]] = weakref.WeakKeyDictionary()
_methods_only: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def keep_protocol_members() -> None:
    """Install the kept lists in `typing` (once per process; a no-op on Python 3.12 and later)."""
    if sys.version_info >= (3, 12) or getattr(typing, "_delivery_kept_members", False):
        return
    listed: Any = typing._get_protocol_attrs  # type: ignore[attr-defined]

    def members(cls: type) -> frozenset[str]:
        try:
            return _members[cls]
        except KeyError:
            found = _members[cls] = frozenset(listed(cls))
            return found

    def methods_only(cls: type) -> bool:
        try:
            return _methods_only[cls]
        except KeyError:
            found = _methods_only[cls] = all(callable(getattr(cls, attr, None)) for attr in members(cls))
            return found

    typing._get_protocol_attrs = members  # type: ignore[attr-defined]
    typing._is_callable_members_only = methods_only  # type: ignore[attr-defined]
    typing._delivery_kept_members = True  # type: ignore[attr-defined]
