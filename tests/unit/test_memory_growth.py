"""``engine bench --memory``: a steady population's state stops growing once it has been seen."""

from __future__ import annotations

import itertools

from engine.events import Event
from engine.memory_growth import measure_growth, process_rss_mb, steady_stream
from engine.pipeline import EngineConfig

BASE = [Event(f"e{i}", f"u{i % 7}", f"i{(i * 3) % 11}", "view", float(i)) for i in range(50)]


def test_the_stream_has_unique_event_ids_and_a_fixed_population() -> None:
    stream = list(steady_stream(BASE, copies=3, total=400))
    assert len(stream) == 400
    assert len({e.event_id for e in stream}) == 400
    assert len({e.user_id for e in stream}) == 7 * 3
    assert len({e.item_id for e in stream}) == 11
    assert all(a.ts < b.ts for a, b in itertools.pairwise(stream))  # event time goes on


def test_state_counts_stop_growing_after_the_population_was_seen() -> None:
    rows = measure_growth(EngineConfig(), [], BASE, [100, 300, 600], copies=2)
    assert [r["events"] for r in rows] == [100, 300, 600]
    assert rows[1]["profiles"] == rows[2]["profiles"] == 14
    assert rows[1]["item_rows"] == rows[2]["item_rows"] == 11
    assert rows[2]["bytes_per_profile"] <= 2 * rows[1]["bytes_per_profile"]


def test_rss_is_read_from_proc_where_there_is_one() -> None:
    rss = process_rss_mb()
    assert rss is None or rss > 1
