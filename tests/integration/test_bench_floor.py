"""``engine bench``'s latency floor (d0): a raw pass-through, measured as the engine is."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.settings import Settings
from engine.stream.bench.data import bench_data, latency_events
from engine.stream.bench.kafka import create_topic
from engine.stream.bench.latency import Floor, floor_latency
from engine.stream.bench.pass_through import pass_through_process

MakeSettings = Callable[..., Settings]  # the make_settings fixture of conftest.py


def test_every_event_comes_through_the_pass_through_and_is_timed(
        make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings()
    source, sink = f"{settings.app_id}-floor-in", f"{settings.app_id}-floor-out"
    for topic in (source, sink):
        asyncio.run(create_topic(settings, topic))
    events = latency_events(bench_data(), rate=40, seconds=1.0, round_=0)

    with pass_through_process(settings, source, sink, tmp_path / "pass-through") as proc:
        figures = floor_latency(settings, Floor(proc, source, sink), events, rate=40)
        assert proc.poll() is None  # it keeps reading until stopped

    assert figures["sent"] == figures["seen"] == 40
    assert figures["seen_share"] == 1.0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert 0 <= figures["cpu_share"] < 2  # the pass-through's
    assert 0 < figures["bench_cpu_share"] < 2  # this process sent and matched the events
    assert figures["until_computed_p50_ms"] is None  # a pass-through computes nothing
    assert proc.returncode is not None  # stopped on leaving


def test_a_pass_through_that_cannot_start_is_an_error_naming_its_log(
        make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings()
    missing = f"{settings.app_id}-no-such-topic"
    reason = r"the pass-through exited .*\(log: .*pass-through\.log\)"
    with pytest.raises(EngineError, match=reason), \
            pass_through_process(settings, missing, missing, tmp_path / "pass-through"):
        raise AssertionError("a pass-through of a missing topic started")
