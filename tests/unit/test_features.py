"""The learned ranker's view of a candidate pool: one rounded row per item, as an array to
score and packed in a string for a profile to remember."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from engine.candidates import Candidate
from engine.events import CatalogItem
from engine.features import (
    FEATURES,
    candidate_features,
    feature_rows,
    feature_table,
    pack_rows,
    take_rows,
    unpack_rows,
)
from engine.profiles import Profile
from engine.ranker import OnlineRanker, RankerConfig
from engine.ranking import Pool, blend_pool
from engine.world import World


def pool_and_world() -> tuple[Pool, Profile, World]:
    world = World(trending_half_life=3600.0)
    for item, category in [("a", "shoes"), ("b", "shoes"), ("c", "books")]:
        world.set_item(CatalogItem(item, category=category))
    world.set_neighbours("b", 3.0, (3.0, 0.0), [])
    world.set_neighbours("c", 1.0, (1.0, 0.0), [])
    lists = {"co_occurrence": [Candidate("b", 1.0, "co_occurrence", "viewed with a"),
                               Candidate("c", 1 / 3, "co_occurrence", "viewed with a")],
             "trending": [Candidate("c", 1.0, "trending", "trending now")]}
    pool = blend_pool(lists, set(), world.is_recommendable,
                      {"co_occurrence": 1.0, "trending": 0.1}, 5)
    profile = Profile("u", recent=[["a", 1.0, 0.0]], category={"shoes": 3.0, "books": 1.0})
    return pool, profile, world


def test_a_row_says_what_the_sources_the_user_and_the_catalog_say_of_its_item() -> None:
    pool, profile, world = pool_and_world()
    b, c = [dict(zip(FEATURES, row, strict=True))
            for row in candidate_features(pool, profile, world)]
    assert (b["co_occurrence"], b["co_occurrence_rank"], b["trending"]) == (1.0, 1.0, 0.0)
    assert (c["co_occurrence"], c["co_occurrence_rank"], c["trending"]) == (0.3333, 0.5, 1.0)
    assert (b["blend_rank"], c["blend_rank"]) == (1.0, 0.5)
    assert b["popularity"] == round(math.log1p(3.0), 4)
    assert (b["category_share"], b["favourite_category"], b["current_category"]) == \
        (0.75, 1.0, 1.0)
    assert (c["category_share"], c["favourite_category"], c["current_category"]) == \
        (0.25, 0.0, 0.0)
    assert b["recent"] == c["recent"] == 0.0


def test_the_table_and_the_remembered_rows_hold_the_same_rounded_values() -> None:
    pool, profile, world = pool_and_world()
    table = feature_table(pool, profile, world)
    rows = feature_rows(table)
    assert table.shape == (2, len(FEATURES))
    assert all(isinstance(row, tuple) for row in rows)
    assert rows == candidate_features(pool, profile, world)
    assert all(value == round(value, 4) for row in rows for value in row)


def test_packed_rows_unpack_to_the_scored_table_to_the_last_bit() -> None:
    pool, profile, world = pool_and_world()
    table = feature_table(pool, profile, world)
    assert np.array_equal(unpack_rows(pack_rows(table)), table)
    rng = np.random.default_rng(7)  # every feature's range, rounded as the table rounds
    wide = np.round(rng.uniform(-500.0, 500.0, (200, len(FEATURES))), 4)
    wide[rng.random(wide.shape) < 0.5] = 0.0
    packed = pack_rows(wide)
    assert packed.startswith(f"f200x{len(FEATURES)}:")  # four bytes a value sufficed
    assert np.array_equal(unpack_rows(packed), wide)


def test_rows_that_four_bytes_cannot_give_back_exactly_are_kept_in_eight() -> None:
    table = np.array([[1 / 3, 0.0], [1e-9, 2.0**40 + 0.5]])
    packed = pack_rows(table)
    assert packed.startswith("d2x2:")
    assert np.array_equal(unpack_rows(packed), table)


def test_packed_rows_take_less_room_than_json_numbers() -> None:
    rng = np.random.default_rng(3)  # a pool of 20: about half the values are 0
    table = np.round(rng.random((20, len(FEATURES))), 4)
    table[rng.random(table.shape) < 0.5] = 0.0
    assert len(pack_rows(table)) < 0.75 * len(orjson.dumps(table.tolist()))


@pytest.mark.parametrize("seed", range(20))
def test_taking_rows_from_packed_rows_packs_just_those_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count, width = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    table = np.round(rng.uniform(-50.0, 50.0, (count, width)), 4)
    table[rng.random(table.shape) < rng.random()] = 0.0
    if seed % 4 == 0:  # a value four bytes cannot give back exactly: kept in eight
        table[0, 0] = 1 / 3
    indices = [int(i) for i in rng.choice(count, int(rng.integers(0, count + 1)), replace=False)]
    packed = pack_rows(table)
    assert take_rows(packed, indices) == pack_rows(table[indices])
    assert np.array_equal(unpack_rows(take_rows(packed, indices)), table[indices])


@pytest.mark.parametrize("corner", [0.0, 1 / 3])  # 1/3: kept in eight bytes, another path
def test_taking_a_row_a_table_does_not_have_is_an_index_error(corner: float) -> None:
    packed = pack_rows(np.array([[1.0, corner], [0.0, 2.0]]))
    for indices in ([2], [-1], [0, 5]):
        with pytest.raises(IndexError):
            take_rows(packed, indices)


@pytest.mark.parametrize("packed", ["f2x3:", "f2x3:AAAA", "f1x1:@@@@", "rows"])
def test_taking_rows_from_what_is_not_packed_rows_is_a_value_error(packed: str) -> None:
    with pytest.raises(ValueError):
        take_rows(packed, [0])


@pytest.mark.parametrize("packed", ["", "rows", "x2x3:AAAA", "f2x3:", "f2x3:AAAA", "f2:AA",
                                    "f1x1:@@@@"])
def test_unpacking_what_is_not_packed_rows_is_a_value_error(packed: str) -> None:
    with pytest.raises(ValueError):
        unpack_rows(packed)


def test_the_ranker_scores_the_table_exactly_as_it_scores_the_rows() -> None:
    pool, profile, world = pool_and_world()
    ranker = OnlineRanker(RankerConfig(), FEATURES)
    rows = candidate_features(pool, profile, world)
    for _ in range(3):
        ranker.learn([(rows[0], True), (rows[1], False)])
    assert ranker.scores(rows) != [0.0, 0.0]
    assert ranker.scores(feature_table(pool, profile, world)) == ranker.scores(rows)


def test_an_empty_pool_has_no_rows() -> None:
    _pool, profile, world = pool_and_world()
    empty = Pool([], [], {})
    assert feature_table(empty, profile, world).shape == (0, len(FEATURES))
    assert candidate_features(empty, None, world) == []
