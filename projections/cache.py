"""Read models kept in memory until the next event of their project (or the next day).

Entries are dropped by the one who knows a project changed: the in-process applier,
or on PostgreSQL the views' NOTIFY (projections/applier.py). A value computed while
an invalidation went by is not kept (the epoch moved), so a stale answer is never stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

# Per project and view, and per portfolio query: enough for a busy day, bounded in memory.
MAX_ENTRIES = 4096


class ViewCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()
        self._owned: dict[str, set[Hashable]] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self.epoch = 0
        self.enabled = False

    def get(self, owner: str, key: Hashable) -> Any:
        if not self.enabled:
            return None
        with self._lock:
            value = self._entries.get((owner, key))
            if value is not None:
                self._entries.move_to_end((owner, key))
            return value

    def get_or_make(self, owner: str, key: Hashable, make: Callable[[], T], epoch: int | None = None) -> T:
        """The kept value, or `make()` kept for next time (unless the views moved meanwhile).

        A value made from another kept value (a view from a project's state) passes the
        epoch read before that one was looked up: were the state loaded before an event
        and the view made after its invalidation, the view would otherwise be kept stale.
        """
        if epoch is None:
            epoch = self.epoch
        found = self.get(owner, key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        value = make()
        self.put(owner, key, value, epoch)
        return value

    def put(self, owner: str, key: Hashable, value: Any, epoch: int) -> None:
        """Keep `value`, computed when the epoch was `epoch`, unless an invalidation went by since."""
        if not self.enabled:
            return
        with self._lock:
            if epoch == self.epoch:
                self._entries[(owner, key)] = value
                self._entries.move_to_end((owner, key))
                self._owned.setdefault(owner, set()).add(key)
                while len(self._entries) > self._max:
                    (old_owner, old_key), _ = self._entries.popitem(last=False)
                    self._owned.get(old_owner, set()).discard(old_key)

    def drop(self, projects: set[str] | None) -> None:
        """Forget what these projects (None: every project) and every portfolio page showed."""
        with self._lock:
            self.epoch += 1
            if projects is None:
                self._entries.clear()
                self._owned.clear()
                return
            for owner in (*projects, "*"):
                for key in self._owned.pop(owner, ()):
                    self._entries.pop((owner, key), None)
