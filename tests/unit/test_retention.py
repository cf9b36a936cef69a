"""The memory budget: the least recently active keys are evicted first, never others' keys."""

from __future__ import annotations

from engine.retention import RecencyIndex


def test_an_unlimited_budget_never_evicts() -> None:
    index = RecencyIndex(budget=0)
    for n in range(1000):
        index.touch(f"u{n}", 0)
    assert index.evictions() == [] and len(index) == 1000


def test_the_least_recently_active_go_first_and_activity_renews_a_key() -> None:
    index = RecencyIndex(budget=3)
    for user in ("a", "b", "c", "a", "d", "e"):
        index.touch(user, 1)
    assert index.evictions() == [("b", 1), ("c", 1)]
    assert [u for u in ("a", "d", "e") if u in index] == ["a", "d", "e"]


def test_keys_of_revoked_partitions_are_forgotten_not_evicted() -> None:
    index = RecencyIndex(budget=1)
    index.touch("mine", 0)
    index.touch("moved", 3)
    index.drop_partitions([3])
    assert index.evictions() == [] and "moved" not in index


def test_recovered_keys_queue_behind_the_active_ones_oldest_first() -> None:
    index = RecencyIndex(budget=2)
    index.touch("live", 0)
    index.adopt([("new", 0, 200.0), ("old", 0, 100.0), ("live", 0, 1.0)])
    assert index.evictions() == [("old", 0)]
    assert "live" in index and "new" in index


def test_a_removed_key_is_not_evicted_later() -> None:
    index = RecencyIndex(budget=1)
    index.touch("gone", 0)
    index.remove("gone")
    index.touch("kept", 0)
    assert index.evictions() == []
