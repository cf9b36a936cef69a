"""The learned variant end to end in the pure core: lists served, reactions learnt, strategy
named; and one contract every strategy's lists keep."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from engine.events import CatalogItem, Event
from engine.features import FEATURES
from engine.feedback import remembered_rows
from engine.pipeline import (
    BLEND,
    LEARNED,
    EngineConfig,
    handle_event,
    new_ranker,
    publish_list,
    rank_list,
    recommend,
    serves_learned,
)
from engine.profiles import Profile
from engine.ranker import OnlineRanker, RankerConfig
from engine.settings import Variant
from engine.world import World

TOPICS = Path(__file__).resolve().parents[2] / "topics"
LIST_SCHEMA = orjson.loads((TOPICS / "recommendations.json").read_bytes())["schema"]
HOUR = 3600.0
ITEMS = [f"{prefix}{n}" for prefix in "bhr" for n in range(6)]
LEARNED_ONLY = (Variant("learned", 1.0),)
HEURISTIC_ONLY = (Variant("heuristic", 1.0),)


def shop() -> World:
    """Books most popular, then hiking, then running shoes; running shoes go together."""
    world = World(trending_half_life=HOUR)
    for category, prefix, base in [("books", "b", 50.0), ("shoes/hiking", "h", 30.0),
                                   ("shoes/running", "r", 10.0)]:
        for n in range(6):
            item = f"{prefix}{n}"
            world.set_item(CatalogItem(item, category=category))
            world.set_neighbours(item, base - n, (base - n, 0.0), [])
    world.set_neighbours("r0", 10.0, (10.0, 0.0), [("r1", 0.9), ("r2", 0.6), ("r3", 0.3)])
    return world


_ids = itertools.count()


def config(**ranker: Any) -> EngineConfig:
    return EngineConfig(variants=LEARNED_ONLY,
                        ranker=RankerConfig(**{"min_examples": 60, "min_discordant": 10, **ranker}))


def user_returns_to_an_earlier_item(world: World, cfg: EngineConfig,
                                    ranker: OnlineRanker | None, user: str,
                                    earlier: str) -> dict[str, Any]:
    """The user views ``earlier``, then r0, and is served a list; returns that list.

    The caller then decides what the user does next.
    """
    profile: Profile | None = None
    listing: dict[str, Any] = {}
    for ts, item in enumerate([earlier, "r0"]):
        event = Event(f"e{next(_ids)}", user, item, "view", float(ts))
        outcome = handle_event(profile, event, world, cfg, ranker=ranker)
        assert outcome.profile is not None
        profile, listing = publish_list(outcome.profile, user, world, cfg,
                                        trigger_event_id=event.event_id, now=0.0, ranker=ranker)
    return {"profile": profile, "listing": listing}


def train_on_users_who_return(world: World, cfg: EngineConfig, ranker: OnlineRanker,
                              users: int) -> None:
    """Every user goes back to the item they viewed before r0: the 'recent' feature says it."""
    for n in range(users):
        earlier = ITEMS[n % len(ITEMS)]
        if earlier == "r0":
            continue
        served = user_returns_to_an_earlier_item(world, cfg, ranker, f"u{n}", earlier)
        back = Event(f"e{next(_ids)}", f"u{n}", earlier, "view", 5.0)
        outcome = handle_event(served["profile"], back, world, cfg, ranker=ranker)
        assert outcome.reaction is not None


def listed(listing: dict[str, Any]) -> list[str]:
    return [entry["item_id"] for entry in listing["items"]]


# -- known answer -------------------------------------------------------------


@pytest.mark.parametrize("objective", ["pointwise", "pairwise"])
def test_users_who_return_to_an_earlier_item_teach_the_ranker_to_put_it_first(
    objective: str
) -> None:
    world, cfg = shop(), config(objective=objective)
    ranker = new_ranker(cfg)
    before = user_returns_to_an_earlier_item(world, cfg, ranker, "first", "b5")["listing"]
    assert before["model"]["strategy"] == BLEND  # a cold ranker: the blend's order
    assert listed(before)[0] != "b5"
    train_on_users_who_return(world, cfg, ranker, 300)
    assert ranker.warm and ranker.better  # it beat the blend on the same reactions
    for earlier in ("b5", "h4", "r5"):
        listing = user_returns_to_an_earlier_item(world, cfg, ranker, f"new-{earlier}",
                                                  earlier)["listing"]
        assert listing["model"] == {**listing["model"], "strategy": LEARNED,
                                    "variant": "learned"}
        assert listed(listing)[0] == earlier
    heuristic = replace(cfg, variants=HEURISTIC_ONLY)
    listing = user_returns_to_an_earlier_item(world, heuristic, ranker, "h-user", "b5")["listing"]
    assert (listing["model"]["strategy"], listing["model"]["variant"]) == (BLEND, "heuristic")
    assert listed(listing)[0] != "b5"


def test_with_the_guard_a_warm_ranker_that_has_not_beaten_the_blend_does_not_serve() -> None:
    world, cfg = shop(), config(min_discordant=10_000)
    ranker = new_ranker(cfg)
    train_on_users_who_return(world, cfg, ranker, 150)
    assert ranker.warm and not ranker.better
    listing = user_returns_to_an_earlier_item(world, cfg, ranker, "x", "b5")["listing"]
    assert listing["model"]["strategy"] == BLEND
    unguarded = replace(cfg, ranker=replace(cfg.ranker, guard=False))
    listing = user_returns_to_an_earlier_item(world, unguarded, ranker, "y", "b5")["listing"]
    assert listing["model"]["strategy"] == LEARNED


def test_a_user_without_history_gets_the_blend_even_from_a_serving_ranker() -> None:
    world, cfg = shop(), config()
    ranker = new_ranker(cfg)
    train_on_users_who_return(world, cfg, ranker, 300)
    assert ranker.serving(guard=True)
    listing = recommend(None, "nobody", world, cfg, trigger_event_id=None, now=0.0,
                        ranker=ranker)
    assert listing["model"]["strategy"] == BLEND
    assert listed(listing)[:3] == ["b0", "b1", "b2"]  # trending


def test_every_reaction_is_judged_and_learnt_from_and_the_profile_remembers_its_lists() -> None:
    world, cfg = shop(), config(objective="pointwise")  # one example per row
    ranker = new_ranker(cfg)
    served = user_returns_to_an_earlier_item(world, cfg, ranker, "u1", "b5")
    profile, listing = served["profile"], served["listing"]
    assert profile.served[0]["rec_id"] == listing["rec_id"]
    assert len(profile.served) == cfg.ranker.lists
    shown = listed(listing)
    learnt_before = ranker.examples
    outcome = handle_event(profile, Event("next", "u1", shown[2], "click", 3.0, rec_id=None),
                           world, cfg, ranker=ranker)
    assert outcome.reaction is not None and outcome.reaction.hit
    assert outcome.learned == ranker.examples - learnt_before == 1 + cfg.ranker.negatives
    clicked = handle_event(outcome.profile, Event("fb", "u1", shown[1], "click", 4.0,
                                                  rec_id=listing["rec_id"]),
                           world, cfg, ranker=ranker)
    assert clicked.reaction is not None and clicked.reaction.matched
    assert clicked.learned == 2  # the item, and the one shown above it


def test_every_feature_row_has_one_value_per_feature() -> None:
    world, cfg = shop(), config()
    served = user_returns_to_an_earlier_item(world, cfg, new_ranker(cfg), "u1", "b5")
    record = served["profile"].served[0]
    rows = remembered_rows(record)
    assert rows is not None
    assert len(rows) == len(record["items"]) >= cfg.top_n
    assert all(len(row) == len(FEATURES) for row in rows)


# -- one contract for every strategy --------------------------------------------


def trained(guard: bool) -> tuple[World, EngineConfig, OnlineRanker]:
    world, cfg = shop(), config(guard=guard)
    ranker = new_ranker(cfg)
    train_on_users_who_return(world, cfg, ranker, 200)
    return world, cfg, ranker


Setup = Callable[[], tuple[World, EngineConfig, OnlineRanker | None]]
STRATEGIES: dict[str, Setup] = {
    "blend-no-ranker": lambda: (shop(), config(), None),
    "blend-cold-ranker": lambda: (shop(), config(), new_ranker(config())),
    "learned-ranker": lambda: trained(guard=True),
    "learned-ranker-unguarded": lambda: trained(guard=False),
}


def a_user(world: World, cfg: EngineConfig) -> Profile:
    """Bought b1, viewed h5, then r0 (the item in front of them now)."""
    profile: Profile | None = None
    for ts, (kind, item) in enumerate([("purchase", "b1"), ("view", "h5"), ("view", "r0")]):
        outcome = handle_event(profile, Event(f"a{ts}", "buyer", item, kind, float(ts)),
                               world, cfg)
        profile = outcome.profile
    assert profile is not None
    return profile


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("n", [1, 4, 10, 25])
@pytest.mark.parametrize("cap", [0, 2])
def test_every_strategys_lists_keep_the_list_contract(strategy: str, n: int, cap: int) -> None:
    world, cfg, ranker = STRATEGIES[strategy]()
    cfg = replace(cfg, max_per_category=cap)
    world.set_item(CatalogItem("b2", category="books", available=False))
    world.remove_item("h0")
    profile = a_user(world, cfg)

    def make() -> dict[str, Any]:
        return rank_list(profile, "buyer", world, cfg, trigger_event_id="a2", now=1.0, n=n,
                         ranker=ranker).listing

    listing = make()
    jsonschema.validate(listing, LIST_SCHEMA, cls=jsonschema.Draft202012Validator)
    items = listed(listing)
    assert 0 < len(items) <= n
    assert len(set(items)) == len(items)
    assert {"b1", "b2", "h0", "r0"}.isdisjoint(items)  # purchased, unavailable, removed, current
    assert all(entry["reasons"] and all(entry["reasons"]) for entry in listing["items"])
    scores = [entry["score"] for entry in listing["items"]]
    assert scores == sorted(scores, reverse=True)
    if cap:
        categories = [world.item(i).category for i in items]  # type: ignore[union-attr]
        assert max(categories.count(c) for c in set(categories)) <= cap
    assert make() == listing  # deterministic for the same input
    expected = LEARNED if strategy.startswith("learned") else BLEND
    assert listing["model"]["strategy"] == expected


def test_without_a_learned_variant_no_ranker_is_needed_and_lists_are_still_judged() -> None:
    world, cfg = shop(), replace(config(), variants=HEURISTIC_ONLY, max_per_category=2)
    assert not serves_learned(cfg)
    assert serves_learned(replace(cfg, variants=(Variant("heuristic", 1), Variant("learned", 1))))
    served = user_returns_to_an_earlier_item(world, cfg, None, "u1", "b5")
    listing, profile = served["listing"], served["profile"]
    categories = [world.item(i).category for i in listed(listing)]  # type: ignore[union-attr]
    assert sorted(categories) == ["books"] * 2 + ["shoes/hiking"] * 2 + ["shoes/running"] * 2
    # (the blend's best are running shoes: the cap filled the list from further down)
    assert profile.served[0]["rows"] is None  # nothing to learn from: no features computed
    shown = listed(listing)
    outcome = handle_event(profile, Event("n", "u1", shown[3], "view", 9.0), world, cfg)
    assert outcome.reaction is not None and outcome.reaction.hit
    assert outcome.reaction.variant == "heuristic" and outcome.learned == 0
