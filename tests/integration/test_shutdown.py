"""Graceful shutdown: SIGTERM under load stops the worker promptly, with its work committed.

After the worker exits, the group's committed offset of every clickstream
partition must cover every event the worker applied (the highest input
offset recorded in the profiles' changelog), so a successor re-reads nothing
the worker had finished.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import orjson
from contract_client import (
    committed_offsets,
    isolated_settings,
    produce,
    read_topic,
    running_worker,
    wait_for,
)

from engine.datasets import read_records
from engine.settings import Settings
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 4000


def _applied(settings: Settings) -> dict[int, int]:
    """The highest input offset applied per clickstream partition, from the profiles' changelog."""
    changelog = f"{settings.app_id}-profiles-changelog"
    highest: dict[int, int] = {}
    for record in read_topic(settings, changelog, lambda _: False, timeout=4.0):
        if record.value is None:
            continue
        for partition, offset in orjson.loads(record.value)["offsets"].items():
            highest[int(partition)] = max(highest.get(int(partition), -1), offset)
    return highest


def test_sigterm_under_load_exits_promptly_with_everything_applied_committed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "shutdown", tmp_path / "data",
                                 commit_interval=5.0)  # so that the last commit is the shutdown's
    asyncio.run(create_topics(settings))
    records = list(read_records(REES46, limit=EVENTS))
    with running_worker(settings, tmp_path) as worker:
        sender = threading.Thread(target=produce, args=(
            settings, settings.topic("clickstream"),
            [(r.key.encode(), orjson.dumps(r.value)) for r in records if r.topic == "clickstream"],
        ))
        sender.start()
        wait_for(lambda: worker.stats()["events_processed"] > EVENTS // 4, 120, "load")
        worker.proc.send_signal(signal.SIGTERM)
        exit_code = worker.proc.wait(timeout=60)  # a liveness bound, not a speed target
        sender.join()
    assert exit_code == 0
    applied, committed = _applied(settings), committed_offsets(settings)
    assert applied, "the worker applied nothing before it was stopped"
    for partition, offset in applied.items():
        assert committed.get(partition, 0) >= offset + 1, (partition, offset, committed)
