"""Ranking and the whole per-event flow: business rules, the contract's list, A/B buckets."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.candidates import Candidate
from engine.events import CatalogItem, Event
from engine.pipeline import EngineConfig, assign_variant, handle_event, recommend
from engine.profiles import Profile
from engine.ranking import DEFAULT_WEIGHTS, blend
from engine.settings import Variant
from engine.world import World

TOPICS = Path(__file__).resolve().parents[2] / "topics"
LIST_SCHEMA = orjson.loads((TOPICS / "recommendations.json").read_bytes())["schema"]
HOUR = 3600.0


def assert_is_a_contract_list(listing: dict[str, Any]) -> None:
    jsonschema.validate(listing, LIST_SCHEMA, cls=jsonschema.Draft202012Validator)


# -- blend --------------------------------------------------------------------

ITEMS = st.sampled_from([f"i{n}" for n in range(12)])
CANDIDATES = st.builds(
    Candidate, item_id=ITEMS, score=st.floats(0.0, 1.0), source=st.just("x"),
    reason=st.sampled_from(["seen with a", "trending now", "popular in shoes"]),
)
LISTS = st.dictionaries(st.sampled_from(sorted(DEFAULT_WEIGHTS)), st.lists(CANDIDATES, max_size=10))


@settings(database=None, derandomize=True, max_examples=300)
@given(lists=LISTS, excluded=st.sets(ITEMS), unavailable=st.sets(ITEMS), n=st.integers(0, 8))
def test_blend_never_returns_excluded_unavailable_or_repeated_items_and_at_most_n(
    lists: dict[str, list[Candidate]], excluded: set[str], unavailable: set[str], n: int
) -> None:
    ranked = blend(lists, excluded, lambda i: i not in unavailable, DEFAULT_WEIGHTS, n)
    ids = [r.item_id for r in ranked]
    assert len(ids) <= n
    assert len(set(ids)) == len(ids)
    assert not set(ids) & (excluded | unavailable)
    assert all(r.reasons and len(r.reasons) == len(set(r.reasons)) for r in ranked)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_blend_adds_up_the_weighted_scores_of_every_source() -> None:
    lists = {
        "co_occurrence": [Candidate("a", 0.5, "co_occurrence", "viewed with x")],
        "trending": [Candidate("a", 1.0, "trending", "trending now"),
                     Candidate("b", 1.0, "trending", "trending now")],
    }
    weights = {"co_occurrence": 1.0, "trending": 0.1}
    ranked = blend(lists, set(), lambda _: True, weights, 5)
    assert [(r.item_id, r.score, r.reasons) for r in ranked] == [
        ("a", 0.6, ["viewed with x", "trending now"]),
        ("b", 0.1, ["trending now"]),
    ]


def test_blend_ignores_sources_without_weight() -> None:
    lists = {"unknown": [Candidate("a", 1.0, "unknown", "why not")]}
    assert blend(lists, set(), lambda _: True, DEFAULT_WEIGHTS, 5) == []


def test_blend_fills_n_with_the_next_items_when_the_best_are_unavailable() -> None:
    lists = {"trending": [Candidate(f"i{n}", 1.0 - n / 10, "trending", "trending now")
                          for n in range(6)]}
    ranked = blend(lists, {"i0"}, lambda i: i != "i1", DEFAULT_WEIGHTS, 3)
    assert [r.item_id for r in ranked] == ["i2", "i3", "i4"]


# -- recommend ----------------------------------------------------------------


def shop() -> World:
    """Books most popular, then hiking, then running shoes; running shoes go together."""
    world = World(trending_half_life=HOUR)
    for category, prefix, base in [("books", "b", 50.0), ("shoes/hiking", "h", 30.0),
                                   ("shoes/running", "r", 10.0), ("shoeshine", "s", 40.0)]:
        for n in range(5):
            item = f"{prefix}{n}"
            world.set_item(CatalogItem(item, category=category))
            world.set_neighbours(item, base - n, (base - n, 0.0), [])
    world.set_neighbours("r0", 10.0, (10.0, 0.0), [("r1", 0.9), ("r2", 0.6), ("r3", 0.3)])
    world.set_neighbours("r1", 9.0, (9.0, 0.0), [("r0", 0.9), ("r2", 0.5)])
    return world


_ids = itertools.count()


def live(world: World, config: EngineConfig, *actions: tuple[str, str],
         user: str = "u1") -> Profile:
    """A profile built through :func:`handle_event`, one (type, item) per second."""
    profile: Profile | None = None
    for ts, (kind, item) in enumerate(actions):
        outcome = handle_event(profile, Event(f"e{next(_ids)}", user, item, kind, float(ts)),
                               world, config)
        profile = outcome.profile
    assert profile is not None
    return profile


def listed(listing: dict[str, Any]) -> list[str]:
    return [entry["item_id"] for entry in listing["items"]]


def test_a_cold_start_user_gets_a_contract_list_of_trending_items() -> None:
    listing = recommend(None, "new-user", shop(), EngineConfig(), trigger_event_id=None,
                        now=100.0)
    assert_is_a_contract_list(listing)
    assert listed(listing)[:3] == ["b0", "b1", "b2"]
    assert len(listing["items"]) == 10
    assert listing["user_id"] == "new-user"
    assert listing["model"]["variant"] == "learned"


def test_a_warm_user_gets_a_contract_list_led_by_what_goes_with_their_items() -> None:
    world, config = shop(), EngineConfig()
    profile = live(world, config, ("view", "r1"), ("view", "r0"))
    listing = recommend(profile, "u1", world, config, trigger_event_id="e-9", now=100.0)
    assert_is_a_contract_list(listing)
    assert listed(listing)[0] == "r1"
    assert "r0" not in listed(listing)  # what the user is looking at right now
    assert listing["trigger_event_id"] == "e-9"
    assert listing["generated_at"] == 100.0
    assert all(entry["reasons"] for entry in listing["items"])


def test_a_list_never_holds_purchased_unavailable_or_removed_items() -> None:
    world, config = shop(), EngineConfig()
    profile = live(world, config, ("purchase", "b0"), ("view", "r1"), ("view", "r0"))
    world.set_item(CatalogItem("b1", category="books", available=False))
    world.remove_item("r2")
    items = listed(recommend(profile, "u1", world, config, trigger_event_id=None, now=5.0))
    assert {"b0", "b1", "r2"}.isdisjoint(items)
    assert len(items) == len(set(items)) == 10


def test_a_list_holds_at_most_n_items() -> None:
    listing = recommend(None, "u1", shop(), EngineConfig(top_n=4), trigger_event_id=None, now=0)
    assert len(listing["items"]) == 4
    listing = recommend(None, "u1", shop(), EngineConfig(), trigger_event_id=None, now=0, n=2)
    assert len(listing["items"]) == 2


def new_shop() -> World:
    """A catalog and no interaction yet: nothing is trending, nothing goes with anything."""
    world = World()
    for n in range(6):
        world.set_item(CatalogItem(f"n{n}", category="shoes", available=n != 4))
    return world


@pytest.mark.parametrize("variant", ["learned", "heuristic"])
def test_a_cold_start_user_of_a_shop_without_interactions_gets_its_newest_items(
        variant: str) -> None:
    config = EngineConfig(top_n=3, variants=(Variant(variant, 1.0),))
    listing = recommend(None, "new-user", new_shop(), config, trigger_event_id=None, now=0.0)
    assert_is_a_contract_list(listing)
    assert listed(listing) == ["n5", "n3", "n2"]  # n4 is unavailable
    assert all(entry["reasons"] == ["new in the catalog"] for entry in listing["items"])


def test_a_list_the_sources_cannot_fill_ends_with_the_catalogs_newest_items() -> None:
    world, config = new_shop(), EngineConfig(top_n=4)
    world.set_neighbours("n0", 2.0, (2.0, 0.0), [("n1", 0.5)])
    world.set_neighbours("n1", 1.0, (1.0, 0.0), [("n0", 0.5)])
    profile = live(world, config, ("purchase", "n5"), ("view", "n0"))
    items = listed(recommend(profile, "u1", world, config, trigger_event_id=None, now=5.0))
    assert items[0] == "n1"  # what the sources proposed comes first
    assert set(items[1:]) <= {"n2", "n3"}  # then new items: never bought, current or unavailable
    assert len(items) == len(set(items)) == 3


def test_an_item_the_user_rated_low_is_not_recommended_to_them_until_rated_well() -> None:
    world, config = shop(), EngineConfig()
    profile = live(world, config, ("view", "r1"), ("view", "h0"))
    assert "b0" in listed(recommend(profile, "u1", world, config, trigger_event_id=None, now=5.0))
    profile = handle_event(profile, Event("low", "u1", "b0", "rating", 5.0, 1.0), world,
                           config).profile
    assert profile is not None
    assert "b0" not in listed(recommend(profile, "u1", world, config, trigger_event_id=None,
                                        now=6.0))
    for event in (Event("high", "u1", "b0", "rating", 7.0, 5.0),
                  Event("next", "u1", "r1", "view", 8.0)):  # b0 is no longer the current item
        profile = handle_event(profile, event, world, config).profile
    assert profile is not None
    assert "b0" in listed(recommend(profile, "u1", world, config, trigger_event_id=None,
                                    now=9.0))


def test_a_user_who_bought_everything_gets_an_empty_list_not_an_error() -> None:
    world, config = shop(), EngineConfig()
    everything = [("purchase", f"{p}{n}") for p in "bhrs" for n in range(5)]
    listing = recommend(live(world, config, *everything), "u1", world, config,
                        trigger_event_id=None, now=0.0)
    assert listing["items"] == []
    assert_is_a_contract_list(listing)


@pytest.mark.parametrize(
    ("category", "allowed"),
    [("shoes", ("shoes/",)), ("shoes/running", ("shoes/running",)), ("books", ("books",))],
)
@pytest.mark.parametrize("warm", [False, True])
def test_a_category_filter_keeps_only_items_of_that_category_or_below(
    category: str, allowed: tuple[str, ...], warm: bool
) -> None:
    world, config = shop(), EngineConfig()
    profile = live(world, config, ("view", "r1"), ("view", "b3")) if warm else None
    listing = recommend(profile, "u1", world, config, trigger_event_id=None, now=0.0,
                        category=category)
    categories = [world.item(i).category for i in listed(listing)]  # type: ignore[union-attr]
    assert categories, "the category has recommendable items"
    assert all(c is not None and c.startswith(allowed) for c in categories)
    assert_is_a_contract_list(listing)


def test_a_category_filter_does_not_match_a_category_that_merely_shares_a_prefix() -> None:
    listing = recommend(None, "u1", shop(), EngineConfig(), trigger_event_id=None, now=0.0,
                        category="shoes")
    assert not any(i.startswith("s") for i in listed(listing))  # "shoeshine" is not "shoes"


def test_the_same_list_for_the_same_trigger_has_the_same_rec_id() -> None:
    world, config = shop(), EngineConfig()
    first = recommend(None, "u1", world, config, trigger_event_id="e1", now=1.0)
    again = recommend(None, "u1", world, config, trigger_event_id="e1", now=2.0)
    other = recommend(None, "u1", world, config, trigger_event_id="e2", now=1.0)
    assert first["rec_id"] == again["rec_id"] != other["rec_id"]


# -- A/B variants -------------------------------------------------------------

HALVES = (Variant("learned", 0.5), Variant("heuristic", 0.5))


def test_a_user_always_lands_in_the_same_variant_in_every_process() -> None:
    # Pinned: a hash salted per process (like ``hash()``) would move users between
    # variants on every restart and mix the A/B groups.
    assert [assign_variant(f"u{n}", HALVES) for n in range(8)] == [
        "heuristic", "heuristic", "learned", "learned",
        "heuristic", "heuristic", "heuristic", "heuristic",
    ]


def test_with_a_single_variant_everyone_is_in_it() -> None:
    assert {assign_variant(f"u{n}", (Variant("learned", 1.0),)) for n in range(100)} \
        == {"learned"}


@pytest.mark.parametrize(
    "variants",
    [HALVES, (Variant("learned", 0.2), Variant("heuristic", 0.8)),
     (Variant("learned", 3.0), Variant("heuristic", 1.0))],
)
def test_variants_follow_their_weights_over_ten_thousand_users(
    variants: tuple[Variant, ...]
) -> None:
    counts = Counter(assign_variant(f"user-{n}", variants) for n in range(10_000))
    total = sum(v.weight for v in variants)
    for variant in variants:
        assert counts[variant.name] / 10_000 == pytest.approx(variant.weight / total, abs=0.03)


def test_the_list_names_the_users_variant() -> None:
    config = EngineConfig(variants=HALVES)
    for user in ("u1", "u2", "u3", "u4"):
        listing = recommend(None, user, shop(), config, trigger_event_id=None, now=0.0)
        assert listing["model"]["variant"] == assign_variant(user, HALVES)


# -- handle_event -------------------------------------------------------------


def view(event_id: str, item: str = "r0", ts: float = 0.0, kind: str = "view") -> Event:
    return Event(event_id, "u1", item, kind, ts)


def test_a_new_event_is_applied_and_a_list_is_due() -> None:
    outcome = handle_event(None, view("e1"), shop(), EngineConfig(), position=(0, 5))
    assert (outcome.status, outcome.publish) == ("applied", True)
    assert outcome.profile is not None and outcome.profile.counts["view"] == 1
    assert outcome.pairs is not None and outcome.pairs.item_id == "r0"


def test_an_event_id_seen_before_is_a_duplicate_and_changes_nothing() -> None:
    world, config = shop(), EngineConfig()
    first = handle_event(None, view("e1"), world, config, position=(0, 5))
    assert first.profile is not None
    before = first.profile.to_dict()
    again = handle_event(first.profile, view("e1", ts=9.0), world, config, position=(1, 77))
    assert (again.status, again.publish, again.pairs) == ("duplicate", False, None)
    assert not again.redelivered  # a producer's repeat at a new offset: no list again
    assert again.profile is not None and again.profile.to_dict() == before


@pytest.mark.parametrize("offset", [5, 4])
def test_an_input_offset_already_applied_is_a_duplicate(offset: int) -> None:
    world, config = shop(), EngineConfig()
    first = handle_event(None, view("e1"), world, config, position=(0, 5))
    again = handle_event(first.profile, view("e2", "r1"), world, config, position=(0, offset))
    assert again.status == "duplicate"
    assert again.redelivered  # the broker delivering it again: its list is due again
    assert again.profile is not None and again.profile.counts["view"] == 1


def test_the_same_offset_on_another_partition_is_not_a_duplicate() -> None:
    world, config = shop(), EngineConfig()
    first = handle_event(None, view("e1"), world, config, position=(0, 5))
    other = handle_event(first.profile, view("e2", "r1"), world, config, position=(1, 5))
    assert other.status == "applied"


def test_forget_user_erases_the_profile() -> None:
    world, config = shop(), EngineConfig()
    known = handle_event(None, view("e1"), world, config).profile
    outcome = handle_event(known, Event("e2", "u1", None, "forget_user", 1.0), world, config)
    assert (outcome.status, outcome.profile, outcome.pairs) == ("forgotten", None, None)
    assert outcome.publish  # the user's cached list must be replaced


def test_forgetting_an_unknown_user_publishes_nothing() -> None:
    outcome = handle_event(None, Event("e1", "u9", None, "forget_user", 1.0), shop(),
                           EngineConfig())
    assert (outcome.status, outcome.profile, outcome.publish) == ("forgotten", None, False)


def test_a_forgotten_user_starts_again_from_nothing() -> None:
    world, config = shop(), EngineConfig()
    known = handle_event(None, view("e1"), world, config).profile
    forgotten = handle_event(known, Event("e2", "u1", None, "forget_user", 1.0), world, config)
    again = handle_event(forgotten.profile, view("e3", "r1", ts=2.0), world, config)
    assert again.profile is not None
    assert again.profile.counts["view"] == 1
    assert again.profile.recent_item_ids() == ["r1"]


def test_the_refresh_interval_suppresses_lists_within_it_in_event_time() -> None:
    world, config = shop(), EngineConfig(refresh_interval=60.0)
    profile: Profile | None = None
    published = []
    for n, ts in enumerate([0.0, 30.0, 59.0, 60.0, 61.0, 200.0]):
        outcome = handle_event(profile, view(f"e{n}", f"r{n % 5}", ts), world, config)
        profile = outcome.profile
        published.append(outcome.publish)
    assert published == [True, False, False, True, False, True]


def test_without_a_refresh_interval_every_applied_event_publishes() -> None:
    world, config = shop(), EngineConfig()
    profile: Profile | None = None
    for n in range(5):
        outcome = handle_event(profile, view(f"e{n}", ts=0.0), world, config)
        profile = outcome.profile
        assert outcome.publish


def test_the_profile_learns_the_category_of_the_item_from_the_catalog() -> None:
    outcome = handle_event(None, view("e1", "r0"), shop(), EngineConfig())
    assert outcome.profile is not None
    assert outcome.profile.category == {"shoes/running": 1.0}


def test_a_per_category_cap_keeps_one_category_from_filling_the_list() -> None:
    from engine.candidates import Candidate
    from engine.ranking import blend

    shoes = [Candidate(f"s{i}", 1.0 - i / 100, "co_occurrence", "r") for i in range(6)]
    books = [Candidate(f"b{i}", 0.5 - i / 100, "co_occurrence", "r") for i in range(6)]
    category = {**{f"s{i}": "shoes" for i in range(6)}, **{f"b{i}": "books" for i in range(6)}}
    ranked = blend({"co_occurrence": shoes + books}, set(), lambda i: True,
                   {"co_occurrence": 1.0}, 6, category_of=category.get, max_per_category=2)
    assert [r.item_id for r in ranked] == ["s0", "s1", "b0", "b1"]
    uncapped = blend({"co_occurrence": shoes + books}, set(), lambda i: True,
                     {"co_occurrence": 1.0}, 6, category_of=category.get)
    assert [r.item_id for r in uncapped] == [f"s{i}" for i in range(6)]


def test_recently_seen_items_are_excluded_as_configured() -> None:
    from engine.events import Event
    from engine.pipeline import EngineConfig, handle_event, recommend
    from engine.world import World

    world = World()
    for item in ("a", "b", "c", "d"):
        world.set_neighbours(item, 1.0, (1.0, 0.0), [])
    profile = None
    for i, item in enumerate(("a", "b", "c")):
        profile = handle_event(profile, Event(f"e{i}", "u", item, "view", float(i)), world,
                               EngineConfig()).profile

    def shown(exclude_recent: int) -> set[str]:
        config = EngineConfig(exclude_recent=exclude_recent)
        listing = recommend(profile, "u", world, config, trigger_event_id=None, now=0.0)
        return {i["item_id"] for i in listing["items"]}

    assert shown(1) == {"a", "b", "d"}  # only what the user is looking at now (c)
    assert shown(3) == {"d"}
    assert shown(0) == {"a", "b", "c", "d"}


def test_a_list_says_bought_together_or_viewed_together_as_the_evidence_was() -> None:
    from engine.simulation import Simulation

    sim = Simulation(EngineConfig())
    events = iter(range(1000))

    def did(user: str, item: str, kind: str = "view") -> None:
        sim.apply(Event(f"e{next(events)}", user, item, kind, float(next(events))))

    for user in ("u1", "u2"):  # bought a phone and its case together
        did(user, "phone", "purchase")
        did(user, "case", "purchase")
    for user in ("u3", "u4"):  # looked at the phone and a tablet
        did(user, "phone")
        did(user, "tablet")
    did("u5", "phone")
    reasons = {i["item_id"]: i["reasons"] for i in sim.recommend("u5")["items"]}
    assert "often bought together with phone" in reasons["case"]
    assert "often viewed together with phone" in reasons["tablet"]
    assert "often bought together with phone" not in reasons["tablet"]


def test_a_redelivered_event_gives_back_its_item_evidence_to_send_again() -> None:
    world, config = shop(), EngineConfig()
    first = handle_event(None, view("e1", "r0"), world, config, position=(0, 5))
    second = handle_event(first.profile, view("e2", "r1", ts=9.0), world, config, position=(0, 6))
    assert second.pairs is not None
    again = handle_event(second.profile, view("e2", "r1", ts=9.0), world, config,
                         position=(0, 6))
    assert again.status == "duplicate" and again.redelivered
    assert again.pairs == second.pairs  # the item side applies it once, by its source
    assert again.profile is not None and again.profile.counts["view"] == 2
