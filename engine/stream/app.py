"""The app factory: frozen settings in, a configured Faust app out.

Nothing is created at import time: :func:`create_app` builds the app, its
topics, tables, agents, the broadcast reader and the web views.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from engine.mf import OnlineMF
from engine.pipeline import EngineConfig, learns_mf, new_mf, new_ranker, serves_learned
from engine.privacy import Pseudonymiser
from engine.ranker import OnlineRanker
from engine.retention import RecencyIndex
from engine.settings import Settings
from engine.stream.codecs import ITEM_ROW_CODEC, PROFILE_CODEC, register_codecs
from engine.stream.collector import CollectorPolicy
from engine.stream.connection import faust_credentials
from engine.stream.increments import IncrementBuffer
from engine.stream.liveness import BrokerWatch
from engine.stream.stats import WorkerStats
from engine.stream.transport import EngineTransport
from engine.topics import topic_plan
from engine.world import World

__all__ = ["WEB_BIND", "EngineApp", "Runtime", "create_app"]

WEB_BIND = "0.0.0.0"  # the web views listen on every interface (ENGINE_WEB_HOST names this one)

log = logging.getLogger(__name__)


class EngineApp(faust.App):
    """A Faust app on the engine's transport (fetch wait and exact recovery)."""

    engine_settings: Settings
    engine: Runtime

    def _new_transport(self) -> Any:
        return EngineTransport(self.conf.broker_consumer, self)


@dataclass
class Runtime:
    """Everything the agents and views of one worker share."""

    settings: Settings
    config: EngineConfig
    world: World
    stats: WorkerStats
    topics: dict[str, Any]  # role -> faust topic
    profiles: Any  # faust Table: stored user id (see ``pseudonym``) -> Profile
    item_rows: Any  # faust Table: item id -> ItemRow
    ranker: OnlineRanker | None  # this worker's learned ranker (None: no learned variant)
    mf: OnlineMF | None = None  # this worker's matrix factorisation (None: not in the blend)
    pseudonym: Pseudonymiser = field(default_factory=lambda: Pseudonymiser(None))
    users: RecencyIndex = field(default_factory=lambda: RecencyIndex(0))  # profiles by activity
    items: RecencyIndex = field(default_factory=lambda: RecencyIndex(0))  # item rows by update
    world_ready: asyncio.Event = field(default_factory=asyncio.Event)
    models_ready: asyncio.Event = field(default_factory=asyncio.Event)  # checkpoints loaded
    broker: BrokerWatch = field(default_factory=BrokerWatch)  # is the broker answering?
    #: clickstream records not processed yet, per owned partition (set by ``agents.install``)
    clickstream_lag: Callable[[], dict[int, int]] = dict
    producer: Any = None  # the app's producer, set when the app exists
    collector: CollectorPolicy | None = None  # the garbage collector's pauses and policy
    increments: IncrementBuffer = field(init=False)
    #: profiles changed since the last flush: stored id -> partition (see ``stage_profile``)
    staged_profiles: dict[str, int] = field(init=False, default_factory=dict)
    #: item rows changed since the last commit: item id -> partition (see ``stage_row``)
    staged_rows: dict[str, int] = field(init=False, default_factory=dict)
    _flushing: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _flushing_rows: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        async def send_increments(partition: int, value: bytes) -> None:
            await self.send("item-pairs", None, value, partition)

        self.increments = IncrementBuffer(send_increments, self.settings.partitions)

    async def send(
        self, role: str, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        """Send a record to one of the engine's topics (see :meth:`send_to`)."""
        await self.send_to(self.topics[role].get_topic_name(), key, value, partition)

    async def send_to(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        """Hand a record to the worker's producer; returns once it is in aiokafka's buffer.

        Faust flushes aiokafka before every offset commit, so a record handed
        over while its input event was processed is durable before that
        event's offset is committed. A delivery failure is logged and counted.
        """
        delivery = await self.producer.send(topic, key, value, partition, None, None)
        delivery.add_done_callback(self._check_delivery)

    async def _send_changelog(self, table: Any, key: str, payload: bytes | None,
                              partition: int) -> None:
        """A table key's changelog record, in aiokafka's buffer when this returns.

        Not Faust's own (``table[key] = value``): Faust queues that record in
        its own producer buffer, whose flush before a commit gives up after
        0.1 s with records still queued, so a commit can overtake the state it
        covers and a crash then loses that state for good (seen in kill -9
        tests). Same partition, key and value bytes as Faust's.
        """
        await self.send_to(table.changelog_topic.get_topic_name(), key.encode(), payload,
                           partition)

    def stage_profile(self, key: str, profile: Any | None, partition: int) -> None:
        """Set (or delete) a profile now; its changelog record goes with the next
        :meth:`flush_user_side`, after the row increments of the same events.

        A user's events between two flushes make one changelog record, and a
        profile's record is never in the producer before the increments of
        the events it covers: a worker that dies before a flush loses both,
        and the redelivered events are applied again from the start.
        """
        _set(self.profiles, key, profile)
        self.staged_profiles[key] = partition

    def stage_row(self, key: str, row: Any | None, partition: int) -> None:
        """Set (or delete) an item row now; its changelog record goes with the next
        :meth:`flush_item_side`, before the offsets of the increments it applied are
        committed.

        A row that batches change again and again between two commits makes one
        changelog record. Its neighbour list is published with every batch all
        the same (lists stay fresh). A worker that dies before the flush has not
        committed those increments either: they are read and applied again.
        """
        _set(self.item_rows, key, row)
        self.staged_rows[key] = partition

    def item_side_full(self) -> bool:
        return len(self.staged_rows) >= _STAGED_ROWS_MAX

    async def flush_item_side(self) -> None:
        """Hand the staged item rows to the producer: before every offset commit, when
        partitions are revoked, and when too many are staged."""
        async with self._flushing_rows:
            staged, self.staged_rows = self.staged_rows, {}
            await self._send_staged(self.item_rows, staged, self.staged_rows)

    def user_side_full(self) -> bool:
        return self.increments.full() or len(self.staged_profiles) >= _STAGED_PROFILES_MAX

    async def flush_user_side(self) -> None:
        """Hand the buffered row increments, then the staged profiles, to the producer.

        Called every ``ENGINE_USER_FLUSH_MS``, when the buffers fill, before
        every offset commit and when partitions are revoked. The profiles are
        encoded as they are when the flush starts: every event they cover has
        its increments in the buffer by then, so those go first.
        """
        async with self._flushing:
            staged, self.staged_profiles = self.staged_profiles, {}
            await self._send_staged(self.profiles, staged, self.staged_profiles,
                                    first=self.increments.flush)

    async def _send_staged(self, table: Any, staged: dict[str, int], restage: dict[str, int],
                           first: Callable[[], Awaitable[None]] | None = None) -> None:
        """The changelog records of ``table``'s ``staged`` keys, as their values are now
        (``first``: what to send before them). What is not sent goes back to ``restage``,
        for the next flush."""
        values = table.data
        encoded = [(key, partition, _payload(values.get(key)))
                   for key, partition in staged.items()]
        sent = 0
        try:
            if first is not None:
                await first()
            for key, partition, payload in encoded:
                await self._send_changelog(table, key, payload, partition)
                sent += 1
        except BaseException:
            for key, partition, _unsent in encoded[sent:]:  # sent with the next flush
                restage.setdefault(key, partition)
            raise

    def _check_delivery(self, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            log.error("a record was not delivered: %r", delivery.exception())
            self.stats.inc("delivery_failures")


#: Staged profiles that make the clickstream agent flush at once (see Runtime.stage_profile).
_STAGED_PROFILES_MAX = 500
#: Staged item rows that make the item-rows agent flush at once (see Runtime.stage_row).
_STAGED_ROWS_MAX = 5000


def _set(table: Any, key: str, value: Any | None) -> None:
    if value is None:
        table.data.pop(key, None)
    else:
        table.data[key] = value


def _payload(value: Any | None) -> bytes | None:
    return None if value is None else orjson.dumps(value.to_dict())


def _faust_options(settings: Settings) -> dict[str, Any]:
    return {
        "broker": settings.broker,
        "broker_credentials": faust_credentials(settings),
        "store": settings.store,
        "datadir": settings.data_dir,
        "web_enabled": True,
        "web_port": settings.web_port,
        "web_bind": WEB_BIND,
        "web_host": settings.web_host or socket.gethostname(),
        "topic_partitions": settings.partitions,
        "table_standby_replicas": settings.standby_replicas,
        "topic_disable_leader": True,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "broker_rebalance_timeout": settings.session_timeout,
        "broker_commit_interval": settings.commit_interval,
        "producer_linger": settings.producer_linger_ms / 1000.0,
        "producer_max_batch_size": settings.producer_batch_bytes,
        "autodiscover": False,
        "web_in_thread": False,
    }


def _table(
    app: EngineApp, name: str, codec: str, partitions: int, *, by_key: bool = False
) -> Any:
    """A changelogged table: UTF-8 keys (as producers send them), orjson values.

    ``by_key``: the changelog partition is the key's (default partitioner), not
    the current message's: needed by agents that write in batches.
    """
    table: Any = app.Table(name, partitions=partitions, key_type=str, use_partitioner=by_key)
    # Faust derives serializers from types: keys would be written as JSON
    # strings (quoted), which do not partition like the producers' keys, and
    # web requests would be routed to the wrong worker. Set them, then make the
    # changelog topic again from them (the store is created later, at start).
    table.key_serializer = "raw"
    table.value_serializer = codec
    table.changelog_topic = table._new_changelog_topic()
    return table


def create_app(settings: Settings) -> EngineApp:
    """A worker app for ``settings``: topics, tables, agents, broadcast reader, web views."""
    from engine.stream import (  # the wiring, kept in its own modules
        agents,
        broadcast,
        checkpoints,
        collector,
        liveness,
        views,
    )

    register_codecs()
    app = EngineApp(settings.app_id, **_faust_options(settings))
    app.engine_settings = settings
    topics = {
        planned.role: app.topic(
            planned.name,
            partitions=planned.partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for planned in topic_plan(settings)
    }
    config = EngineConfig.from_settings(settings)
    runtime = Runtime(
        settings=settings,
        config=config,
        world=World(trending_half_life=settings.trending_half_life),
        stats=WorkerStats(),
        topics=topics,
        profiles=_table(app, "profiles", PROFILE_CODEC, settings.partitions),
        item_rows=_table(app, "item-rows", ITEM_ROW_CODEC, settings.partitions, by_key=True),
        ranker=new_ranker(config) if serves_learned(config) else None,
        mf=new_mf(config) if learns_mf(config) else None,
        pseudonym=Pseudonymiser(settings.pseudonym_key),
        users=RecencyIndex(settings.max_users),
        items=RecencyIndex(settings.max_items),
    )
    if (ranker := runtime.ranker) is not None:
        runtime.stats.watch_ranker(lambda: ranker.serving(config.ranker.guard),
                                   lambda: ranker.examples)
    runtime.producer = app.producer
    runtime.collector = CollectorPolicy(runtime.stats.registry, settings.gc_freeze_seconds,
                                        settings.gc_full_seconds)
    app.engine = runtime
    agents.install(app, runtime)
    broadcast.install(app, runtime)
    checkpoints.install(app, runtime)
    views.install(app, runtime)
    liveness.install(app, runtime)
    collector.install(app, runtime.collector)
    return app
