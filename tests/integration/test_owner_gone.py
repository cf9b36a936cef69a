"""A user view whose owning worker died answers 503 with a reason until the group moves on."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from contract_client import Worker, isolated_settings, running_worker, wait_for

from engine.datasets import read_records
from engine.settings import replace
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.child_worker import get_json
from engine.stream.replay import replay

REES46 = Path(__file__).resolve().parents[2] / "engine" / "samples" / "rees46_2019_10_head.csv.gz"
EVENTS = 300
USERS = sorted({r.key for r in read_records(REES46, limit=EVENTS)
                if r.topic == "clickstream" and r.key})


@contextlib.contextmanager
def two_workers(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    """Two workers of one app, healthy, with the first REES46 events processed."""
    first = isolated_settings(broker.url, "owner-gone", tmp_path / "data1")
    second = replace(first, web_port=free_port(), data_dir=str(tmp_path / "data2"))
    asyncio.run(create_topics(first))
    with running_worker(first, tmp_path) as one, running_worker(second, tmp_path) as other:
        wait_for(lambda: all(w.get("/health")[0] == 200 for w in (one, other)), 90,
                 "both healthy")
        asyncio.run(replay(first, REES46, limit=EVENTS, progress=False))
        wait_for(lambda: sum(w.stats()["events_processed"] + w.stats()["duplicates_skipped"]
                             for w in (one, other)) >= EVENTS, 60, "events processed")
        yield one, other


def test_a_view_routed_to_a_dead_worker_answers_503_with_a_reason(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with two_workers(broker, tmp_path) as (dying, alive):
        dying.proc.kill()  # the group notices only after ENGINE_SESSION_TIMEOUT (6 s)
        answers = [get_json(f"{alive.base}/users/{user}/profile") for user in USERS]
        refused = [body for status, body in answers if status == 503]
        assert {status for status, _ in answers} <= {200, 503}
        assert refused, "no user was routed to the dead worker"
        assert all("the worker that owns this user does not answer" in body["error"]
                   for body in refused)
        # once the group has moved the partitions, the survivor answers for everyone
        wait_for(lambda: all(get_json(f"{alive.base}/users/{user}/profile")[0] == 200
                             for user in USERS), 90, "every profile served by the survivor")


def test_a_view_routed_to_a_frozen_worker_gives_up_after_a_bounded_wait(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with two_workers(broker, tmp_path) as (frozen, alive):
        frozen.proc.send_signal(signal.SIGSTOP)  # connections are accepted, never answered
        try:
            for user in USERS:
                started = time.monotonic()
                status, body = get_json(f"{alive.base}/recommendations/{user}", timeout=60)
                if status != 200:
                    break
            assert status == 503, body
            assert "no answer within 10 s" in body["error"]
            assert time.monotonic() - started < 30  # not aiohttp's five minutes
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
