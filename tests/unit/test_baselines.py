"""Baselines tell sessions apart as the engine does: a gap of event time, bridged by session id."""

from __future__ import annotations

from engine.baselines import SequentialRules
from engine.events import Event


def view(n: int, item: str, ts: float, session: str | None = None) -> Event:
    return Event(f"e{n}", "u1", item, "view", ts, session_id=session)


def rules_after(events: list[Event]) -> dict[str, dict[str, float]]:
    rules = SequentialRules(session_gap=1800.0)
    for event in events:
        rules.learn(event)
    return {item: dict(row) for item, row in rules.rules.items()}


def test_items_of_one_session_make_rules() -> None:
    assert rules_after([view(0, "a", 0.0), view(1, "b", 10.0)]) == {"a": {"b": 1.0}}


def test_a_gap_in_event_time_ends_a_session_without_session_ids() -> None:
    assert rules_after([view(0, "a", 0.0), view(1, "b", 3600.0)]) == {}


def test_a_new_session_id_after_the_gap_starts_a_new_session() -> None:
    assert rules_after([view(0, "a", 0.0, "s1"), view(1, "b", 3600.0, "s2")]) == {}


def test_a_new_session_id_within_the_gap_continues_the_session() -> None:
    assert rules_after([view(0, "a", 0.0, "s1"), view(1, "b", 10.0, "s2")]) == {"a": {"b": 1.0}}


def test_the_same_session_id_continues_a_session_past_the_gap() -> None:
    assert rules_after([view(0, "a", 0.0, "s1"), view(1, "b", 3600.0, "s1")]) == {"a": {"b": 1.0}}
