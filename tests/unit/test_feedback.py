"""Reactions to served lists: judged against the list in force, turned into examples."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from engine.events import Event
from engine.feedback import react, remember, remembered_rows, served_record
from engine.profiles import Profile

POOL = ["a", "b", "c", "d", "e", "f"]
ROWS = np.array([[float(n)] for n in range(len(POOL))])  # row of item n is [n]


def record(rec_id: str = "r-1", shown: list[int] | None = None,
           compare: tuple[list[int], list[int]] | None = None) -> dict[str, Any]:
    return served_record(rec_id, "learned", "blend", POOL, ROWS,
                         shown=[0, 1, 2] if shown is None else shown, compare=compare)


def event(item: str, event_id: str = "e1", kind: str = "click", rec_id: str | None = None,
          value: float | None = None) -> Event:
    return Event(event_id, "u1", item, kind, 10.0, value=value, rec_id=rec_id)


def test_without_a_list_in_force_there_is_nothing_to_judge() -> None:
    assert react([], event("a"), negatives=2, positive=True) is None


def test_the_next_item_shown_in_the_list_in_force_is_a_hit() -> None:
    reaction = react([record()], event("b"), negatives=2, positive=True)
    assert reaction is not None
    assert (reaction.hit, reaction.variant, reaction.strategy) == (True, "learned", "blend")
    assert (reaction.named, reaction.matched) == (False, False)


def test_implicit_feedback_the_item_is_a_positive_and_a_few_other_candidates_negatives() -> None:
    reaction = react([record()], event("e"), negatives=3, positive=True)
    assert reaction is not None
    assert reaction.hit is False  # in the pool, but not shown
    (positive, *negatives) = reaction.examples
    assert positive == ([4.0], True)
    assert len(negatives) == 3
    assert all(not clicked and row != [4.0] for row, clicked in negatives)
    assert len({row[0] for row, _ in negatives}) == 3


def test_negatives_are_sampled_the_same_way_for_the_same_event_and_differently_for_others(
) -> None:
    def negatives(event_id: str) -> list[float]:
        found = react([record()], event("e", event_id), negatives=2, positive=True)
        assert found is not None
        return [row[0] for row, clicked in found.examples if not clicked]

    assert negatives("e1") == negatives("e1")
    assert len({tuple(negatives(f"e{n}")) for n in range(20)}) > 1


def test_an_item_outside_the_pool_teaches_nothing_and_misses() -> None:
    reaction = react([record()], event("zz"), negatives=3, positive=True)
    assert reaction is not None
    assert (reaction.hit, reaction.examples, reaction.comparison) == (False, (), None)


def test_explicit_feedback_the_item_is_a_positive_and_the_items_shown_above_it_negatives() -> None:
    served = record(shown=[3, 1, 0, 2])
    reaction = react([served], event("a", rec_id="r-1"), negatives=5, positive=True)
    assert reaction is not None
    assert (reaction.named, reaction.matched) == (True, True)
    assert reaction.examples == (([0.0], True), ([3.0], False), ([1.0], False))
    assert reaction.comparison is None  # explicit clicks follow what was shown: no comparison


def test_explicit_feedback_on_the_top_item_is_a_lone_positive() -> None:
    reaction = react([record()], event("a", rec_id="r-1"), negatives=5, positive=True)
    assert reaction is not None and reaction.examples == (([0.0], True),)


def test_explicit_feedback_may_name_an_older_list_and_is_judged_against_that_list() -> None:
    older = record("r-old", shown=[5, 4])
    reaction = react([record("r-new"), older], event("e", rec_id="r-old"), negatives=5,
                     positive=True)
    assert reaction is not None
    assert reaction.matched
    assert reaction.examples == (([4.0], True), ([5.0], False))
    assert reaction.hit is False  # the list in force is the newer one, which did not show e


def test_a_rec_id_the_profile_does_not_remember_counts_as_implicit_feedback() -> None:
    reaction = react([record()], event("e", rec_id="r-unknown"), negatives=2, positive=True)
    assert reaction is not None
    assert (reaction.named, reaction.matched) == (True, False)
    assert reaction.examples[0] == ([4.0], True)
    assert reaction.comparison is None  # a reaction to a list, not an organic next event


@pytest.mark.parametrize("rec_id", [None, "r-1"])
def test_a_low_rating_makes_its_item_a_negative_only(rec_id: str | None) -> None:
    reaction = react([record()], event("b", kind="rating", value=1.0, rec_id=rec_id),
                     negatives=2, positive=False)
    assert reaction is not None
    assert reaction.examples == (([1.0], False),)


def test_the_comparison_says_which_of_the_two_top_lists_held_the_next_item() -> None:
    served = record(compare=([0, 1, 2], [4, 0, 1]))
    found = [react([served], event(item), negatives=1, positive=True) for item in "eadf"]
    assert [r.comparison if r else None for r in found] == [
        (False, True), (True, True), (False, False), (False, False)]


# -- what the profile remembers -------------------------------------------------


def test_the_newest_list_is_in_force_and_older_ones_keep_only_what_was_shown() -> None:
    profile = Profile("u1")
    profile = remember(profile, record("r-1", shown=[4, 2]), keep=2)
    profile = remember(profile, record("r-2", compare=([0], [1])), keep=2)
    profile = remember(profile, record("r-3"), keep=2)
    newest, older = profile.served
    assert newest["rec_id"] == "r-3" and list(newest["items"]) == POOL
    assert older["rec_id"] == "r-2"
    rows = remembered_rows(older)
    assert rows is not None
    assert (list(older["items"]), [list(row) for row in rows], list(older["shown"]),
            older["compare"]) == (["a", "b", "c"], [[0.0], [1.0], [2.0]], [0, 1, 2], None)


def test_with_keep_zero_nothing_is_remembered() -> None:
    assert remember(Profile("u1"), record(), keep=0).served == []


def test_remembered_lists_survive_the_profiles_serialisation() -> None:
    profile = remember(Profile("u1"), record(compare=([0, 1], [1, 0])), keep=2)
    again = Profile.from_dict(profile.to_dict())
    assert again.served == profile.served
    reaction = react(again.served, event("b"), negatives=1, positive=True)
    assert reaction is not None and reaction.hit


def test_a_remembered_list_keeps_its_rows_packed_in_one_string_through_json() -> None:
    profile = remember(Profile("u1"), record(), keep=2)
    assert isinstance(profile.served[0]["rows"], str)
    again = Profile.from_dict(orjson.loads(orjson.dumps(profile.to_dict())))
    reaction = react(again.served, event("e"), negatives=2, positive=True)
    assert reaction is not None and reaction.examples[0] == ([4.0], True)


def test_a_list_remembered_with_rows_as_json_arrays_by_an_older_version_still_teaches() -> None:
    older = {**record(), "rows": [[float(n)] for n in range(len(POOL))]}
    reaction = react([older], event("e"), negatives=2, positive=True)
    assert reaction is not None and reaction.examples[0] == ([4.0], True)
    compacted = remember(remember(Profile("u1"), older, keep=2), record("r-2"), keep=2)
    rows = remembered_rows(compacted.served[1])
    assert rows is not None and [list(row) for row in rows] == [[0.0], [1.0], [2.0]]


@pytest.mark.parametrize("rows", ["f6x1:not base64!", "f6x1:gA==", {"a": 1}, 6.0])
def test_rows_that_cannot_be_read_teach_nothing_and_stop_nothing(rows: Any) -> None:
    broken = {**record(), "rows": rows}
    reaction = react([broken], event("b"), negatives=2, positive=True)
    assert reaction is not None
    assert (reaction.hit, reaction.examples) == (True, ())


def test_a_profile_stored_before_lists_were_remembered_still_loads() -> None:
    old = Profile("u1").to_dict()
    del old["served"]
    assert Profile.from_dict(old).served == []


def test_a_list_remembered_without_features_is_judged_but_teaches_nothing() -> None:
    bare = served_record("r-1", "heuristic", "blend", ["a", "b"], None, shown=[0, 1])
    for rec_id in (None, "r-1"):
        reaction = react([bare], event("b", rec_id=rec_id), negatives=2, positive=True)
        assert reaction is not None
        assert (reaction.hit, reaction.examples, reaction.comparison) == (True, (), None)
