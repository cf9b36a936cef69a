"""Whether the worker can still reach the broker, for ``/health`` and ``/metrics``.

Faust's clients reconnect on their own when the broker goes away, and log
while they wait, but nothing they expose says that the worker has stopped
consuming. So every worker asks the broker for the clickstream topic's
metadata (one topic: small on a cluster of thousands) every
:data:`PROBE_INTERVAL` seconds, with a client of its own, and holds
the broker unreachable after :data:`FAILURES_TO_FAIL` probes in a row fail
(no answer within :data:`PROBE_TIMEOUT` seconds, or an error). One answer makes
it reachable again. ``/health`` then answers 503 with the status
``"broker unreachable"``, and the gauge ``engine_broker_reachable`` is 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from engine.stream.connection import client_options

if TYPE_CHECKING:  # app.py imports this module
    from engine.stream.app import EngineApp, Runtime

__all__ = [
    "FAILURES_TO_FAIL",
    "PROBE_INTERVAL",
    "PROBE_TIMEOUT",
    "BrokerWatch",
    "install",
    "keep_watch",
    "probe",
]

log = logging.getLogger(__name__)

PROBE_INTERVAL = 2.0  # seconds between two metadata requests
PROBE_TIMEOUT = 3.0  # seconds a probe may take before it counts as failed
FAILURES_TO_FAIL = 2  # failed probes in a row before the broker counts as unreachable


class BrokerWatch:
    """The outcome of the latest probes: ``reachable`` until enough of them fail in a row."""

    def __init__(self, failures_to_fail: int = FAILURES_TO_FAIL) -> None:
        self.failures_to_fail = failures_to_fail
        self.failures = 0

    @property
    def reachable(self) -> bool:
        return self.failures < self.failures_to_fail

    def answered(self) -> None:
        if not self.reachable:
            log.info("the broker answers again")
        self.failures = 0

    def failed(self, reason: str) -> None:
        self.failures += 1
        if self.failures == self.failures_to_fail:
            log.error("the broker does not answer (%s): /health answers 503", reason)


async def probe(request: Callable[[], Awaitable[Any]]) -> str | None:
    """Make a request to the broker; None when it answered in time, else why not."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await request()
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:g} s"
    except Exception as exc:  # any failure to answer means the same here
        return f"{type(exc).__name__}: {exc}"
    return None


async def keep_watch(watch: BrokerWatch, connection: dict[str, Any], topic: str,
                     interval: float = PROBE_INTERVAL) -> None:
    """Probe forever (until cancelled), recording each outcome in ``watch``.

    ``topic`` is the topic whose metadata the probes ask for; it must exist
    (a broker that creates topics on request would otherwise create it).
    """
    client: AIOKafkaClient | None = None
    connected = False

    async def connect() -> None:
        assert client is not None
        await client.bootstrap()
        await client.add_topic(topic)  # the later probes ask for this topic only

    async def metadata() -> None:
        assert client is not None
        if not await client.force_metadata_update():
            raise KafkaError("no broker answered the metadata request")

    try:
        while True:
            if not connected:  # bootstrapping is the probe
                client = AIOKafkaClient(**connection)
                problem = await probe(connect)
                connected = problem is None
                if not connected:
                    await client.close()
                    client = None
            else:
                problem = await probe(metadata)
            if problem is None:
                watch.answered()
            else:
                watch.failed(problem)
            await asyncio.sleep(interval)
    finally:
        if client is not None:
            await client.close()  # also a client cancelled while it connects


def install(app: EngineApp, rt: Runtime) -> None:
    """Run the probe with the worker; ``rt.broker`` holds what it found."""
    connection = client_options(rt.settings)
    rt.stats.watch_broker(lambda: rt.broker.reachable)

    @app.task  # type: ignore[untyped-decorator]
    async def watch_the_broker() -> None:
        await keep_watch(rt.broker, connection, rt.topics["clickstream"].get_topic_name())
