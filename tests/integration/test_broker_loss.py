"""A worker whose broker stops answering says so on /health (503) and /metrics, and recovers."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from contract_client import isolated_settings, running_worker

from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker
from engine.stream.child_worker import get_json
from engine.stream.liveness import BrokerWatch, keep_watch


def health_when(base: str, status: int, timeout: float = 30.0) -> dict[str, object]:
    """The first /health answer with this HTTP status (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = get_json(base + "/health")
        if code == status:
            return dict(body)
        assert time.monotonic() < deadline, f"/health still {code}: {body}"
        time.sleep(0.5)


def test_health_answers_503_while_the_broker_is_gone(tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        settings = isolated_settings(broker.url, "loss", tmp_path / "data")
        asyncio.run(create_topics(settings))
        with running_worker(settings, tmp_path) as worker:
            assert health_when(worker.base, 200)["broker"] is True
            broker.stop()
            body = health_when(worker.base, 503)
            assert (body["status"], body["broker"]) == ("broker unreachable", False)
            with urllib.request.urlopen(worker.base + "/metrics", timeout=10) as response:
                assert b"\nengine_broker_reachable 0.0\n" in response.read()
            # SIGTERM still stops it within a bounded time (the consumer thread gives up
            # committing after 15 s): inside an orchestrator's usual 30 s grace period
            started = time.monotonic()
            worker.proc.terminate()
            worker.proc.wait(timeout=60)
            assert time.monotonic() - started < 30


def test_the_watch_finds_a_broker_that_comes_and_goes() -> None:
    async def scenario() -> None:
        watch = BrokerWatch()
        with EmbeddedBroker() as broker:
            task = asyncio.create_task(keep_watch(
                watch, {"bootstrap_servers": broker.bootstrap}, "watched", interval=0.1))
            await asyncio.sleep(1.0)
            assert watch.reachable and watch.failures == 0
        await until(lambda: not watch.reachable)
        with EmbeddedBroker(port=broker.port):  # the same address again
            await until(lambda: watch.reachable)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds; fail after 20 seconds."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met within 20 s")

