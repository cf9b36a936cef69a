"""Item co-occurrence rows and cosine neighbours, on synthetic data with a known answer.

The checkerboard: items fall into disjoint groups and every user engages with
all the items of exactly one group, so an item's neighbours must be exactly
the other items of its group, and nothing else.
"""

from __future__ import annotations

import itertools
import math

import pytest

from engine.events import Event
from engine.profiles import ItemFacts, PairUpdate, Profile, ProfileLimits, apply_event
from engine.similarity import (
    ItemRow,
    RowIncrement,
    RowLimits,
    apply_increment,
    row_increments,
    top_neighbours,
)

HOUR = 3600.0
GROUPS = {g: [f"g{g}-i{i}" for i in range(4)] for g in range(3)}
USERS_PER_GROUP = 5


class Rows:
    """The item side fed the way the stream feeds it: one increment per input offset."""

    def __init__(self) -> None:
        self.rows: dict[str, ItemRow] = {}
        self.limits = RowLimits()
        self._offsets = itertools.count()

    def feed(self, update: PairUpdate | None) -> None:
        if update is None:
            return
        for item, increment in row_increments(update).items():
            self.rows[item], _ = apply_increment(
                self.rows.get(item), item, increment, next(self._offsets), self.limits
            )

    def weight_of(self, item: str) -> float | None:
        row = self.rows.get(item)
        return row.weight if row else None

    def neighbours(self, item: str, k: int = 50) -> list[tuple[str, float]]:
        return top_neighbours(self.rows[item], self.weight_of, k)


def checkerboard(rows: Rows) -> None:
    ids = itertools.count()
    for group, items in GROUPS.items():
        for u in range(USERS_PER_GROUP):
            profile: Profile | None = None
            for ts, item in enumerate(items):
                event = Event(f"e{next(ids)}", f"u{group}-{u}", item, "view", float(ts))
                profile, pairs = apply_event(profile, event, ItemFacts(), ProfileLimits())
                rows.feed(pairs)


@pytest.fixture
def board() -> Rows:
    rows = Rows()
    checkerboard(rows)
    return rows


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_neighbours_of_an_item_are_exactly_its_group(board: Rows, group: int) -> None:
    for item in GROUPS[group]:
        others = {i for i in GROUPS[group] if i != item}
        assert {j for j, _ in board.neighbours(item)} == others


def test_on_the_checkerboard_every_pair_of_a_group_is_fully_similar(board: Rows) -> None:
    for items in GROUPS.values():
        for item in items:
            assert [s for _, s in board.neighbours(item)] == [1.0] * (len(items) - 1)


def test_an_item_is_never_its_own_neighbour(board: Rows) -> None:
    for item, row in board.rows.items():
        assert item not in row.pairs


def test_cosine_is_bounded_between_zero_and_one_and_sorted_best_first() -> None:
    rows = Rows()
    ids = itertools.count()
    items = [f"i{n}" for n in range(8)]
    kinds = ["view", "click", "add_to_cart", "purchase"]
    for u in range(20):
        profile: Profile | None = None
        for step in range(12):
            item = items[(u * 3 + step * (u % 5 + 1)) % len(items)]
            kind = kinds[(u + step) % len(kinds)]
            event = Event(f"e{next(ids)}", f"u{u}", item, kind, float(step))
            profile, pairs = apply_event(profile, event, ItemFacts(), ProfileLimits())
            rows.feed(pairs)
    for item in rows.rows:
        scores = [s for _, s in rows.neighbours(item)]
        assert all(0.0 < s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)


def test_items_seen_together_more_often_are_more_similar() -> None:
    rows = Rows()
    # "a" is seen with "b" by three users and with "c" by one.
    for partner, users in [("b", 3), ("c", 1)]:
        for _ in range(users):
            rows.feed(PairUpdate("a", 1.0, (), 0.0))
            rows.feed(PairUpdate(partner, 1.0, (("a", 1.0),), 0.0))
    assert [j for j, _ in rows.neighbours("a")] == ["b", "c"]
    assert rows.neighbours("a")[0][1] == pytest.approx(3 / math.sqrt(4 * 3), abs=1e-6)


def test_top_neighbours_returns_at_most_k() -> None:
    rows = Rows()
    checkerboard(rows)
    assert len(rows.neighbours("g0-i0", k=2)) == 2


def test_an_item_without_weight_has_no_neighbours() -> None:
    row, _ = apply_increment(None, "b", RowIncrement(0.0, {"a": 1.0}, 0.0), 0, RowLimits())
    assert top_neighbours(row, lambda _: None, 5) == []


# -- increments ---------------------------------------------------------------


def test_an_interaction_updates_the_item_and_each_partner_symmetrically() -> None:
    increments = row_increments(PairUpdate("b", 8.0, (("a", 1.0), ("c", 4.0)), 5.0))
    assert increments == {
        "b": RowIncrement(8.0, {"a": 1.0, "c": 4.0}, 5.0),
        "a": RowIncrement(0.0, {"b": 1.0}, 5.0),
        "c": RowIncrement(0.0, {"b": 4.0}, 5.0),
    }


def test_a_pair_counts_the_weaker_of_the_two_interactions() -> None:
    increments = row_increments(PairUpdate("b", 2.0, (("a", 8.0),), 0.0))
    assert increments["b"].pairs == {"a": 2.0}


@pytest.mark.parametrize("offset", [7, 3])
def test_a_redelivered_increment_changes_nothing(offset: int) -> None:
    increment = RowIncrement(2.0, {"b": 1.0}, 10.0)
    row, applied = apply_increment(None, "a", increment, 7, RowLimits())
    assert applied
    before = row.to_dict()
    row, applied = apply_increment(row, "a", increment, offset, RowLimits())
    assert not applied
    assert row.to_dict() == before


def test_a_later_offset_is_applied() -> None:
    increment = RowIncrement(2.0, {"b": 1.0}, 10.0)
    row, _ = apply_increment(None, "a", increment, 7, RowLimits())
    row, applied = apply_increment(row, "a", increment, 8, RowLimits())
    assert applied
    assert (row.weight, row.pairs, row.applied_offset) == (4.0, {"b": 2.0}, 8)


def test_pair_lists_are_bounded_by_max_pairs_keeping_the_strongest() -> None:
    limits = RowLimits(max_pairs=3)
    row = None
    for offset, (partner, weight) in enumerate([("a", 1.0), ("b", 5.0), ("c", 2.0), ("d", 4.0),
                                                ("e", 3.0)]):
        row, _ = apply_increment(row, "x", RowIncrement(1.0, {partner: weight}, 0.0), offset,
                                 limits)
    assert row is not None
    assert row.pairs == {"b": 5.0, "d": 4.0, "e": 3.0}


def test_a_row_survives_a_round_trip_through_its_dict() -> None:
    row, _ = apply_increment(None, "a", RowIncrement(2.0, {"b": 1.0}, 10.0), 0, RowLimits())
    assert ItemRow.from_dict(row.to_dict()) == row


# -- popularity ---------------------------------------------------------------


def popularity_after(*gains_at: tuple[float, float]) -> ItemRow:
    row = None
    for offset, (gain, ts) in enumerate(gains_at):
        row, _ = apply_increment(row, "a", RowIncrement(gain, {}, ts), offset,
                                 RowLimits(half_life=HOUR))
    assert row is not None
    return row


def test_popularity_halves_every_half_life_of_event_time() -> None:
    row = popularity_after((4.0, 0.0), (1.0, HOUR))
    assert row.popularity == pytest.approx(3.0)
    assert row.popularity_ts == HOUR


def test_popularity_does_not_depend_on_the_order_increments_arrive_in() -> None:
    in_order = popularity_after((4.0, 0.0), (1.0, HOUR), (2.0, 3 * HOUR))
    shuffled = popularity_after((2.0, 3 * HOUR), (4.0, 0.0), (1.0, HOUR))
    assert shuffled.popularity == pytest.approx(in_order.popularity)
    assert shuffled.popularity_ts == in_order.popularity_ts == 3 * HOUR


def test_the_popularity_key_orders_items_as_their_popularity_at_a_common_time() -> None:
    old_hit = popularity_after((8.0, 0.0))  # worth 8 / 2**4 = 0.5 four hours later
    fresh = popularity_after((1.0, 4 * HOUR))
    assert fresh.popularity_key(HOUR) > old_hit.popularity_key(HOUR)
    big_old_hit = popularity_after((20.0, 0.0))  # worth 1.25 four hours later
    assert big_old_hit.popularity_key(HOUR) > fresh.popularity_key(HOUR)


def test_an_item_never_interacted_with_has_the_lowest_popularity_key() -> None:
    assert ItemRow("a").popularity_key(HOUR) == -math.inf
