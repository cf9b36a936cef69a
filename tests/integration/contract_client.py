"""A client of the engine's public contract only: topics and web views, nothing internal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from engine.settings import Settings
from engine.stream.broker import free_port
from engine.stream.child_worker import get_json, wait_until_healthy, worker_process
from engine.stream.connection import client_options
from engine.stream.replay import produce_raw

__all__ = [
    "Member",
    "Worker",
    "committed_offsets",
    "isolated_settings",
    "json_value",
    "mismatches",
    "paced_producer",
    "produce",
    "read_topic",
    "running_worker",
    "truth_from",
    "wait_for",
]


class Worker:
    """A running ``engine worker`` process and its web views."""

    def __init__(self, settings: Settings, proc: Any) -> None:
        self.settings = settings
        self.proc = proc
        self.base = f"http://127.0.0.1:{settings.web_port}"

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return get_json(self.base + path, token or self.settings.api_token)

    def stats(self) -> dict[str, Any]:
        status, body = self.get("/stats")
        assert status == 200, body
        return dict(body)


@contextlib.contextmanager
def running_worker(settings: Settings, log_dir: Path) -> Iterator[Worker]:
    """``engine worker`` in a child process, healthy before the block starts, stopped after."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with worker_process(settings, log_dir / f"worker-{settings.web_port}.log") as proc:
        wait_until_healthy(f"http://127.0.0.1:{settings.web_port}", proc, timeout=90)
        yield Worker(settings, proc)


def produce(
    settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    return asyncio.run(produce_raw(settings, topic, records))


def read_topic(
    settings: Settings,
    topic: str,
    done: Callable[[list[Any]], bool],
    timeout: float = 60.0,
) -> list[Any]:
    """Every record of ``topic`` from the start, once ``done(records)`` holds (or the timeout)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [TopicPartition(topic, p)
                          for p in sorted(consumer.partitions_for_topic(topic) or ())]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            records: list[Any] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
                if done(records):
                    break
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


def wait_for(
    condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition",
    *, quiet: bool = False,
) -> None:
    """Poll ``condition``; fail after ``timeout`` (``quiet``: return and let the caller assert)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    if not quiet:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def json_value(record: Any) -> Any:
    return None if record.value is None else orjson.loads(record.value)


def isolated_settings(broker_url: str, name: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings private to one test module: its own app id and topic names."""
    import uuid

    from engine.settings import TOPIC_ROLES, load_settings, replace
    from engine.stream.broker import free_port

    prefix = f"{name}-{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {
        "broker": broker_url,
        "app_id": prefix,
        "web_port": free_port(),
        "web_host": "127.0.0.1",
        "data_dir": str(data_dir),
        "topics": {role: f"{prefix}-{role}" for role in TOPIC_ROLES},
    }
    values.update(overrides)
    return replace(load_settings({}), **values)


def truth_from(records: Iterable[Any]) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Exact per-user counts by type (each event id once), and each user's last event id."""
    seen: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    last: dict[str, str] = {}
    for record in records:
        if record.topic != "clickstream":
            continue
        event = record.value
        last[event["user_id"]] = event["event_id"]
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        user = counts.setdefault(event["user_id"], {})
        user[event["type"]] = user.get(event["type"], 0) + 1
    return counts, last


class Member:
    """One worker of the app: a process that can be hurt and brought back."""

    def __init__(self, settings: Settings, logs: Path, name: str) -> None:
        self.settings = settings
        self.logs = logs
        self.name = name
        self._stack = contextlib.ExitStack()
        self.proc: Any = None

    def start(self) -> None:
        self.settings = dataclasses.replace(self.settings, web_port=free_port())
        self.proc = self._stack.enter_context(
            worker_process(self.settings, self.logs / f"{self.name}.log"))
        wait_until_healthy(f"http://127.0.0.1:{self.settings.web_port}", self.proc, timeout=120)

    def worker(self) -> Worker:
        return Worker(self.settings, self.proc)

    def kill(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self._stack.close()
        self._stack = contextlib.ExitStack()

    def freeze(self, seconds: float) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self._stack.close()


def paced_producer(settings: Settings, events: list[dict[str, Any]], done: threading.Event,
                   rate: float) -> threading.Thread:
    """Produce ``events`` to clickstream at ``rate`` per second in a thread; ``done`` at the end."""
    async def send_all() -> None:
        producer = AIOKafkaProducer(**client_options(settings), linger_ms=5)
        await producer.start()
        try:
            topic = settings.topic("clickstream")
            started = time.monotonic()
            for i, event in enumerate(events):
                due = started + i / rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                await producer.send(topic, orjson.dumps(event), key=event["user_id"].encode())
            await producer.flush()
        finally:
            await producer.stop()
            done.set()

    thread = threading.Thread(target=lambda: asyncio.run(send_all()), daemon=True)
    thread.start()
    return thread


def mismatches(worker: Worker, truth: dict[str, dict[str, int]]) -> list[Any]:
    """Users whose profile counts (asked of ``worker``) differ from ``truth``."""
    wrong = []
    for user, counts in truth.items():
        try:
            status, profile = worker.get(f"/users/{user}/profile")
        except OSError as exc:  # a worker busy with a rebalance: not an answer yet
            wrong.append((user, repr(exc), counts))
            continue
        got = {k: v for k, v in profile["counts"].items() if v} if status == 200 else None
        if got != counts:
            wrong.append((user, got, counts))
    return wrong


def committed_offsets(settings: Settings) -> dict[int, int]:
    """The app's committed offset of each clickstream partition (those with one)."""
    async def read() -> dict[int, int]:
        consumer = AIOKafkaConsumer(**client_options(settings), group_id=settings.app_id,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            topic = settings.topic("clickstream")
            found = {}
            for p in range(settings.partitions):
                offset = await consumer.committed(TopicPartition(topic, p))
                if offset is not None:
                    found[p] = offset
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())
