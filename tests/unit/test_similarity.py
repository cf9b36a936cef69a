"""Item co-occurrence rows and their neighbours, on synthetic data with a known answer.

The checkerboard: items fall into disjoint groups and every user engages with
all the items of exactly one group, so an item's neighbours must be exactly
the other items of its group, and nothing else, whatever the normalisation.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import Event
from engine.profiles import ItemFacts, PairUpdate, Profile, ProfileLimits, apply_event
from engine.similarity import (
    SIMILARITIES,
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

    def __init__(self, limits: RowLimits | None = None) -> None:
        self.rows: dict[str, ItemRow] = {}
        self.limits = limits or RowLimits()
        self._offsets = itertools.count()

    def feed(self, update: PairUpdate | None) -> None:
        if update is None:
            return
        for item, increment in row_increments(update).items():
            self.rows[item], _ = apply_increment(
                self.rows.get(item), item, increment, next(self._offsets), self.limits
            )

    def view(self, user: str, *items: str, ts: float = 0.0, kind: str = "view") -> None:
        """One user's interactions, through the profile update as the stream does it."""
        profile = self.profiles.get(user)
        for item in items:
            event = Event(f"e{next(self._offsets)}", user, item, kind, ts)
            profile, pairs = apply_event(profile, event, ItemFacts(), ProfileLimits())
            self.feed(pairs)
        assert profile is not None
        self.profiles[user] = profile

    def buy(self, user: str, *items: str, ts: float = 0.0) -> None:
        self.view(user, *items, ts=ts, kind="purchase")

    @property
    def profiles(self) -> dict[str, Profile]:
        return self.__dict__.setdefault("_profiles", {})

    @property
    def weights(self) -> dict[str, float]:
        """The rows' weights as the world would have them published."""
        return {item: row.weight for item, row in self.rows.items()}

    @property
    def weight_times(self) -> dict[str, float]:
        return {item: row.pair_ts for item, row in self.rows.items()}

    def neighbours(self, item: str, k: int = 50) -> list[tuple[str, float]]:
        return top_neighbours(self.rows[item], self.weights, k, self.limits, self.weight_times)

    def bought(self, item: str, k: int = 50) -> list[tuple[str, float]]:
        return top_neighbours(self.rows[item], self.weights, k, self.limits, self.weight_times,
                              bought=True)

    def summary(self, item: str) -> dict[str, object]:
        return self.rows[item].summary(self.weights, 10, self.limits, self.weight_times)


def checkerboard(rows: Rows) -> None:
    ids = itertools.count()
    for group, items in GROUPS.items():
        for u in range(USERS_PER_GROUP):
            profile: Profile | None = None
            for ts, item in enumerate(items):
                event = Event(f"e{next(ids)}", f"u{group}-{u}", item, "view", float(ts))
                profile, pairs = apply_event(profile, event, ItemFacts(), ProfileLimits())
                rows.feed(pairs)


@pytest.fixture(params=SIMILARITIES)
def board(request: pytest.FixtureRequest) -> Rows:
    rows = Rows(RowLimits(similarity=request.param))
    checkerboard(rows)
    return rows


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_neighbours_of_an_item_are_exactly_its_group(board: Rows, group: int) -> None:
    for item in GROUPS[group]:
        others = {i for i in GROUPS[group] if i != item}
        assert {j for j, _ in board.neighbours(item)} == others


@pytest.mark.parametrize(
    ("similarity", "alpha", "expected"),
    [("cosine", 0.5, 1.0), ("jaccard", 0.5, 1.0), ("conditional", 0.0, 1.0),
     # every item has weight 5 (five users viewed it): 5 / (5 * 5 ** alpha)
     ("conditional", 0.5, round(5**-0.5, 6)), ("conditional", 1.0, 0.2)],
)
def test_on_the_checkerboard_every_pair_of_a_group_is_equally_similar(
    similarity: str, alpha: float, expected: float
) -> None:
    rows = Rows(RowLimits(similarity=similarity, alpha=alpha))
    checkerboard(rows)
    for items in GROUPS.values():
        for item in items:
            assert [s for _, s in rows.neighbours(item)] == [expected] * (len(items) - 1)


def test_an_item_is_never_its_own_neighbour(board: Rows) -> None:
    for item, row in board.rows.items():
        assert item not in row.pairs


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_scores_are_bounded_between_zero_and_one_and_sorted_best_first(similarity: str) -> None:
    rows = Rows(RowLimits(similarity=similarity, alpha=0.3))
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
        for scores in ([s for _, s in rows.neighbours(item)], [s for _, s in rows.bought(item)]):
            assert all(0.0 < s <= 1.0 for s in scores)
            assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("similarity", "b_score"),
    [("cosine", 3 / math.sqrt(4 * 3)), ("jaccard", 3 / (4 + 3 - 3)),
     ("conditional", 3 / (4 * 3**0.25))],  # the default's alpha: 0.25
)
def test_items_seen_together_more_often_are_more_similar(similarity: str, b_score: float) -> None:
    rows = Rows(RowLimits(similarity=similarity))
    # "a" is seen with "b" by three users and with "c" by one.
    for partner, users in [("b", 3), ("c", 1)]:
        for _ in range(users):
            rows.feed(PairUpdate("a", 1.0, (), 0.0))
            rows.feed(PairUpdate(partner, 1.0, (("a", 1.0),), 0.0))
    assert [j for j, _ in rows.neighbours("a")] == ["b", "c"]
    assert rows.neighbours("a")[0][1] == pytest.approx(b_score, abs=1e-6)


def test_top_neighbours_returns_at_most_k() -> None:
    rows = Rows()
    checkerboard(rows)
    assert len(rows.neighbours("g0-i0", k=2)) == 2


def test_an_item_without_weight_has_no_neighbours() -> None:
    row, _ = apply_increment(None, "b", RowIncrement(0.0, {"a": 1.0}, 0.0), 0, RowLimits())
    assert top_neighbours(row, {}, 5) == []


# -- the normalisations, known answers -----------------------------------------

#: "a" (weight 4) was seen with the hit "b" (weight 30) three times and with
#: the rarity "c" (weight 1) once.
HIT_AND_RARITY = ItemRow("a", weight=4.0, pairs={"b": 3.0, "c": 1.0})
WEIGHTS = {"b": 30.0, "c": 1.0}


@pytest.mark.parametrize(
    ("similarity", "alpha", "expected"),
    [
        ("cosine", 0.5, [("c", 1 / math.sqrt(4 * 1)), ("b", 3 / math.sqrt(4 * 30))]),
        ("jaccard", 0.5, [("c", 1 / (4 + 1 - 1)), ("b", 3 / (4 + 30 - 3))]),
        # P(j | a): the hit first; the exponent damps its popularity until it is last
        ("conditional", 0.0, [("b", 3 / 4), ("c", 1 / 4)]),
        ("conditional", 0.25, [("b", 3 / (4 * 30**0.25)), ("c", 1 / 4)]),
        ("conditional", 0.5, [("c", 1 / 4), ("b", 3 / (4 * 30**0.5))]),
        ("conditional", 1.0, [("c", 1 / 4), ("b", 3 / (4 * 30))]),
    ],
)
def test_each_normalisation_scores_a_hit_and_a_rarity_as_its_formula_says(
    similarity: str, alpha: float, expected: list[tuple[str, float]]
) -> None:
    limits = RowLimits(similarity=similarity, alpha=alpha)
    found = top_neighbours(HIT_AND_RARITY, WEIGHTS, 5, limits)
    assert [j for j, _ in found] == [j for j, _ in expected]
    assert [s for _, s in found] == [pytest.approx(s, abs=1e-6) for _, s in expected]


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_an_unknown_neighbour_weighs_what_it_was_seen_with(similarity: str) -> None:
    # nothing published for "c" yet: its weight is taken to be the pair weight, 1
    known = top_neighbours(HIT_AND_RARITY, WEIGHTS, 5, RowLimits(similarity=similarity))
    unknown = top_neighbours(HIT_AND_RARITY, {"b": WEIGHTS["b"]}, 5,
                             RowLimits(similarity=similarity))
    assert unknown == known


def reference_score(similarity: str, alpha: float, c: float, w_i: float, w_j: float) -> float:
    """Each normalisation as written in the module's documentation, plainly."""
    c = min(c, w_i, w_j)
    if similarity == "cosine":
        return min(1.0, c / math.sqrt(w_i * w_j))
    if similarity == "jaccard":
        return min(1.0, c / (w_i + w_j - c))
    return min(1.0, c / (w_i * w_j**alpha))


@settings(max_examples=80, deadline=None)
@given(
    similarity=st.sampled_from(SIMILARITIES),
    alpha=st.floats(0.0, 1.0),
    k=st.integers(1, 60),
    row_weight=st.floats(0.5, 80.0),  # often below some pair weights: those count at most it
    partners=st.integers(1, 90).flatmap(lambda n: st.lists(  # sizes on both sides of numpy's
        st.tuples(st.floats(0.1, 100.0), st.floats(0.1, 800.0) | st.none(),
                  st.floats(-5 * HOUR, 5 * HOUR)),
        min_size=n, max_size=n)),
    decay=st.booleans(),
)
def test_small_and_large_rows_score_as_the_formulas_say(
    similarity: str, alpha: float, k: int, row_weight: float,
    partners: list[tuple[float, float | None, float]], decay: bool,
) -> None:
    # rows of more than a couple of dozen pairs are scored with numpy, smaller ones without
    pairs = {f"j{n}": c for n, (c, _, _) in enumerate(partners)}
    row = ItemRow("i", weight=row_weight, pairs=pairs)
    weights = {f"j{n}": w for n, (_, w, _) in enumerate(partners) if w is not None}
    times = {f"j{n}": ts for n, (_, _, ts) in enumerate(partners)}
    limits = RowLimits(similarity=similarity, alpha=alpha, pair_half_life=HOUR if decay else 0.0)

    def weight(j: str) -> float:  # as of the row's time (0), at least the pair weight
        w = weights.get(j, 0.0) * (0.5 ** (-times[j] / HOUR) if decay else 1.0)
        return max(w, row.pairs[j])

    expected = {j: reference_score(similarity, alpha, c, row_weight, weight(j))
                for j, c in row.pairs.items()}
    found = top_neighbours(row, weights, k, limits, times)
    assert len(found) == min(k, len(partners))
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    for j, score in found:
        assert score == pytest.approx(expected[j], abs=2e-6)
    left_out = set(expected) - {j for j, _ in found}
    assert all(expected[j] <= found[-1][1] + 2e-6 for j in left_out), "the best k are kept"


def test_an_unknown_similarity_is_refused() -> None:
    with pytest.raises(ValueError, match="similarity"):
        RowLimits(similarity="euclid")


# -- bought together versus viewed together ------------------------------------


def test_a_purchase_pairs_as_bought_together_only_with_items_the_user_bought() -> None:
    # the user bought "a", viewed "c", and now buys "b" (after viewing it: gain 7)
    increments = row_increments(
        PairUpdate("b", 7.0, (("a", 8.0), ("c", 1.0)), 5.0, level=8.0))
    assert increments["b"].pairs == {"a": 7.0, "c": 1.0}
    assert increments["b"].bought == {"a": 7.0}
    assert increments["a"].bought == {"b": 7.0}
    assert increments["c"].bought == {}


@pytest.mark.parametrize("kind", ["view", "click", "add_to_cart", "rating"])
def test_only_a_purchase_makes_a_pair_bought_together(kind: str) -> None:
    rows = Rows()
    rows.buy("u1", "a")
    profile = rows.profiles["u1"]
    event = Event("e-now", "u1", "b", kind, 1.0, value=5.0 if kind == "rating" else None)
    _, pairs = apply_event(profile, event, ItemFacts(), ProfileLimits())
    rows.feed(pairs)
    assert "a" in rows.rows["b"].pairs, "engaged with together all the same"
    assert rows.rows["b"].bought == {} and rows.rows["a"].bought == {}


def test_viewed_together_and_bought_together_are_kept_apart() -> None:
    rows = Rows()
    for user in ("u1", "u2"):  # look at a phone and two cases, buy the phone and one case
        rows.view(user, "phone", "red-case", "blue-case")
        rows.buy(user, "phone", "blue-case")
    rows.view("u3", "phone", "red-case")
    assert {j for j, _ in rows.neighbours("phone")} == {"red-case", "blue-case"}
    assert [j for j, _ in rows.bought("phone")] == ["blue-case"]
    assert [j for j, _ in rows.bought("blue-case")] == ["phone"]
    assert rows.bought("red-case") == []
    assert "bought" not in rows.summary("red-case"), "no evidence, nothing published"
    assert rows.summary("phone")["bought"] == rows.bought("phone")


def test_bought_together_is_never_stronger_than_engaged_together() -> None:
    rows = Rows()
    rows.view("u1", "a", "b")
    rows.buy("u1", "a", "b")
    rows.view("u2", "a", "b")
    assert rows.rows["a"].bought["b"] <= rows.rows["a"].pairs["b"]
    assert dict(rows.bought("a"))["b"] <= dict(rows.neighbours("a"))["b"]


def test_bought_together_lists_are_bounded_by_max_pairs_keeping_the_strongest() -> None:
    row = None
    for offset, (partner, weight) in enumerate([("a", 1.0), ("b", 5.0), ("c", 2.0)]):
        increment = RowIncrement(8.0, {partner: weight}, 0.0, bought={partner: weight})
        row, _ = apply_increment(row, "x", increment, offset, RowLimits(max_pairs=2))
    assert row is not None
    assert row.bought == {"b": 5.0, "c": 2.0}


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


@pytest.mark.parametrize("limits", [RowLimits(), RowLimits(pair_half_life=HOUR)])
@pytest.mark.parametrize("offset", [7, 3])
def test_a_redelivered_increment_changes_nothing(offset: int, limits: RowLimits) -> None:
    increment = RowIncrement(2.0, {"b": 1.0}, 10.0, bought={"b": 1.0})
    row, applied = apply_increment(None, "a", increment, 7, limits)
    assert applied
    before = row.to_dict()
    later = RowIncrement(2.0, {"b": 1.0}, 10.0 + 3 * HOUR, bought={"b": 1.0})
    row, applied = apply_increment(row, "a", later, offset, limits)
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
    increment = RowIncrement(2.0, {"b": 1.0}, 10.0, bought={"b": 1.0})
    row, _ = apply_increment(None, "a", increment, 0, RowLimits())
    assert ItemRow.from_dict(row.to_dict()) == row


def test_a_row_stored_before_bought_together_existed_still_loads() -> None:
    old = {"item_id": "a", "weight": 2.0, "pairs": {"b": 1.0}, "next": {}, "popularity": 2.0,
           "popularity_ts": 10.0, "applied_offset": 3}
    row = ItemRow.from_dict(old)
    assert (row.bought, row.pair_ts) == ({}, 0.0)


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


# -- decay of pair weights by event time ----------------------------------------


def worth(row: ItemRow, value: float, at: float) -> float:
    """What a stored value of ``row`` is worth at event time ``at`` (one-hour half-life)."""
    return value * 0.5 ** ((at - row.pair_ts) / HOUR)


def pairs_after(*evidence_at: tuple[float, float], limits: RowLimits | None = None) -> ItemRow:
    """Row "a" after a pair with "b" of each weight at each time (the item's gain likewise)."""
    row = None
    for offset, (weight, ts) in enumerate(evidence_at):
        increment = RowIncrement(weight, {"b": weight}, ts, bought={"b": weight})
        row, _ = apply_increment(row, "a", increment, offset,
                                 limits or RowLimits(pair_half_life=HOUR))
    assert row is not None
    return row


def test_pair_weights_do_not_decay_by_default() -> None:
    row = pairs_after((4.0, 0.0), (1.0, 10 * HOUR), limits=RowLimits())
    assert (row.weight, row.pairs, row.bought) == (5.0, {"b": 5.0}, {"b": 5.0})


def test_pair_weights_halve_every_half_life_of_event_time() -> None:
    row = pairs_after((4.0, 0.0), (1.0, HOUR))
    for value in (row.weight, row.pairs["b"], row.bought["b"]):
        assert worth(row, value, HOUR) == pytest.approx(3.0)
        assert worth(row, value, 3 * HOUR) == pytest.approx(0.75)


def test_decayed_pair_weights_do_not_depend_on_the_order_increments_arrive_in() -> None:
    evidence = [(4.0, 0.0), (1.0, HOUR), (2.0, 3 * HOUR), (8.0, 2.5 * HOUR), (1.0, 7 * HOUR)]
    in_order = pairs_after(*sorted(evidence, key=lambda wt: wt[1]))
    for shuffled in (evidence, evidence[::-1], evidence[2:] + evidence[:2]):
        row = pairs_after(*shuffled)
        assert worth(row, row.pairs["b"], 8 * HOUR) == pytest.approx(
            worth(in_order, in_order.pairs["b"], 8 * HOUR))
        assert worth(row, row.weight, 8 * HOUR) == pytest.approx(
            worth(in_order, in_order.weight, 8 * HOUR))


def test_stored_weights_stay_near_their_worth_and_decayed_pairs_are_forgotten() -> None:
    row = None
    limits = RowLimits(pair_half_life=HOUR)
    row, _ = apply_increment(row, "a", RowIncrement(1.0, {"old": 1.0}, 0.0), 0, limits)
    row, _ = apply_increment(row, "a", RowIncrement(1.0, {"new": 1.0}, 100 * HOUR), 1, limits)
    assert row.pair_ts == 100 * HOUR
    assert row.pairs == {"new": 1.0}, "2 ** -100 of a view is nothing"
    assert row.weight == pytest.approx(1.0)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_with_decay_a_recent_partner_overtakes_an_old_stronger_one(similarity: str) -> None:
    def neighbours_of_a(limits: RowLimits) -> list[str]:
        rows = Rows(limits)
        for user in ("u1", "u2", "u3"):
            rows.view(user, "a", "old", ts=0.0)
        rows.view("u4", "a", "recent", ts=10 * HOUR)
        return [j for j, _ in rows.neighbours("a")]

    assert neighbours_of_a(RowLimits(similarity=similarity)) == ["old", "recent"]
    assert neighbours_of_a(RowLimits(similarity=similarity, pair_half_life=HOUR)) == \
        ["recent", "old"]


def test_a_neighbours_published_weight_is_decayed_to_the_rows_time() -> None:
    row = ItemRow("a", weight=1.0, pairs={"b": 1.0}, pair_ts=2 * HOUR)
    weights, two_hours_earlier = {"b": 4.0}, {"b": 0.0}  # worth 1.0 at 2 h
    decaying = RowLimits(similarity="cosine", pair_half_life=HOUR)
    assert top_neighbours(row, weights, 5, decaying, two_hours_earlier) == [("b", 1.0)]
    cosine = RowLimits(similarity="cosine")
    assert top_neighbours(row, weights, 5, cosine, two_hours_earlier) == [("b", 0.5)]


def test_the_summary_says_when_the_weight_is_as_of_only_when_weights_decay() -> None:
    row = pairs_after((4.0, 0.0), (1.0, 3 * HOUR))
    decaying = row.summary({}, 5, RowLimits(pair_half_life=HOUR))
    assert worth(row, decaying["weight"], 3 * HOUR) == pytest.approx(0.5 + 1.0)
    assert decaying["weight_ts"] == row.pair_ts
    assert "weight_ts" not in row.summary({}, 5, RowLimits())
