"""Candidate sources: one contract every source passes, then each source's known answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.candidates import (
    SOURCES,
    Candidate,
    Source,
    bought_together,
    category_affinity,
    co_occurrence,
    similar_users,
    trending,
)
from engine.events import CatalogItem, Event
from engine.mf import SOURCE as MF_SOURCE
from engine.mf import MFConfig, OnlineMF, matrix_factorisation
from engine.pipeline import SOURCE_NAMES
from engine.privacy import engager_key
from engine.profiles import Profile
from engine.world import World

HOUR = 3600.0


def shop() -> World:
    """Three categories of five items; popularity falls with the item number.

    Books are the most popular, then hiking shoes, then running shoes; the
    running shoes are viewed together, and r0 also goes with a book; r0 is
    bought together with r2, r1 with the book b1; after r1 people mostly look
    at r3. Besides the runner (u1), u7 had r1 and r4 among their recent items,
    u8 r1, r0 and h2.
    """
    world = World(trending_half_life=HOUR)
    for category, prefix, base in [("books", "b", 50.0), ("shoes/hiking", "h", 30.0),
                                   ("shoes/running", "r", 10.0)]:
        for n in range(5):
            item = f"{prefix}{n}"
            world.set_item(CatalogItem(item, category=category))
            world.set_neighbours(item, base - n, (base - n, 0.0), [])
    world.set_neighbours("r0", 10.0, (10.0, 0.0), [("r1", 0.9), ("r2", 0.6), ("b0", 0.2)],
                         bought=[("r2", 0.4)])
    world.set_neighbours("r1", 9.0, (9.0, 0.0), [("r0", 0.9), ("r3", 0.5)],
                         following=[("r3", 0.7), ("b1", 0.3)], bought=[("b1", 0.2)])
    world.set_item(CatalogItem("gone", category="books", available=False))
    world.set_neighbours("gone", 100.0, (100.0, 0.0), [])
    for item, users in [("r1", ["u7", "u1", "u8"]), ("r0", ["u1", "u8"]), ("r4", ["u7"]),
                        ("h2", ["u8"]), ("b3", ["u1"])]:
        world.set_engagers(item, [engager_key(user) for user in users])
    return world


def runner() -> Profile:
    """Viewed r1 last, bought r0 before; likes running shoes, a little books."""
    return Profile("u1", recent=[["r1", 1.0, 20.0], ["r0", 8.0, 10.0]],
                   category={"shoes/running": 9.0, "books": 1.0}, purchased=["r0"])


Scenario = Callable[[], tuple[Profile | None, World]]
SCENARIOS: dict[str, Scenario] = {
    "cold-start": lambda: (None, shop()),
    "warm": lambda: (runner(), shop()),
    "empty-world": lambda: (runner(), World()),
    "cold-and-empty": lambda: (None, World()),
    "profile-without-history": lambda: (Profile("u2"), shop()),
}


def shop_taste() -> OnlineMF:
    """A matrix factorisation model that learnt u1 (the runner) and two other shoppers."""
    mf = OnlineMF(MFConfig(factors=4))
    history = {"u1": ["r0", "r1", "r2", "gone"], "u7": ["b0", "b1", "b2"],
               "u8": ["r1", "r3", "h0", "r4"]}
    for n in range(5):
        for user, items in history.items():
            for item in items:
                mf.learn_event(Event(f"{user}-{item}-{n}", user, item, "view", float(n)),
                               set(items))
    mf.learn_event(Event("u1-rates", "u1", "r1", "rating", 9.0, 5.0), set(history["u1"]))
    return mf


def _matrix_factorisation(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    return matrix_factorisation(profile, world, limit, shop_taste())


#: Every source as ``(profile, world, limit)``; those scored by a model get a trained one.
ALL_SOURCES: dict[str, Source] = {**SOURCES, MF_SOURCE: _matrix_factorisation}


# -- the contract -------------------------------------------------------------


def test_the_contract_covers_every_source_the_blend_knows() -> None:
    assert set(ALL_SOURCES) == set(SOURCE_NAMES)


@pytest.fixture(params=sorted(ALL_SOURCES))
def source(request: pytest.FixtureRequest) -> tuple[str, Source]:
    return request.param, ALL_SOURCES[request.param]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("limit", [1, 3, 100])
def test_every_source_keeps_the_candidate_contract(
    source: tuple[str, Source], scenario: str, limit: int
) -> None:
    name, propose = source
    profile, world = SCENARIOS[scenario]()
    found = propose(profile, world, limit)
    assert isinstance(found, list)
    assert all(isinstance(c, Candidate) for c in found)
    assert len(found) <= limit
    assert all(0.0 <= c.score <= 1.0 for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert len({c.item_id for c in found}) == len(found)
    assert all(c.reason.strip() for c in found)
    assert {c.source for c in found} <= {name}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_source_is_deterministic(source: tuple[str, Source], scenario: str) -> None:
    _, propose = source
    profile, world = SCENARIOS[scenario]()
    assert propose(profile, world, 10) == propose(profile, world, 10)


@pytest.mark.parametrize("propose", [trending, category_affinity])
def test_popularity_sources_never_propose_an_unavailable_item(propose: Source) -> None:
    profile = Profile("u5", category={"books": 1.0})
    assert "gone" not in {c.item_id for c in propose(profile, shop(), 100)}


def test_matrix_factorisation_never_proposes_an_unavailable_or_bought_item() -> None:
    found = {c.item_id for c in _matrix_factorisation(runner(), shop(), 100)}
    assert found, "the runner is known to the model"
    assert not found & {"gone", "r0", "r1"}  # unavailable, bought, being looked at


def test_every_source_gives_something_to_a_warm_user_in_a_known_shop(
    source: tuple[str, Source]
) -> None:
    _, propose = source
    assert propose(runner(), shop(), 10)


# -- co-occurrence ------------------------------------------------------------


def test_co_occurrence_proposes_the_neighbours_of_recent_items_most_recent_first() -> None:
    found = co_occurrence(runner(), shop(), 10)
    # r1 (rank 0, weight 1): r0 .9, r3 .5; r0 (rank 1, weight 8 / 2 = 4): r1 .9*4, r2 .6*4, b0 .8
    assert [(c.item_id, c.score) for c in found] == [
        ("r1", 1.0), ("r2", pytest.approx(2.4 / 3.6)), ("r0", pytest.approx(0.9 / 3.6)),
        ("b0", pytest.approx(0.8 / 3.6)), ("r3", pytest.approx(0.5 / 3.6)),
    ]


def test_co_occurrence_explains_each_item_by_the_seed_that_contributed_most() -> None:
    reasons = {c.item_id: c.reason for c in co_occurrence(runner(), shop(), 10)}
    assert reasons["r2"] == "often viewed together with r0"
    assert reasons["r3"] == "often viewed together with r1"


def test_co_occurrence_has_nothing_for_a_user_without_history() -> None:
    assert co_occurrence(None, shop(), 10) == []
    assert co_occurrence(Profile("u2"), shop(), 10) == []


# -- bought together ----------------------------------------------------------


def test_bought_together_proposes_what_was_bought_with_recent_items_explained_so() -> None:
    found = bought_together(runner(), shop(), 10)
    # r1 (rank 0, weight 1): b1 .2; r0 (rank 1, weight 8 / 2 = 4): r2 .4*4
    assert [(c.item_id, c.score, c.reason) for c in found] == [
        ("r2", 1.0, "often bought together with r0"),
        ("b1", pytest.approx(0.2 / 1.6), "often bought together with r1"),
    ]


def test_bought_together_has_nothing_where_nothing_was_bought_together() -> None:
    world = shop()
    for item in ("r0", "r1"):
        world.set_neighbours(item, 1.0, (1.0, 0.0), world.neighbours(item))
    assert bought_together(runner(), world, 10) == []
    assert co_occurrence(runner(), world, 10), "viewed together all the same"


# -- similar users ------------------------------------------------------------


def test_similar_users_proposes_what_the_most_similar_users_engaged_with() -> None:
    found = similar_users(runner(), shop(), 10)
    # the runner's items weigh r1 1, r0 1/2 (squared length 1.25);
    # u8 shares both of 3 items: 1.5 / sqrt(1.25 * 3); u7 shares r1 of 2: 1 / sqrt(1.25 * 2)
    u8, u7 = 1.5 / (1.25 * 3) ** 0.5, 1 / (1.25 * 2) ** 0.5
    assert [(c.item_id, c.score) for c in found] == [("h2", 1.0), ("r4", pytest.approx(u7 / u8))]
    assert {c.reason for c in found} == {"users with similar taste liked it"}


def test_similar_users_leaves_out_the_user_themself_and_what_they_engaged_with_or_bought() -> None:
    world = shop()
    world.set_engagers("h3", [engager_key("u8")])
    buyer = runner()
    buyer.purchased.append("h3")
    found = {c.item_id for c in similar_users(buyer, world, 100)}
    assert "b3" not in found, "only the user themself engaged with b3"
    assert found.isdisjoint({"r0", "r1", "h3"}), "recent and purchased items"
    assert found == {"h2", "r4"}


def test_similar_users_compares_by_cosine_a_smaller_overlap_of_a_narrower_user_wins() -> None:
    world = World()
    world.set_engagers("a", [engager_key("narrow"), engager_key("broad")])
    world.set_engagers("x", [engager_key("narrow")])
    for item in ("y", "z", "w"):
        world.set_engagers(item, [engager_key("broad")])
    found = similar_users(Profile("u", recent=[["a", 1.0, 0.0]]), world, 10)
    assert found[0].item_id == "x"
    assert [c.score for c in found] == [1.0, *[pytest.approx(2**0.5 / 2)] * 3]


def test_similar_users_proposes_the_items_of_the_20_most_similar_users_only() -> None:
    world = World()
    users = [f"v{n:02}" for n in range(30)]
    world.set_engagers("a", [engager_key(user) for user in users])
    for n, user in enumerate(users):  # v00 engaged with one more item, v29 with thirty
        for k in range(n + 1):
            world.set_engagers(f"{user}-{k}", [engager_key(user)])
    found = similar_users(Profile("u", recent=[["a", 1.0, 0.0]]), world, 1000)
    owners = {c.item_id.split("-")[0] for c in found}
    assert owners == {f"v{n:02}" for n in range(20)}, "the narrowest users are the most similar"


def test_similar_users_has_nothing_without_history_or_without_other_users() -> None:
    world = shop()
    assert similar_users(None, world, 10) == []
    assert similar_users(Profile("u2"), world, 10) == []
    lonely = World()
    lonely.set_engagers("r1", [engager_key("u1")])
    assert similar_users(runner(), lonely, 10) == []


# -- category affinity --------------------------------------------------------


def test_category_affinity_proposes_popular_items_of_the_liked_categories() -> None:
    found = category_affinity(runner(), shop(), 3)
    assert [c.item_id for c in found] == ["r0", "r1", "r2"]
    assert found[0].reason == "popular in shoes/running, which you like"


def test_category_affinity_weights_categories_by_the_users_interest() -> None:
    found = category_affinity(runner(), shop(), 100)
    books = [c for c in found if c.item_id.startswith("b")]
    assert {c.item_id for c in found} == {f"r{n}" for n in range(5)} | {f"b{n}" for n in range(5)}
    assert max(c.score for c in books) == pytest.approx(0.1 / 0.9)


def test_category_affinity_covers_sub_categories_of_a_liked_category() -> None:
    found = category_affinity(Profile("u3", category={"shoes": 1.0}), shop(), 100)
    assert {c.item_id for c in found} == {f"r{n}" for n in range(5)} | {f"h{n}" for n in range(5)}


def test_category_affinity_ignores_disliked_categories() -> None:
    assert category_affinity(Profile("u4", category={"books": -4.0}), shop(), 10) == []


# -- trending -----------------------------------------------------------------


def test_trending_is_the_same_for_everyone_most_popular_first() -> None:
    world = shop()
    assert trending(None, world, 10) == trending(runner(), world, 10)
    assert [c.item_id for c in trending(None, world, 3)] == ["b0", "b1", "b2"]
    assert trending(None, world, 1)[0].score == 1.0


def test_trending_follows_event_time_a_fresh_hit_beats_an_old_one() -> None:
    world = World(trending_half_life=HOUR)
    world.set_neighbours("old", 8.0, (8.0, 0.0), [])
    world.set_neighbours("new", 1.0, (1.0, 4 * HOUR), [])  # 8 halved four times is 0.5
    assert [(c.item_id, c.score) for c in trending(None, world, 2)] == [
        ("new", 1.0), ("old", pytest.approx(0.5)),
    ]


def test_trending_leaves_out_removed_and_unavailable_items() -> None:
    world = shop()
    world.remove_item("b0")
    assert {"gone", "b0"}.isdisjoint(c.item_id for c in trending(None, world, 100))


def test_content_based_finds_a_new_item_nobody_has_touched_by_its_category_and_tags() -> None:
    from engine.candidates import content_based

    world = World()
    world.set_item(CatalogItem("old-shoe", category="shoes/running", tags=("trail",)))
    world.set_item(CatalogItem("book", category="books"))
    world.set_item(CatalogItem("new-shoe", category="shoes/running", tags=("trail",),
                               brand="acme"))
    user = Profile("u", category={"shoes/running": 3.0}, tag={"trail": 2.0})
    found = content_based(user, world, 5)
    assert {c.item_id for c in found} == {"old-shoe", "new-shoe"}, "books do not match"
    assert all(c.reason.startswith("matches your interest in") for c in found)


def test_blend_weights_come_from_the_setting_and_unknown_sources_are_refused() -> None:
    from engine.errors import SettingsError
    from engine.pipeline import EngineConfig
    from engine.settings import load_settings

    config = EngineConfig.from_settings(load_settings({"ENGINE_BLEND_WEIGHTS": "content:0.2"}))
    assert config.weights["content"] == 0.2 and config.weights["sequence"] == 1.0
    with pytest.raises(SettingsError, match="ENGINE_BLEND_WEIGHTS"):
        EngineConfig.from_settings(load_settings({"ENGINE_BLEND_WEIGHTS": "magic:1"}))
