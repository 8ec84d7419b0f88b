"""The read side's kept views: never kept across an invalidation that went by while they were made."""

from __future__ import annotations

from projections.cache import ViewCache
from projections.store import KeptSnapshots


def _cache() -> ViewCache:
    cache = ViewCache()
    cache.enabled = True
    return cache


def test_a_value_is_kept_until_its_project_moves() -> None:
    cache = _cache()
    assert cache.get_or_make("p", "view", lambda: "v1") == "v1"
    assert cache.get_or_make("p", "view", lambda: "v2") == "v1"
    cache.drop({"q"})
    assert cache.get("p", "view") == "v1"
    cache.drop({"p"})
    assert cache.get("p", "view") is None


def test_a_value_made_while_its_project_moved_is_not_kept() -> None:
    cache = _cache()

    def make() -> str:
        cache.drop({"p"})  # an event applied while the value was being made
        return "stale"

    assert cache.get_or_make("p", "view", make) == "stale"
    assert cache.get("p", "view") is None


def test_a_view_made_from_state_read_before_an_event_is_not_kept() -> None:
    # The race a read of a project's milestones ran into: the state is loaded, an event is
    # applied (the state's entry dropped), then the view is made from the old state.
    cache = _cache()
    epoch = cache.epoch
    state = cache.get_or_make("p", "state", lambda: "state before the event", epoch)
    cache.drop({"p"})
    view = cache.get_or_make("p", "milestones", lambda: f"view of {state}", epoch)
    assert view == "view of state before the event"  # answered once, as the read began before the event
    assert cache.get("p", "milestones") is None  # but never kept for the next reader
    assert cache.get("p", "state") is None


def test_portfolio_pages_go_with_any_project() -> None:
    cache = _cache()
    cache.get_or_make("*", ("portfolio", 1), lambda: "page")
    cache.drop({"p"})
    assert cache.get("*", ("portfolio", 1)) is None


def test_kept_snapshots_let_the_least_recently_used_go_beyond_their_bytes() -> None:
    kept = KeptSnapshots(max_bytes=100)
    parts = ("{}", {}, {})
    kept.put(("p", 100), parts, 40)
    kept.put(("p", 200), parts, 40)
    assert kept.get(("p", 100)) is parts  # now the most recently used
    kept.put(("p", 300), parts, 40)  # 120 bytes: the least recently used goes
    assert kept.get(("p", 200)) is None
    assert kept.get(("p", 100)) is parts and kept.get(("p", 300)) is parts
    kept.put(("q", 100), parts, 101)  # larger than the whole budget: never kept, nothing else goes
    assert kept.get(("q", 100)) is None and kept.get(("p", 300)) is parts
