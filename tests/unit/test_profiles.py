"""User profiles: exact counts, interests decayed by event time, bounded memory."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from engine.events import Event
from engine.privacy import engager_key
from engine.profiles import (
    FINGERPRINT_WIDTH,
    ItemFacts,
    PairUpdate,
    Profile,
    ProfileLimits,
    apply_event,
    event_fingerprint,
    event_weight,
    interest_shares,
)

DAY = 86400.0
LIMITS = ProfileLimits(half_life=DAY)
SHOES = ItemFacts("shoes", ("trail",))
BOOKS = ItemFacts("books", ("novel",))

_ids = itertools.count()
U1 = engager_key("u1")  # what the item side knows of the user u1


def event(item: str | None, kind: str = "view", ts: float = 0.0,
          value: float | None = None, user: str = "u1", session: str | None = None) -> Event:
    return Event(f"e{next(_ids)}", user, item, kind, ts, value, session_id=session)


def replay(events: list[tuple[Event, ItemFacts]],
           limits: ProfileLimits = LIMITS) -> tuple[Profile, list[PairUpdate | None]]:
    profile: Profile | None = None
    updates = []
    for e, facts in events:
        profile, pairs = apply_event(profile, e, facts, limits)
        updates.append(pairs)
    assert profile is not None
    return profile, updates


# -- counts -------------------------------------------------------------------


def test_counts_are_exact_per_event_type() -> None:
    kinds = ["view"] * 5 + ["click"] * 3 + ["add_to_cart"] * 2 + ["purchase"] + ["rating"] * 4
    profile, _ = replay([(event("i1", k, value=4), ItemFacts()) for k in kinds])
    assert profile.counts == {"view": 5, "click": 3, "add_to_cart": 2, "purchase": 1,
                              "rating": 4}


def test_a_new_profile_starts_with_every_count_at_zero() -> None:
    assert Profile("u1").counts == {"view": 0, "click": 0, "add_to_cart": 0, "purchase": 0,
                                    "rating": 0}


def test_last_ts_and_last_event_id_follow_the_latest_event_time() -> None:
    late, early = event("i1", ts=100.0), event("i2", ts=50.0)
    profile, _ = replay([(late, ItemFacts()), (early, ItemFacts())])
    assert profile.last_ts == 100.0
    assert profile.last_event_id == early.event_id  # the last one applied


# -- interests ----------------------------------------------------------------


def test_an_interest_from_one_half_life_ago_weighs_half() -> None:
    profile, _ = replay([(event("i1", ts=0.0), SHOES), (event("i2", ts=DAY), BOOKS)])
    assert profile.category == pytest.approx({"shoes": 0.5, "books": 1.0})
    assert profile.tag == pytest.approx({"trail": 0.5, "novel": 1.0})


def test_an_interest_from_two_half_lives_ago_weighs_a_quarter() -> None:
    profile, _ = replay([(event("i1", ts=0.0), SHOES), (event("i2", ts=2 * DAY), BOOKS)])
    assert interest_shares(profile.category) == pytest.approx({"books": 0.8, "shoes": 0.2})


def test_a_late_event_is_discounted_as_if_it_had_arrived_in_time() -> None:
    profile, _ = replay([(event("i2", ts=DAY), BOOKS), (event("i1", ts=0.0), SHOES)])
    assert profile.category == pytest.approx({"shoes": 0.5, "books": 1.0})


def test_interests_do_not_depend_on_the_order_events_arrive_in() -> None:
    rng = random.Random(7)
    facts = [SHOES, BOOKS, ItemFacts("shoes/running", ("trail", "fast")), ItemFacts("toys")]
    kinds = ["view", "click", "add_to_cart", "purchase"]
    history = [
        (event(f"i{n}", rng.choice(kinds), ts=rng.uniform(0, 10 * DAY)), rng.choice(facts))
        for n in range(60)
    ]
    in_order, _ = replay(sorted(history, key=lambda ef: ef[0].ts))
    shuffled = history[:]
    rng.shuffle(shuffled)
    out_of_order, _ = replay(shuffled)
    assert out_of_order.category == pytest.approx(in_order.category, rel=1e-9)
    assert out_of_order.tag == pytest.approx(in_order.tag, rel=1e-9)
    assert out_of_order.counts == in_order.counts


def test_stronger_interactions_count_more_towards_interests() -> None:
    profile, _ = replay([(event("i1", "view"), SHOES), (event("i2", "purchase"), BOOKS)])
    assert profile.category == {"shoes": 1.0, "books": 8.0}


def test_a_low_rating_lowers_the_interest_in_the_items_category() -> None:
    profile, _ = replay([(event("i1", "view"), SHOES), (event("i2", "rating", value=1), SHOES)])
    assert profile.category == {"shoes": 1.0 - 4.0}
    assert interest_shares(profile.category) == {}


def test_the_number_of_categories_kept_is_bounded_keeping_the_strongest() -> None:
    limits = ProfileLimits(categories=2)
    profile, _ = replay([
        (event("a", "view"), ItemFacts("weak")),
        (event("b", "purchase"), ItemFacts("strong")),
        (event("c", "click"), ItemFacts("middle")),
    ], limits)
    assert set(profile.category) == {"strong", "middle"}


# -- event weights ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "weight"),
    [("view", None, 1.0), ("click", None, 2.0), ("add_to_cart", None, 4.0),
     ("purchase", None, 8.0), ("purchase", 3.0, 8.0),
     ("rating", 5.0, 4.0), ("rating", 4.0, 2.0), ("rating", 3.0, 0.0),
     ("rating", 2.0, -2.0), ("rating", 1.0, -4.0), ("rating", 9.0, 4.0)],
)
def test_event_weights_order_interactions_and_ratings_are_signed(
    kind: str, value: float | None, weight: float
) -> None:
    assert event_weight(kind, value, ProfileLimits()) == weight


@pytest.mark.parametrize(("rating_min", "rating_max"), [(0.0, 5.0), (1.0, 5.0)])
def test_a_rating_of_zero_is_the_strongest_negative_evidence(rating_min: float,
                                                             rating_max: float) -> None:
    limits = ProfileLimits(rating_min=rating_min, rating_max=rating_max)
    assert event_weight("rating", 0.0, limits) == -4.0


# -- bounded memory -----------------------------------------------------------


def test_recent_items_are_bounded_most_recent_first() -> None:
    limits = ProfileLimits(recent_items=3)
    profile, _ = replay([(event(f"i{n}", ts=n), ItemFacts()) for n in range(10)], limits)
    assert profile.recent_item_ids() == ["i9", "i8", "i7"]


def test_a_repeated_item_moves_to_the_front_without_repeating() -> None:
    profile, _ = replay([(event(i), ItemFacts()) for i in ["a", "b", "c", "a"]])
    assert profile.recent_item_ids() == ["a", "c", "b"]


def test_purchased_items_are_remembered_once_and_bounded() -> None:
    limits = ProfileLimits(purchased_items=2)
    items = ["a", "b", "a", "c"]
    profile, _ = replay([(event(i, "purchase"), ItemFacts()) for i in items], limits)
    assert profile.purchased == ["b", "c"]


def test_items_rated_below_the_middle_are_disliked_until_rated_well_again() -> None:
    ratings = [("a", 1), ("b", 2), ("c", 3), ("a", 5), ("d", 0)]
    profile, _ = replay([(event(item, "rating", value=value), ItemFacts())
                         for item, value in ratings])
    assert profile.disliked == ["b", "d"]  # c is neutral; a was rated well again


def test_disliked_items_are_bounded_keeping_the_latest() -> None:
    limits = ProfileLimits(purchased_items=2)
    profile, _ = replay([(event(i, "rating", value=1), ItemFacts()) for i in "abc"], limits)
    assert profile.disliked == ["b", "c"]


def test_a_profile_stored_before_dislikes_were_kept_still_loads() -> None:
    profile, _ = replay([(event("i1", ts=5.0), SHOES)])
    stored = profile.to_dict()
    del stored["disliked"]
    assert Profile.from_dict(stored) == profile


def test_the_dedup_horizon_remembers_the_last_event_ids_only() -> None:
    limits = ProfileLimits(dedup_horizon=3)
    events = [event(f"i{n}") for n in range(5)]
    profile, _ = replay([(e, ItemFacts()) for e in events], limits)
    assert [profile.has_seen(e.event_id) for e in events] == [False, False, True, True, True]


def test_the_dedup_horizon_takes_one_string_of_fixed_width_fingerprints() -> None:
    limits = ProfileLimits(dedup_horizon=1000)
    events = [replace(event("i1"), event_id=f"e-{n}-" + "x" * (n % 50)) for n in range(1200)]
    profile, _ = replay([(e, ItemFacts()) for e in events], limits)
    assert isinstance(profile.seen, str) and len(profile.seen) == 1000 * FINGERPRINT_WIDTH
    assert not any(profile.has_seen(e.event_id) for e in events[:200])
    assert all(profile.has_seen(e.event_id) for e in events[200:])


def test_a_fingerprint_found_across_two_others_is_not_a_match() -> None:
    token = event_fingerprint("e-straddling")
    half = FINGERPRINT_WIDTH // 2
    profile = Profile("u1", seen="a" * half + token + "b" * half)
    assert not profile.has_seen("e-straddling")
    assert Profile("u1", seen="a" * FINGERPRINT_WIDTH + token).has_seen("e-straddling")


def test_a_profile_that_stored_event_ids_themselves_still_knows_them() -> None:
    profile, _ = replay([(replace(event("i1"), event_id="e-1"), SHOES)])
    stored = {**profile.to_dict(), "seen": ["e-0", "e-1"]}  # as an older version stored them
    again = Profile.from_dict(stored)
    assert again.has_seen("e-0") and again.has_seen("e-1") and not again.has_seen("e-2")
    assert again.seen == event_fingerprint("e-0") + profile.seen


def test_a_profile_survives_a_round_trip_through_its_dict() -> None:
    profile, _ = replay([(event("i1", "purchase", ts=5.0), SHOES),
                         (event("i2", session="s1"), BOOKS)])
    assert Profile.from_dict(profile.to_dict()) == profile


def test_a_profile_stored_before_sessions_were_kept_still_loads() -> None:
    profile, _ = replay([(event("i1", ts=5.0), SHOES)])
    stored = profile.to_dict()
    del stored["session"]
    assert Profile.from_dict(stored) == profile


# -- co-occurrence evidence ---------------------------------------------------


def test_an_interaction_pairs_with_the_users_recent_items() -> None:
    _, updates = replay([(event("a"), ItemFacts()), (event("b", "click", ts=3.0), ItemFacts())])
    assert updates == [
        PairUpdate("a", 1.0, (), 0.0, level=1.0, user=U1),
        PairUpdate("b", 2.0, (("a", 1.0),), 3.0, previous="a", level=2.0, user=U1),
    ]


def test_an_item_pushed_out_of_the_recent_items_is_named_so_its_row_forgets_the_user() -> None:
    limits = ProfileLimits(recent_items=2)
    _, updates = replay([(event(i), ItemFacts()) for i in ["a", "b", "a", "c"]], limits)
    assert [u.dropped for u in updates if u is not None] == [(), (), ("b",)]


def test_pairs_reach_back_only_as_far_as_the_cooccurrence_window() -> None:
    limits = ProfileLimits(cooccurrence_window=2)
    _, updates = replay([(event(i), ItemFacts()) for i in ["a", "b", "c", "d"]], limits)
    assert updates[-1] is not None
    assert [partner for partner, _ in updates[-1].partners] == ["c", "b"]


def test_a_repeated_view_of_the_same_item_adds_no_new_evidence() -> None:
    _, updates = replay([(event("a"), ItemFacts()), (event("b"), ItemFacts()),
                         (event("b"), ItemFacts())])
    assert updates[-1] is None


def test_a_purchase_after_a_view_adds_only_what_the_view_did_not() -> None:
    _, updates = replay([(event("a"), ItemFacts()), (event("b"), ItemFacts()),
                         (event("b", "purchase"), ItemFacts())])
    # a -> b was a transition when b was viewed; buying b after viewing it is none
    assert updates[-1] == PairUpdate("b", 7.0, (("a", 1.0),), 0.0, previous=None, level=8.0,
                                     user=U1)


def test_a_low_rating_is_negative_evidence_and_gives_no_pair_update() -> None:
    profile, updates = replay([(event("a"), ItemFacts()),
                               (event("b", "rating", value=1), ItemFacts())])
    assert updates[-1] is None
    assert profile.recent_item_ids() == ["a"]  # a disliked item is not a recent interest


def test_a_neutral_rating_gives_no_pair_update() -> None:
    _, updates = replay([(event("a"), ItemFacts()), (event("b", "rating", value=3), ItemFacts())])
    assert updates[-1] is None


def test_a_high_rating_is_positive_evidence() -> None:
    _, updates = replay([(event("a"), ItemFacts()), (event("b", "rating", value=5), ItemFacts())])
    assert updates[-1] == PairUpdate("b", 4.0, (("a", 1.0),), 0.0, previous="a", level=4.0,
                                     user=U1)


# -- sessions: what counts as "viewed next after" -------------------------------


def test_without_session_ids_a_gap_of_event_time_ends_a_session() -> None:
    limits = ProfileLimits(session_gap=1800.0)
    _, updates = replay([(event("a", ts=0.0), ItemFacts()), (event("b", ts=1800.0), ItemFacts()),
                         (event("c", ts=3601.0), ItemFacts())], limits)
    assert [u.previous for u in updates if u is not None] == [None, "a", None]


def previous_of_b(a: tuple[float, str | None], b: tuple[float, str | None]) -> str | None:
    """What a view of b at ``b = (ts, session_id)`` names as the item before it, after a view of a
    (a session gap of 30 minutes)."""
    _, updates = replay([(event("a", ts=a[0], session=a[1]), ItemFacts()),
                         (event("b", ts=b[0], session=b[1]), ItemFacts())],
                        ProfileLimits(session_gap=1800.0))
    assert updates[-1] is not None
    return updates[-1].previous


def test_a_new_session_id_within_the_gap_continues_the_session() -> None:
    assert previous_of_b((0.0, "s1"), (10.0, "s2")) == "a"


def test_a_new_session_id_after_the_gap_starts_a_new_session() -> None:
    assert previous_of_b((0.0, "s1"), (7200.0, "s2")) is None


def test_the_same_session_id_continues_the_session_past_the_gap() -> None:
    assert previous_of_b((0.0, "s1"), (7200.0, "s1")) == "a"


def test_past_the_gap_only_the_same_session_id_on_both_events_continues_the_session() -> None:
    limits = ProfileLimits(session_gap=1800.0)
    _, updates = replay([(event("a", ts=0.0), ItemFacts()),
                         (event("b", ts=7200.0, session="s1"), ItemFacts()),
                         (event("c", ts=14400.0), ItemFacts())], limits)
    assert [u.previous for u in updates if u is not None] == [None, None, None]


def test_an_empty_session_id_is_no_session_id() -> None:
    assert previous_of_b((0.0, ""), (7200.0, "")) is None


def test_an_event_older_than_the_latest_item_continues_no_session() -> None:
    assert previous_of_b((100.0, "s1"), (50.0, "s1")) is None


def test_a_profile_keeps_no_raw_session_id() -> None:
    profile, _ = replay([(event("a", session="shopper-1234-visit-7"), ItemFacts())])
    assert "shopper-1234-visit-7" not in str(profile.to_dict())
    assert profile.session is not None
