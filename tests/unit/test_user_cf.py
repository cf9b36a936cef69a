"""User-based collaborative filtering end to end in one process: rows, world, source, erasure.

Synthetic streams with a known answer: who engaged with what decides which
users are similar, and the item rows' engagers (hashed user keys) are the
only way a worker learns about other users.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.candidates import similar_users
from engine.events import Event
from engine.pipeline import EngineConfig
from engine.privacy import engager_key
from engine.profiles import Erasure, PairUpdate, ProfileLimits
from engine.settings import load_settings
from engine.similarity import ItemRow, RowIncrement, RowLimits, apply_increments
from engine.simulation import Simulation

REASON = "users with similar taste liked it"


def simulate(events: list[tuple[str, str, str]], config: EngineConfig | None = None
             ) -> Simulation:
    """(user, item, type) events, one second apart."""
    sim = Simulation(config or EngineConfig())
    for n, (user, item, kind) in enumerate(events):
        sim.apply(Event(f"e{n}", user, item or None, kind, float(n)))
    return sim


def proposed(sim: Simulation, user: str) -> list[str]:
    return [c.item_id for c in similar_users(sim.profiles.get(user), sim.world, 10)]


def keys_on_rows(sim: Simulation, user: str) -> set[str]:
    return {item for item, row in sim.rows.items() if engager_key(user) in row.engagers}


OVERLAP = [("u1", "a", "view"), ("u1", "b", "view"), ("u1", "c", "view"),
           ("u2", "a", "view"), ("u2", "b", "view")]


def test_a_user_is_proposed_what_a_user_with_overlapping_items_engaged_with() -> None:
    sim = simulate(OVERLAP)
    assert proposed(sim, "u2") == ["c"]
    listing = sim.recommend("u2", weights={"similar_users": 1.0})
    assert [(i["item_id"], i["reasons"]) for i in listing["items"]] == [("c", [REASON])]


def test_the_user_themself_is_never_a_similar_user() -> None:
    sim = simulate([("u1", "a", "view"), ("u1", "b", "view")])
    assert keys_on_rows(sim, "u1") == {"a", "b"}
    assert proposed(sim, "u1") == []


def test_purchased_and_recent_items_are_never_proposed_nor_listed() -> None:
    sim = simulate([*OVERLAP, ("u2", "d", "purchase"), ("u1", "d", "view"),
                    ("u2", "x", "view")])
    # u1 had a, b, c and d; u2 has a and b among their recent items, bought d, looks at x
    assert proposed(sim, "u2") == ["c"]
    listing = sim.recommend("u2", weights={"similar_users": 1.0})
    assert [i["item_id"] for i in listing["items"]] == ["c"]


def test_the_engagers_reach_the_world_through_the_row_summaries() -> None:
    sim = simulate(OVERLAP)
    summary = sim.rows["a"].summary(sim.world.weights, 5, RowLimits())
    assert summary["engagers"] == [engager_key("u2"), engager_key("u1")]  # latest first
    assert "engagers" not in ItemRow("z", weight=1.0).summary({}, 5, RowLimits())
    assert set(sim.world.engaged_items(engager_key("u1"))) == {"a", "b", "c"}
    assert "u1" not in str(summary) and "u2" not in str(summary), "hashed, never ids"


def test_forget_user_removes_the_user_from_every_row_and_from_the_world() -> None:
    sim = simulate([*OVERLAP, ("u1", "", "forget_user")])
    assert keys_on_rows(sim, "u1") == set()
    assert list(sim.world.engaged_items(engager_key("u1"))) == []
    assert sim.world.engagers("c") == ()
    assert proposed(sim, "u2") == [], "nobody left to be similar to"
    assert keys_on_rows(sim, "u2") == {"a", "b"}, "the others stay"


def test_a_row_knows_a_user_only_while_the_item_is_among_the_users_recent_items() -> None:
    config = EngineConfig(profile_limits=ProfileLimits(recent_items=3))
    sim = simulate([("u1", item, "view") for item in "abcde"], config)
    assert keys_on_rows(sim, "u1") == {"c", "d", "e"}
    assert set(sim.world.engaged_items(engager_key("u1"))) == {"c", "d", "e"}
    sim.apply(Event("again", "u1", "a", "view", 10.0))  # back among the recent items
    assert keys_on_rows(sim, "u1") == {"a", "d", "e"}
    sim.apply(Event("bye", "u1", None, "forget_user", 11.0))
    assert keys_on_rows(sim, "u1") == set(), "forget finds every row that knows the user"


def test_a_row_keeps_its_latest_engagers_up_to_the_bound_whatever_the_arrival_order() -> None:
    limits = RowLimits(engagers=3)
    increments = [RowIncrement(1.0, {}, float(ts), engager=f"k{ts}", source=(0, ts))
                  for ts in range(6)]

    def row_from(order: list[RowIncrement]) -> ItemRow:
        row = None
        for offset, increment in enumerate(order):
            row, _ = apply_increments(row, "a", [replace(increment, source=None)], offset,
                                      limits)
        assert row is not None
        return row

    forwards, backwards = row_from(increments), row_from(increments[::-1])
    assert forwards.engagers == backwards.engagers == {"k5": 5.0, "k4": 4.0, "k3": 3.0}
    sim = simulate([(f"u{n}", "a", "view") for n in range(30)])
    assert len(sim.rows["a"].engagers) == RowLimits().engagers == 20
    assert sim.world.engagers("a")[0] == engager_key("u29")


def test_engager_increments_sent_again_are_applied_once() -> None:
    limits = RowLimits()
    row, _ = apply_increments(None, "a", [RowIncrement(1.0, {}, 5.0, source=(0, 5),
                                                       engager="k1")], 1, limits)
    erase = RowIncrement(0.0, {}, 9.0, source=(0, 4), forget=("k1",))
    row, applied = apply_increments(row, "a", [erase], 2, limits)
    assert not applied and "k1" in row.engagers, "an older erasure sent again is skipped"
    row, applied = apply_increments(row, "a", [replace(erase, source=(0, 6))], 3, limits)
    assert applied and row.engagers == {}
    assert (row.weight, row.pair_ts) == (1.0, 5.0), "an erasure changes nothing else"
    _, applied = apply_increments(None, "gone", [replace(erase, source=None)], 4, limits)
    assert not applied, "no row is made to forget a user it never had (an evicted row)"


def test_the_interaction_that_pushes_an_item_out_tells_its_row_to_forget_the_user() -> None:
    from engine.similarity import row_increments

    update = PairUpdate("n", 1.0, (("m", 1.0),), 3.0, user="k1", dropped=("m",))
    increments = row_increments(update)
    assert increments["n"].engager == "k1"
    assert increments["m"].pairs == {"n": 1.0} and increments["m"].forget == ("k1",)
    assert row_increments(Erasure("k1", ("a",), 4.0))["a"].forget == ("k1",)


def test_the_bound_of_engagers_comes_from_the_setting_and_zero_keeps_none() -> None:
    config = EngineConfig.from_settings(load_settings({"ENGINE_ITEM_ENGAGERS": "0"}))
    assert config.row_limits.engagers == 0
    sim = simulate(OVERLAP, config)
    assert all(not row.engagers for row in sim.rows.values())
    assert proposed(sim, "u2") == []
    with pytest.raises(Exception, match="ENGINE_ITEM_ENGAGERS"):
        load_settings({"ENGINE_ITEM_ENGAGERS": "-1"})


def test_the_source_is_deterministic_on_a_real_shaped_stream() -> None:
    events = [(f"u{n % 7}", f"i{(n * 3) % 11}", "view") for n in range(120)]
    first, second = simulate(events), simulate(events)
    for user in (f"u{n}" for n in range(7)):
        profile = first.profiles[user]
        assert similar_users(profile, first.world, 10) == similar_users(
            second.profiles[user], second.world, 10)
