"""A restarted worker continues its learnt models from their checkpoints, not from zero.

The worker learns the learned ranker and the matrix factorisation (switched
into the blend) from REES46 events, writing a checkpoint every 200 examples;
it is stopped with SIGTERM and started again. Before any new event arrives,
its ``/stats`` must show both models with what the last checkpoint held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from pathlib import Path
from typing import Any

from contract_client import isolated_settings, running_worker, wait_for

from engine.setting_parsers import parse_weights
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.replay import replay

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 1500
EVERY = 200


def _models(stats: dict[str, Any]) -> tuple[int, int]:
    models = stats["models"]
    return (int(models["learned-ranker"]["examples"]),
            int(models["matrix_factorisation"]["examples"]))


class _QuietModels:
    """True once two looks 2.5 s apart see the same examples and checkpoints written."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.last: tuple[Any, ...] | None = None

    def settled(self) -> bool:
        stats = self.worker.stats()
        now = (*_models(stats), stats["checkpoints_written"], stats["events_processed"])
        same, self.last = now == self.last, now
        if not same:
            time.sleep(2.5)
        return same


def test_a_restarted_worker_continues_its_models_from_the_checkpoint(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(broker.url, "checkpoints", tmp_path / "data",
                                 checkpoint_every=EVERY,
                                 blend_weights=parse_weights("matrix_factorisation:0.1"))
    asyncio.run(create_topics(settings))

    with running_worker(settings, tmp_path) as worker:
        assert worker.stats()["checkpoints_loaded"] == 0, "nothing to continue from yet"
        asyncio.run(replay(settings, REES46, limit=EVENTS, progress=False))
        wait_for(lambda: worker.stats()["events_processed"] >= EVENTS - 10, 120,
                 "the events processed")
        wait_for(lambda: worker.stats()["checkpoints_written"] >= 4, 30, "checkpoints written")
        # quiet: nothing learnt and nothing written for longer than the checkpoint poll
        quiet = _QuietModels(worker)
        wait_for(quiet.settled, 120, "the models to stop learning")
        ranker_before, mf_before = _models(worker.stats())
        assert ranker_before > 0 and mf_before > EVENTS
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=60) == 0

    restarted = dataclasses.replace(settings, web_port=free_port())
    with running_worker(restarted, tmp_path) as worker:
        stats = worker.stats()
        assert stats["checkpoints_loaded"] == 2  # both models
        ranker_after, mf_after = _models(stats)
        # the last checkpoint is at most EVERY examples (of both models together) behind
        assert ranker_before + mf_before - EVERY <= ranker_after + mf_after
        assert 0 < ranker_after <= ranker_before and 0 < mf_after <= mf_before
        assert stats["models"]["matrix_factorisation"]["users"] > 0
