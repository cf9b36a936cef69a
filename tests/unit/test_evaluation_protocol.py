"""The evaluation protocol: lists made elsewhere, warm users only, a worker's order, the plot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.baselines import ItemKNN
from engine.evaluation import RecordedLists, evaluate
from engine.evaluation_plot import plot_hit_rate
from engine.events import Event
from engine.pipeline import EngineConfig
from engine.simulation import Simulation

STREAM = [Event(f"e{i}", f"u{i % 3}", f"i{i % 4}", "view", float(i)) for i in range(60)]


def test_without_cold_start_a_users_first_event_is_not_scored() -> None:
    every = evaluate(STREAM, [ItemKNN()])
    warm = evaluate(STREAM, [ItemKNN()], cold_start=False)
    assert every["item_knn"]["events"] == 60
    assert warm["item_knn"]["events"] == 57  # three users: their first events are left out


def test_recorded_lists_are_scored_as_the_list_in_force_after_their_trigger() -> None:
    stream = [Event("e1", "u", "a", "view", 1.0), Event("e2", "u", "b", "view", 2.0),
              Event("e3", "u", "c", "view", 3.0)]
    recorded = RecordedLists("r", {"e1": ["b"], "e2": ["x"]})
    report = evaluate(stream, [recorded], cold_start=False)["r"]
    assert (report["events"], report["hr@10"]) == (2, 0.5)  # b was in force before e2; c was not


def test_a_repeated_event_id_leaves_the_list_in_force() -> None:
    recorded = RecordedLists("r", {"e1": ["a"], "e2": ["b"]})
    for event in (Event("e1", "u", "x", "view", 1.0), Event("e2", "u", "y", "view", 2.0),
                  Event("e1", "u", "x", "view", 3.0)):
        recorded.learn(event)
    assert recorded.lists("u", 3.0) == {"r": ["b"]}


def test_a_worker_ranks_the_list_before_its_events_evidence_reaches_the_world() -> None:
    config = replace(EngineConfig(), weights={"co_occurrence": 1.0})
    at_once, worker = Simulation(config), Simulation(config, worker_order=True)
    for sim in (at_once, worker):
        sim.apply(Event("e1", "u1", "a", "view", 1.0))
        sim.apply(Event("e2", "u1", "b", "view", 2.0))
    assert at_once.published["u1"] == ["a"]  # the pair (a, b) was already in the world
    assert worker.published["u1"] == []
    assert worker.summaries == at_once.summaries == 3  # a; then b and its partner a
    worker.apply(Event("e3", "u2", "b", "view", 3.0))
    assert worker.published["u2"] == ["a"]  # the next list has it


def test_every_published_list_is_handed_on_once_its_profile_remembers_it() -> None:
    handed: list[tuple[str, str, str]] = []
    sim = Simulation(EngineConfig(), on_list=lambda listing: handed.append((
        listing["trigger_event_id"], listing["rec_id"],
        sim.profiles[listing["user_id"]].served[0]["rec_id"])))
    sim.apply(Event("e1", "u1", "a", "view", 1.0))
    sim.apply(Event("e1", "u1", "a", "view", 1.0))  # a duplicate publishes nothing
    sim.apply(Event("e2", "u2", "a", "view", 2.0))
    assert [trigger for trigger, _, _ in handed] == ["e1", "e2"]
    assert all(rec_id == remembered for _, rec_id, remembered in handed)


def test_the_plot_is_a_png_with_a_line_per_method(tmp_path: Path) -> None:
    report = evaluate(STREAM, [ItemKNN()])
    plot_hit_rate("synthetic", report, tmp_path / "hr.png")
    assert (tmp_path / "hr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report["item_knn"]["hr@10_over_stream"]) == 20
