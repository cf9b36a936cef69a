"""Table state survives a worker restart exactly, on Tansu too.

Tansu answers ``end_offsets()`` short after multi-record batches, and Faust
trusts it for the recovery high-water, so an uncorrected worker comes back
with the tail of every changelog partition missing (see
shared/faust-on-tansu.md). The worker here lingers its producer 50 ms, so
changelog writes go out in multi-record batches, is killed with SIGKILL, and
comes back: every user's counts must equal the truth computed from the input,
before and after more events arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from pathlib import Path
from typing import Any

from contract_client import Worker, isolated_settings, running_worker, truth_from, wait_for

from engine.datasets import read_records
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.replay import replay

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
FIRST, SECOND = 2000, 2600


def _mismatches(worker: Worker, truth: dict[str, dict[str, int]]) -> list[tuple[str, Any, Any]]:
    wrong = []
    for user, counts in truth.items():
        status, profile = worker.get(f"/users/{user}/profile")
        got = {k: v for k, v in profile["counts"].items() if v} if status == 200 else None
        if got != counts:
            wrong.append((user, got, counts))
    return wrong


def _processed(worker: Worker) -> int:
    stats = worker.stats()
    return int(stats["events_processed"] + stats["duplicates_skipped"])


def test_a_killed_worker_comes_back_with_exactly_the_state_it_had(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "recovery", tmp_path / "data",
                                 producer_linger_ms=50, commit_interval=0.5)
    asyncio.run(create_topics(settings))
    first_part = list(read_records(REES46, limit=FIRST))
    truth, _ = truth_from(first_part)
    events = sum(1 for r in first_part if r.topic == "clickstream")

    with running_worker(settings, tmp_path) as worker:
        asyncio.run(replay(settings, REES46, limit=FIRST, progress=False))
        wait_for(lambda: _processed(worker) >= events, 120, "the first events processed")
        wait_for(lambda: not _mismatches(worker, truth), 30, "profiles to match the truth")
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait()

    restarted = dataclasses.replace(settings, web_port=free_port())
    with running_worker(restarted, tmp_path) as worker:
        assert _mismatches(worker, truth) == [], "state after the restart differs from the truth"
        everything = list(read_records(REES46, limit=SECOND))
        truth_after, _ = truth_from(everything)
        asyncio.run(replay(settings, REES46, limit=SECOND, progress=False))
        # the first FIRST events arrive again (at-least-once input): each is skipped as a duplicate
        wait_for(lambda: _processed(worker) >= sum(1 for r in everything
                                                  if r.topic == "clickstream"),
                 120, "the replay processed")
        wait_for(lambda: not _mismatches(worker, truth_after), 30, "profiles to match")
        assert worker.stats()["duplicates_skipped"] >= events
