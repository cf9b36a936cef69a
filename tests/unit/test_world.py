"""The world keeps every item's popularity in order, so trending lists are exact when made."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import CatalogItem
from engine.world import World

ITEMS = [f"i{n}" for n in range(6)]
CATEGORIES = [None, "shoes", "shoes/running", "shoes/trail", "books"]

set_item = st.tuples(st.just("item"), st.sampled_from(ITEMS), st.sampled_from(CATEGORIES),
                     st.booleans())
remove_item = st.tuples(st.just("remove"), st.sampled_from(ITEMS))
popularity = st.tuples(st.just("popularity"), st.sampled_from(ITEMS),
                       st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 8.0]),  # ties on purpose
                       st.sampled_from([0.0, 100.0, 200.0]))
forget = st.tuples(st.just("forget"), st.sampled_from(ITEMS))


def _apply(world: World, operation: tuple) -> None:  # type: ignore[type-arg]
    kind, item_id, *rest = operation
    if kind == "item":
        category, available = rest
        world.set_item(CatalogItem(item_id, category=category, available=available))
    elif kind == "remove":
        world.remove_item(item_id)
    elif kind == "popularity":
        value, as_of = rest
        world.set_neighbours(item_id, value, (value, as_of), [])
    else:
        world.forget_evidence(item_id)


def _stale_caches_out(world: World) -> None:
    """Enough popularity changes that every cached trending list is made again."""
    for n in range(40):
        world.set_neighbours("filler", 0.5, (0.5 + n, 0.0), [])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(set_item, remove_item, popularity, forget), max_size=60))
def test_trending_lists_after_any_changes_are_those_of_a_world_built_from_the_end_state(
    operations: list[tuple],  # type: ignore[type-arg]
) -> None:
    world = World(trending_half_life=100.0)
    for category in CATEGORIES[1:]:  # asked early: their ranked lists are kept from now on
        world.trending_in(category, 5)
    for operation in operations:
        _apply(world, operation)
    _stale_caches_out(world)

    fresh = World(trending_half_life=100.0)  # the end state, told once
    final_items: dict[str, tuple] = {}  # type: ignore[type-arg]
    final_popularity: dict[str, tuple[float, float]] = {}
    removed: set[str] = set()
    for kind, item_id, *rest in operations:
        if kind == "item":
            final_items[item_id] = tuple(rest)
            removed.discard(item_id)
        elif kind == "remove":
            final_items.pop(item_id, None)
            removed.add(item_id)
        elif kind == "popularity":
            final_popularity[item_id] = (rest[0], rest[1])
        else:
            final_popularity.pop(item_id, None)
    for item_id, (category, available) in final_items.items():
        fresh.set_item(CatalogItem(item_id, category=category, available=available))
    for item_id in removed:
        fresh.remove_item(item_id)
    for item_id, (value, as_of) in final_popularity.items():
        fresh.set_neighbours(item_id, value, (value, as_of), [])
    _stale_caches_out(fresh)

    assert world.trending(20) == fresh.trending(20)
    for category in CATEGORIES[1:]:
        assert world.trending_in(category, 20) == fresh.trending_in(category, 20), category


def test_a_small_worlds_trending_lists_follow_every_popularity_change() -> None:
    """A new deployment's first cold-start lists show the items seen so far, in order."""
    world = World(trending_half_life=100.0)
    for item_id in ("a", "b"):
        world.set_item(CatalogItem(item_id, category="shoes"))
    assert world.trending(10) == [] and world.trending_in("shoes", 10) == []
    world.set_neighbours("a", 1.0, (1.0, 0.0), [])
    assert [i for i, _ in world.trending(10)] == [i for i, _ in world.trending_in("shoes", 10)] \
        == ["a"]
    world.set_neighbours("b", 2.0, (2.0, 0.0), [])
    assert [i for i, _ in world.trending(10)] == [i for i, _ in world.trending_in("shoes", 10)] \
        == ["b", "a"]


def test_a_large_worlds_trending_list_is_made_again_after_changes_to_two_percent_of_it() -> None:
    world = World(trending_half_life=100.0)
    for n in range(1000):
        world.set_neighbours(f"i{n}", 1.0 + n, (1.0 + n, 0.0), [])
    made = (world.trending(10), world.trending_version())
    for n in range(19):  # 19 changes: the list stands (bounded staleness, no walk per list)
        world.set_neighbours(f"i{n}", 5000.0 + n, (5000.0 + n, 0.0), [])
        assert (world.trending(10), world.trending_version()) == made
    world.set_neighbours("i19", 5019.0, (5019.0, 0.0), [])  # the 20th: made again, exact
    assert [i for i, _ in world.trending(3)] == ["i19", "i18", "i17"]
