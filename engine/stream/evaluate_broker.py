"""``engine evaluate --via-broker``: the same evaluation, end to end through a broker.

An embedded broker and one ``engine worker`` are started; the dataset's
records are produced to ``clickstream`` and ``catalog`` and the lists are
read back from ``recommendations``, through the contract only. The list in
force before an event is the one the worker published after the user's
previous event (``trigger_event_id``). Those lists are then scored
test-then-train beside an in-process run of the same engine (a
:class:`~engine.simulation.Simulation` in a worker's order) and the
baselines, on the same events.

In lockstep (the default) each event is sent once the worker has published
the list due for the previous one and its world has read every row summary
that event caused (``/stats``: ``summaries_read``, ``catalog_records_read``):
then the lists through the broker are the in-process lists, item for item,
and the report says how many were compared and how many were the same. With
``rate`` the records are produced at that pace instead, as a live stream
would be: lists may then be ranked before the item evidence of the latest
events has reached the world, and the figures show what that costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from tqdm import tqdm

from engine.datasets import read_records
from engine.errors import EngineError, InvalidRecord
from engine.evaluation import CUTOFF, Method, RecordedLists, evaluate
from engine.evaluation_run import EvaluationReport, baselines
from engine.events import CatalogItem, Event, decode_event, decode_item
from engine.pipeline import EngineConfig
from engine.settings import Settings, replace
from engine.simulation import Simulation
from engine.stream.admin import create_topics
from engine.stream.broker import EmbeddedBroker, free_port
from engine.stream.child_worker import get_json, wait_until_healthy, worker_process
from engine.stream.connection import client_options
from engine.stream.replay import replay

__all__ = ["IN_PROCESS", "VIA_BROKER", "evaluate_via_broker"]

VIA_BROKER = "engine:via_broker"
IN_PROCESS = "engine:in_process"

_SETTLE_TIMEOUT = 60.0  # seconds one event may take to come back settled
_POLL = 0.003  # seconds between two looks at the worker's /stats


@dataclass(frozen=True)
class _Record:
    """A dataset record, decoded: an event, or a catalog item (None: its tombstone)."""

    topic: str
    key: str
    raw: bytes | None
    event: Event | None = None
    item: CatalogItem | None = None


def _records(path: Path, config: EngineConfig, limit: int | None) -> list[_Record]:
    """The dataset's valid records in replay order (invalid ones would only be dead-lettered)."""
    records = []
    for record in read_records(path, limit=limit):
        raw = record.payload()
        try:
            if record.topic == "catalog":
                item = None if raw is None else decode_item(raw, config.input_limits)
                records.append(_Record("catalog", str(record.key), raw, item=item))
            else:
                event = decode_event(raw, config.input_limits)
                records.append(_Record("clickstream", event.user_id, raw, event=event))
        except InvalidRecord:
            continue
    return records


class _Lists:
    """The lists read from ``recommendations``, by the id of the event that triggered them."""

    def __init__(self) -> None:
        self.by_trigger: dict[str, list[str]] = {}
        self.arrived = asyncio.Event()

    async def follow(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            if message.value is None:  # a forgotten user's tombstone
                continue
            listing = orjson.loads(message.value)
            trigger = listing.get("trigger_event_id")
            if trigger is not None:
                self.by_trigger[trigger] = [item["item_id"] for item in listing["items"]]
                self.arrived.set()

    async def wait_for(self, trigger: str, deadline: float) -> None:
        while trigger not in self.by_trigger:
            self.arrived.clear()
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise EngineError(f"no list for event {trigger} within {_SETTLE_TIMEOUT:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout)


async def _stats(base: str, token: str | None) -> dict[str, Any]:
    status, body = await asyncio.to_thread(get_json, f"{base}/stats", token)
    if status != 200:
        raise EngineError(f"/stats answered {status}")
    return dict(body)


async def _settled(base: str, token: str | None, summaries: int, catalog: int,
                   deadline: float) -> None:
    """Wait until the worker's world has read ``summaries`` row summaries and ``catalog`` items."""
    while True:
        stats = await _stats(base, token)
        if stats["summaries_read"] >= summaries and stats["catalog_records_read"] >= catalog:
            return
        if time.monotonic() > deadline:
            raise EngineError(
                f"the worker's world read {stats['summaries_read']} of {summaries} row summaries "
                f"and {stats['catalog_records_read']} of {catalog} catalog records "
                f"within {_SETTLE_TIMEOUT:.0f} s")
        await asyncio.sleep(_POLL)


async def _lockstep(run: Settings, base: str, records: Sequence[_Record], lists: _Lists,
                    sim: Simulation, in_process: dict[str, list[str]]) -> None:
    producer = AIOKafkaProducer(**client_options(run), acks="all", linger_ms=0)
    await producer.start()
    catalog = 0
    try:
        events = sum(1 for r in records if r.event is not None)
        with tqdm(total=events, unit="ev", disable=None, desc="via broker") as bar:
            for record in records:
                await producer.send_and_wait(run.topic(record.topic), record.raw,
                                             key=record.key.encode())
                deadline = time.monotonic() + _SETTLE_TIMEOUT
                if _apply(sim, record, in_process) and record.event is not None:
                    await lists.wait_for(record.event.event_id, deadline)
                if record.event is None:
                    catalog += 1
                else:
                    bar.update()
                await _settled(base, run.api_token, sim.summaries, catalog, deadline)
    finally:
        await producer.stop()


async def _free_running(run: Settings, base: str, path: Path, limit: int | None, rate: float,
                        lists: _Lists) -> None:
    stats = await replay(run, path, rate=rate, limit=limit)
    deadline = time.monotonic() + max(_SETTLE_TIMEOUT, stats.events / 100)
    while time.monotonic() < deadline:
        done = await _stats(base, run.api_token)
        seen = done["events_processed"] + done["duplicates_skipped"] + done["dead_lettered"]
        if seen >= stats.events and done["recommendations_published"] <= len(lists.by_trigger):
            return
        await asyncio.sleep(0.2)
    raise EngineError("the worker did not process the whole replay in time")


async def _drive(run: Settings, base: str, path: Path, limit: int | None, rate: float | None,
                 records: Sequence[_Record], sim: Simulation,
                 in_process: dict[str, list[str]]) -> dict[str, list[str]]:
    lists = _Lists()
    consumer = AIOKafkaConsumer(run.topic("recommendations"), **client_options(run),
                                group_id=None, auto_offset_reset="earliest",
                                fetch_max_wait_ms=run.fetch_max_wait_ms)
    await consumer.start()
    follower = asyncio.create_task(lists.follow(consumer))
    try:
        if rate is None:
            await _lockstep(run, base, records, lists, sim, in_process)
        else:
            await _free_running(run, base, path, limit, rate, lists)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await consumer.stop()
    return lists.by_trigger


def _apply(sim: Simulation, record: _Record, lists: dict[str, list[str]]) -> bool:
    """Apply a record in process; True for an event that published a list (kept in ``lists``)."""
    if record.event is None:
        if record.item is None:
            sim.remove_item(record.key)
        else:
            sim.add_item(record.item)
        return False
    if not sim.apply(record.event):
        return False
    lists[record.event.event_id] = sim.published.get(record.event.user_id, [])
    return True


#: The item side's batch window and the user side's flush interval in lockstep, in ms.
_LOCKSTEP_WINDOW_MS = 5


def evaluate_via_broker(settings: Settings, path: Path, *, limit: int | None = None,
                        only: Sequence[str] | None = None,
                        rate: float | None = None) -> EvaluationReport:
    """Evaluate the engine through a broker and a worker, beside the same engine in process.

    ``rate`` (events a second) replays freely instead of in lockstep.
    ``only`` keeps some of the baselines (by name); both engine lists are
    always reported.
    """
    if rate is not None and rate <= 0:
        raise EngineError(f"--rate must be positive, got {rate}")
    run_dir = Path(tempfile.mkdtemp(prefix="engine-evaluate-"))
    # the lists are cut at 20 (HR@20); the worker publishes that many, the simulation too
    config = EngineConfig.from_settings(replace(settings, top_n=CUTOFF))
    records = _records(path, config, limit)
    sim = Simulation(config, worker_order=True)
    in_process: dict[str, list[str]] = {}
    with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
        run = replace(settings, broker=broker.url, web_host="127.0.0.1", web_port=free_port(),
                      data_dir=str(run_dir / "data"), top_n=CUTOFF)
        if rate is None:  # in lockstep an event's increments are alone in the item side's
            # window and the user side's flush anyway: longer ones would only add their
            # length to every round trip
            run = replace(run, item_batch_ms=min(run.item_batch_ms, _LOCKSTEP_WINDOW_MS),
                          user_flush_ms=min(run.user_flush_ms, _LOCKSTEP_WINDOW_MS))
        asyncio.run(create_topics(run))
        base = f"http://127.0.0.1:{run.web_port}"
        with worker_process(run, run_dir / "worker.log") as proc:
            wait_until_healthy(base, proc)
            via_broker = asyncio.run(_drive(run, base, path, limit, rate, records, sim,
                                            in_process))
    if rate is not None:
        for record in records:
            _apply(sim, record, in_process)
    compared = sorted(via_broker.keys() & in_process.keys())
    differing = [trigger for trigger in compared if via_broker[trigger] != in_process[trigger]]
    methods: list[Method] = [RecordedLists(VIA_BROKER, via_broker),
                             RecordedLists(IN_PROCESS, in_process),
                             *baselines(config, only)]
    events = [r.event for r in records if r.event is not None]
    with tqdm(total=len(events), unit="ev", disable=None, desc="scoring") as bar:
        results = evaluate(events, methods, progress=bar, cold_start=False)
    notes = {
        "mode": "lockstep" if rate is None else f"free-running at {rate:g} events/s",
        "lists_compared": len(compared),
        "lists_identical": len(compared) - len(differing),
        "lists_differing": differing[:10],  # the first few triggers, to look into
        "lists_missing_via_broker": len(in_process.keys() - via_broker.keys()),
        "worker_log": str(run_dir / "worker.log"),
    }
    return EvaluationReport(path.name, results, notes)
