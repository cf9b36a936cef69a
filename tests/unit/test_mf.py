"""Online matrix factorisation (River BiasedMF): known answers, bounds, erasure, determinism."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from engine.events import Event
from engine.mf import SOURCE, MFConfig, OnlineMF, matrix_factorisation
from engine.pipeline import EngineConfig, handle_event, new_mf, publish_list
from engine.profiles import Profile
from engine.world import World

GROUP_A = [f"a{n}" for n in range(5)]
GROUP_B = [f"b{n}" for n in range(5)]


def two_tastes(kind: str = "view", rounds: int = 20) -> list[Event]:
    """Ten users of group A engage with the a-items, ten of group B with the b-items.

    With ``kind="rating"`` each user also rates one item of the other group 1 (of 5)
    and their own group's items 5.
    """
    events: list[Event] = []
    for r in range(rounds):
        for group, own, other in (("A", GROUP_A, GROUP_B), ("B", GROUP_B, GROUP_A)):
            for u in range(10):
                user = f"{group}{u}"
                item = own[(u + r) % len(own)]
                value = 5.0 if kind == "rating" else None
                events.append(Event(f"{user}-{r}", user, item, kind, float(r), value))
                if kind == "rating":
                    events.append(Event(f"{user}-{r}-x", user, other[(u + r) % len(other)],
                                        "rating", float(r), 1.0))
    return events


def trained(events: list[Event], config: MFConfig | None = None) -> OnlineMF:
    mf = OnlineMF(config or MFConfig(factors=8, negatives=3))
    engaged: dict[str, set[str]] = {}
    for event in events:
        seen = engaged.setdefault(event.user_id, set())
        assert event.item_id is not None
        seen.add(event.item_id)
        mf.learn_event(event, seen)
    return mf


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_new_member_of_a_group_gets_the_groups_items_first(seed: int) -> None:
    mf = trained(two_tastes(), MFConfig(factors=8, negatives=3, seed=seed))
    for n, item in enumerate(["a0", "a1", "a0", "a1"]):
        mf.learn_event(Event(f"new-{n}", "newcomer", item, "view", 20.0 + n), {"a0", "a1"})
    top = [item for item, _ in mf.top("newcomer", 3, exclude={"a0", "a1"})]
    assert sorted(top) == ["a2", "a3", "a4"]


def test_ratings_teach_what_a_user_likes_and_dislikes() -> None:
    mf = trained(two_tastes("rating"))
    mf.learn_event(Event("n1", "newcomer", "b0", "rating", 30.0, 5.0))
    mf.learn_event(Event("n2", "newcomer", "a0", "rating", 31.0, 1.0))
    for liked, disliked in zip(GROUP_B[1:], GROUP_A[1:], strict=True):
        assert mf.predict("newcomer", liked) > mf.predict("newcomer", disliked)  # type: ignore[operator]
    assert mf.rated_highly("newcomer") == ["b0"]


def test_a_rating_is_scaled_to_the_configured_scale() -> None:
    mf = OnlineMF(MFConfig(rating_min=0.0, rating_max=10.0))
    assert mf.target(Event("e", "u", "i", "rating", 0.0, 10.0)) == 1.0
    assert mf.target(Event("e", "u", "i", "rating", 0.0, 2.5)) == 0.25
    assert mf.target(Event("e", "u", "i", "rating", 0.0, 99.0)) == 1.0  # clipped


def test_a_low_rating_takes_the_item_off_the_highly_rated_list() -> None:
    mf = OnlineMF()
    mf.learn_event(Event("e1", "u", "i", "rating", 0.0, 5.0))
    mf.learn_event(Event("e2", "u", "i", "rating", 1.0, 2.0))
    assert mf.rated_highly("u") == []


def test_the_source_explains_by_the_users_highly_rated_item() -> None:
    mf = trained(two_tastes("rating"))
    mf.learn_event(Event("n1", "newcomer", "b0", "rating", 30.0, 5.0))
    profile = Profile("newcomer", recent=[["b0", 4.0, 30.0]])
    found = matrix_factorisation(profile, World(), 3, mf)
    assert [c.item_id for c in found] and all(c.item_id in GROUP_B[1:] for c in found)
    assert {c.reason for c in found} == {"because you rated b0 highly"}
    assert found[0].score == 1.0 and all(c.source == SOURCE for c in found)


def test_the_source_explains_implicit_taste_by_a_recent_item() -> None:
    mf = trained(two_tastes())
    for n, item in enumerate(["a0", "a1"] * 3):
        mf.learn_event(Event(f"new-{n}", "newcomer", item, "view", 20.0 + n), {"a0", "a1"})
    profile = Profile("newcomer", recent=[["a1", 1.0, 25.0], ["a0", 1.0, 24.0]])
    found = matrix_factorisation(profile, World(), 2, mf)
    assert [c.item_id[0] for c in found] == ["a", "a"]
    assert "a1" not in {c.item_id for c in found}  # what the user is on now
    assert all(c.reason == "liked by people who also liked a1" for c in found)


def test_users_and_items_are_bounded_the_least_recently_learnt_go_first() -> None:
    mf = OnlineMF(MFConfig(factors=4, max_users=3, max_items=4, negatives=1))
    for n in range(40):
        mf.learn_event(Event(f"e{n}", f"u{n % 7}", f"i{n % 9}", "view", float(n)))
    assert (mf.users, mf.items) == (3, 4)
    model = mf.model
    assert len(model.u_latents) == len(model.u_biases) == 3  # River's dicts too
    assert len(model.i_latents) <= 4 and len(model.i_biases) <= 4
    assert set(model.u_latents) == {"u2", "u3", "u4"}  # events 37, 38, 39
    assert mf.evicted_users > 0 and mf.evicted_items > 0
    assert len(mf.top("u4", 10)) <= 4


def test_scoring_never_grows_the_model() -> None:
    mf = trained(two_tastes())
    before = (len(mf.model.u_latents), len(mf.model.i_latents))
    assert mf.top("stranger", 5) == [] and mf.predict("stranger", "a0") is None
    assert mf.predict("A0", "unknown-item") is None
    assert (len(mf.model.u_latents), len(mf.model.i_latents)) == before


def test_forget_erases_the_users_factors_and_ratings() -> None:
    mf = trained(two_tastes("rating"))
    assert mf.knows_user("A0") and mf.rated_highly("A0")
    mf.learn_event(Event("f", "A0", None, "forget_user", 99.0))
    assert not mf.knows_user("A0") and mf.rated_highly("A0") == []
    assert "A0" not in mf.model.u_latents and "A0" not in mf.model.u_biases
    assert all(user != "A0" for user, *_ in mf.state()["users"])


def test_the_same_stream_trains_the_same_model() -> None:
    first, second = trained(two_tastes()), trained(two_tastes())
    assert orjson.dumps(first.state()) == orjson.dumps(second.state())
    assert first.top("A3", 5) == second.top("A3", 5)


def test_a_state_survives_json_and_restores_the_same_predictions() -> None:
    mf = trained(two_tastes("rating"), MFConfig(factors=8))
    again = OnlineMF.restore(orjson.loads(orjson.dumps(mf.state())), MFConfig(factors=8))
    assert again.top("A1", 5) == mf.top("A1", 5)
    assert again.rated_highly("A1") == mf.rated_highly("A1")
    assert again.learnt == mf.learnt
    event = Event("next", "A1", "a3", "view", 50.0)
    mf.learn_event(event, {"a3"})
    again.learn_event(event, {"a3"})
    assert again.predict("A1", "a3") == pytest.approx(mf.predict("A1", "a3"))


def test_a_restored_model_keeps_every_item_in_its_row_and_scores_to_the_last_bit() -> None:
    # max_items 6 of 10 items: four rows were freed by eviction and reused
    mf = trained(two_tastes("rating"), MFConfig(factors=8, max_items=6))
    assert mf.evicted_items > 0
    again = OnlineMF.restore(orjson.loads(orjson.dumps(mf.state())), MFConfig(factors=8,
                                                                                max_items=6))
    assert again.state() == mf.state()  # the same items in the same rows, the same free rows
    for user in ("A1", "B2"):
        assert again.top(user, 6) == mf.top(user, 6)
    event = Event("new item", "A1", "c0", "view", 50.0)
    mf.learn_event(event, {"c0"})
    again.learn_event(event, {"c0"})
    assert again.state()["items"][-1] == mf.state()["items"][-1]  # c0, in the same row
    assert again.top("A1", 6) == mf.top("A1", 6)


def test_a_state_saved_before_rows_were_kept_still_restores() -> None:
    mf = trained(two_tastes("rating"), MFConfig(factors=8))
    state = orjson.loads(orjson.dumps(mf.state()))
    del state["rows"]
    state["items"] = [entry[:3] for entry in state["items"]]
    again = OnlineMF.restore(state, MFConfig(factors=8))
    assert [item for item, _ in again.top("A1", 5)] == [item for item, _ in mf.top("A1", 5)]
    assert [score for _, score in again.top("A1", 5)] == pytest.approx(
        [score for _, score in mf.top("A1", 5)])


def test_a_state_whose_rows_do_not_add_up_takes_rows_in_order() -> None:
    mf = trained(two_tastes("rating"), MFConfig(factors=8))
    state = orjson.loads(orjson.dumps(mf.state()))
    state["rows"]["used"] = 3  # fewer rows than items
    again = OnlineMF.restore(state, MFConfig(factors=8))
    assert sorted(row for *_, row in again.state()["items"]) == list(range(mf.items))
    assert [item for item, _ in again.top("A1", 5)] == [item for item, _ in mf.top("A1", 5)]


@pytest.mark.parametrize("change", [{"version": 99}, {"factors": 3}])
def test_a_state_of_another_format_is_refused(change: dict[str, int]) -> None:
    state = {**trained(two_tastes()).state(), **change}
    with pytest.raises(ValueError):
        OnlineMF.restore(state, MFConfig(factors=8))


def test_the_pipeline_learns_every_event_and_forgets_a_forgotten_user() -> None:
    config = replace(EngineConfig(), weights={SOURCE: 1.0})
    world, mf = World(), new_mf(config)
    profiles: dict[str, Profile] = {}
    for event in two_tastes():
        out = handle_event(profiles.get(event.user_id), event, world, config, mf=mf)
        assert out.profile is not None and out.mf_learned >= 1
        profiles[event.user_id] = out.profile
    profile, listing = publish_list(profiles["A0"], "A0", world, config,
                                    trigger_event_id="t", now=0.0, mf=mf)
    assert listing["items"] and {i["item_id"] for i in listing["items"][:3]} <= set(GROUP_A)
    assert all(i["reasons"][0].startswith("liked by people who also liked")
               for i in listing["items"][:3])
    handle_event(profile, Event("bye", "A0", None, "forget_user", 99.0), world, config, mf=mf)
    assert not mf.knows_user("A0")


def test_without_a_model_the_blend_has_no_matrix_factorisation_candidates() -> None:
    config = replace(EngineConfig(), weights={SOURCE: 1.0})
    world, profile = World(), Profile("u", recent=[["a0", 1.0, 0.0]])
    _, listing = publish_list(profile, "u", world, config, trigger_event_id="t", now=0.0)
    assert listing["items"] == []
