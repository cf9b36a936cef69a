"""The online learned ranker: it learns what predicts clicks, ranks by it, and is trusted only
once it has learnt enough and beats the blend."""

from __future__ import annotations

import random

import pytest

from engine.ranker import OnlineRanker, RankerConfig, probability

OBJECTIVES = ["pointwise", "pairwise"]


def clicks_follow_the_first_column(ranker: OnlineRanker, reactions: int, seed: int = 7) -> None:
    """Each reaction: one clicked row (first column 1), three not clicked (first column 0);
    the other columns are noise."""
    rng = random.Random(seed)
    for _ in range(reactions):
        group = [([1.0, rng.random(), rng.random() * 10], True)]
        group += [([0.0, rng.random(), rng.random() * 10], False) for _ in range(3)]
        rng.shuffle(group)
        ranker.learn(group)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_feature_that_predicts_clicks_perfectly_is_learnt_to_rank_first(objective: str) -> None:
    ranker = OnlineRanker(RankerConfig(objective=objective, min_examples=100))
    clicks_follow_the_first_column(ranker, 300)
    rng = random.Random(99)
    for _ in range(50):
        rows = [[0.0, rng.random(), rng.random() * 10] for _ in range(9)]
        best = rng.randrange(10)
        rows.insert(best, [1.0, rng.random(), rng.random() * 10])
        assert ranker.rank(rows)[0] == best
    weights = ranker.weights()
    assert weights["x0"] > 5 * max(abs(weights["x1"]), abs(weights["x2"]))


def test_the_pool_is_scored_exactly_as_river_predicts_one_row_at_a_time() -> None:
    ranker = OnlineRanker(RankerConfig(), features=("a", "b", "c"))
    clicks_follow_the_first_column(ranker, 50)
    rows = [[1.0, 0.3, 4.0], [0.0, 0.9, 1.0], [0.5, 0.0, 0.0]]
    river = [ranker.model.predict_proba_one(dict(zip("abc", row, strict=True)))[True]
             for row in rows]
    assert [probability(z) for z in ranker.scores(rows)] == pytest.approx(river, rel=1e-9)


def test_a_constant_column_does_not_break_the_scores() -> None:
    ranker = OnlineRanker(RankerConfig())
    for n in range(20):
        ranker.learn([([1.0, 5.0], n % 2 == 0), ([0.0, 5.0], n % 2 == 1)])
    assert all(score == score for score in ranker.scores([[1.0, 5.0], [0.0, 7.0]]))  # no NaN


def test_an_untrained_ranker_scores_every_row_alike_and_ranks_in_the_given_order() -> None:
    ranker = OnlineRanker(RankerConfig())
    assert ranker.scores([[1.0], [2.0]]) == [0.0, 0.0]
    assert ranker.rank([[1.0], [2.0], [3.0]]) == [0, 1, 2]
    assert ranker.scores([]) == []


def test_pairwise_learns_each_positive_against_each_negative_every_other_pair_reversed(
) -> None:
    ranker = OnlineRanker(RankerConfig(objective="pairwise"), features=("x",))
    seen: list[tuple[float, bool]] = []
    ranker.learn_one = lambda row, clicked: seen.append((row[0], clicked))  # type: ignore[method-assign]
    learnt = ranker.learn([([1.0], True), ([0.0], False), ([0.25], False)])
    assert learnt == 2
    assert seen == [(1.0, True), (-0.75, False)]  # good - bad, clicked; bad - good, not
    assert ranker.learn([([0.0], False)]) == 0  # a negative alone makes no pair


def test_the_ranker_is_cold_until_it_has_learnt_enough_examples_of_both_kinds() -> None:
    ranker = OnlineRanker(RankerConfig(min_examples=10))
    for _ in range(12):
        ranker.learn_one([0.0], False)
    assert not ranker.warm  # no positive yet
    ranker.learn_one([1.0], True)
    assert ranker.warm
    assert not OnlineRanker(RankerConfig(min_examples=10)).serving(guard=False)


def warm_ranker(**config: object) -> OnlineRanker:
    ranker = OnlineRanker(RankerConfig(min_examples=2, **config))  # type: ignore[arg-type]
    ranker.learn_one([1.0], True)
    ranker.learn_one([0.0], False)
    return ranker


def test_with_the_guard_the_ranker_serves_only_once_it_beats_the_blend_by_a_sign_test() -> None:
    ranker = warm_ranker(min_discordant=10, confidence=2.0, memory=1.0)
    assert ranker.warm and not ranker.serving(guard=True) and ranker.serving(guard=False)
    for _ in range(100):
        ranker.compare(blend_hit=True, ranker_hit=True)  # agreements say nothing
    assert not ranker.better
    for _ in range(9):
        ranker.compare(blend_hit=False, ranker_hit=True)
    assert not ranker.better  # 9 discordant comparisons: fewer than 10
    ranker.compare(blend_hit=False, ranker_hit=True)
    assert ranker.better and ranker.serving(guard=True)  # 10 - 0 > 2 * sqrt(10)


def test_the_guard_takes_the_ranker_off_when_the_blend_wins_again() -> None:
    ranker = warm_ranker(min_discordant=10, memory=1.0)
    for _ in range(20):
        ranker.compare(blend_hit=False, ranker_hit=True)
    assert ranker.better
    for _ in range(15):
        ranker.compare(blend_hit=True, ranker_hit=False)
    assert not ranker.better  # 20 - 15 < 2 * sqrt(35)


@pytest.mark.parametrize(("memory", "trusted"), [(0.95, True), (1.0, False)])
def test_old_comparisons_fade_so_the_guard_follows_the_recent_past(
    memory: float, trusted: bool
) -> None:
    ranker = warm_ranker(min_discordant=10, memory=memory)
    for _ in range(50):
        ranker.compare(blend_hit=True, ranker_hit=False)
    for _ in range(60):
        ranker.compare(blend_hit=False, ranker_hit=True)
    assert ranker.better is trusted  # without fading: 60 - 50 < 2 * sqrt(110)
    assert ranker.comparisons == 110


def test_the_summary_names_the_features_and_says_whether_the_ranker_serves() -> None:
    ranker = OnlineRanker(RankerConfig(min_examples=1, objective="pointwise"),
                          features=("blend", "recent"))
    ranker.learn([([1.0, 0.0], True), ([0.0, 1.0], False)])
    summary = ranker.summary(guard=False)
    assert summary["serving"] is True
    assert set(summary["weights"]) == {"blend", "recent", "intercept"}
    assert (summary["examples"], summary["positives"]) == (2, 1)
