"""Row increments on their way to the item side, coalesced per owning partition.

The clickstream agent adds each event's increments here instead of sending
them one message per event. The buffer is sent as one message per partition
that owns touched rows: when it holds enough, every few milliseconds, and
always before Faust commits input offsets (see ``engine/stream/transport.py``),
so a commit never overtakes increments still in the buffer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from engine.profiles import Erasure, PairUpdate
from engine.similarity import RowIncrement, row_increments

__all__ = ["IncrementBuffer", "decode_increments", "item_partition"]

Send = Callable[[int, bytes], Awaitable[None]]


@functools.lru_cache(maxsize=1 << 16)
def item_partition(item_id: str, partitions: int) -> int:
    """The partition that owns an item: Kafka's default (murmur2) partitioner on its id.

    Cached: aiokafka's murmur2 is pure Python (about 5 µs an id), and every
    event asks for the partitions of the rows it touches.
    """
    return int(murmur2(item_id.encode()) & 0x7FFFFFFF) % partitions


class IncrementBuffer:
    """Pending row increments by partition; ``flush`` sends one message per partition."""

    def __init__(self, send: Send, partitions: int, max_pending: int = 500) -> None:
        self._send = send
        self._partitions = partitions
        self._max_pending = max_pending
        self._pending: dict[int, dict[str, list[dict[str, Any]]]] = {}
        self._count = 0
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, update: PairUpdate | Erasure, source: tuple[int, int] | None) -> None:
        """Queue an interaction's (or an erasure's) increments; ``source`` is its event's
        (partition, offset), None for an erasure that comes from no input record (applied
        whenever it arrives: forgetting twice is forgetting once)."""
        for item_id, increment in row_increments(update).items():
            rows = self._pending.setdefault(item_partition(item_id, self._partitions), {})
            encoded: dict[str, Any] = {"gain": increment.gain, "pairs": increment.pairs,
                                       "next": increment.next, "ts": increment.ts}
            if source is not None:
                encoded["src"] = list(source)
            if increment.bought:
                encoded["bought"] = increment.bought
            if increment.engager:
                encoded["user"] = increment.engager
            if increment.forget:
                encoded["forget"] = list(increment.forget)
            rows.setdefault(item_id, []).append(encoded)
            self._count += 1

    def full(self) -> bool:
        return self._count >= self._max_pending

    async def flush(self) -> None:
        """Hand everything pending to the producer; what a failed send kept is kept pending."""
        async with self._lock:
            pending, self._pending, self._count = self._pending, {}, 0
            while pending:
                partition, rows = next(iter(pending.items()))
                try:
                    await self._send(partition, orjson.dumps({"rows": rows}))
                except BaseException:
                    self._restore(pending)
                    raise
                del pending[partition]

    def _restore(self, unsent: dict[int, dict[str, list[dict[str, Any]]]]) -> None:
        for partition, rows in unsent.items():
            for item_id, increments in rows.items():
                kept = self._pending.setdefault(partition, {}).setdefault(item_id, [])
                kept[:0] = increments  # older than anything added since
                self._count += len(increments)


def decode_increments(value: bytes) -> dict[str, list[RowIncrement]]:
    """The increments of one item-pairs message, by item."""
    data = orjson.loads(value)
    return {
        str(item_id): [
            RowIncrement(
                float(inc["gain"]),
                {str(k): float(v) for k, v in inc["pairs"].items()},
                float(inc["ts"]),
                {str(k): float(v) for k, v in inc.get("next", {}).items()},
                {str(k): float(v) for k, v in inc.get("bought", {}).items()},
                (int(inc["src"][0]), int(inc["src"][1])) if "src" in inc else None,
                str(inc.get("user", "")),
                tuple(str(user) for user in inc.get("forget", ())),
            )
            for inc in increments
        ]
        for item_id, increments in data["rows"].items()
    }
