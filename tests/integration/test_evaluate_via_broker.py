"""``engine evaluate --via-broker``: the same lists through a broker and a worker as in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import load_settings
from engine.stream.evaluate_broker import IN_PROCESS, VIA_BROKER, evaluate_via_broker

SAMPLE = Path(__file__).parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"

pytestmark = pytest.mark.timeout(300)


def test_in_lockstep_every_list_through_the_broker_is_the_in_process_list() -> None:
    report = evaluate_via_broker(load_settings({}), SAMPLE, limit=250)
    notes, results = report.notes, report.results
    assert notes["mode"] == "lockstep"
    assert notes["lists_compared"] == 250 and notes["lists_missing_via_broker"] == 0
    assert notes["lists_identical"] == notes["lists_compared"]
    assert results[VIA_BROKER] == results[IN_PROCESS]
    assert results[VIA_BROKER]["events"] > 100
    assert set(results) == {VIA_BROKER, IN_PROCESS, "popularity", "recent_popularity", "item_knn",
                            "sequential_rules", "mf"}


def test_free_running_gets_a_list_for_every_event_and_scores_the_baselines_alike() -> None:
    report = evaluate_via_broker(load_settings({}), SAMPLE, limit=200, rate=100.0,
                                 only=["item_knn"])
    assert report.notes["mode"] == "free-running at 100 events/s"
    assert report.notes["lists_missing_via_broker"] == 0
    assert set(report.results) == {VIA_BROKER, IN_PROCESS, "item_knn"}
    # the same events are scored for every method
    assert len({row["events"] for row in report.results.values()}) == 1
