"""``engine evaluate --methods``: fewer lists, the same figures for those kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.evaluation_run import method_names, run_evaluation
from engine.settings import load_settings

SAMPLE = Path(__file__).parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"


def test_only_the_named_lists_are_reported_with_the_figures_of_a_full_run() -> None:
    full = run_evaluation(load_settings({}), SAMPLE, limit=300).results
    kept = run_evaluation(load_settings({}), SAMPLE, limit=300,
                          only=["engine", "engine:co_occurrence", "item_knn"]).results
    assert sorted(full) == sorted(method_names())
    assert sorted(kept) == ["engine", "engine:co_occurrence", "item_knn"]
    assert all(kept[name] == full[name] for name in kept)


def test_an_unknown_method_is_refused_naming_it() -> None:
    with pytest.raises(EngineError, match="unknown method magic"):
        run_evaluation(load_settings({}), SAMPLE, limit=10, only=["engine", "magic"])
