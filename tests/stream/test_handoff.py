"""Faust's consumer hands each record over without a task per record, and still
gives way to a suspended flow (engine/stream/handoff.py)."""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mode import Service
from mode.utils.locks import Event

from engine.stream.handoff import HandOffAtOnce


class Consumer(HandOffAtOnce, Service):
    """A mode service with the engine's hand-off, as the engine's Faust consumer has."""


def on_a_loop(scenario: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    @functools.wraps(scenario)
    def test() -> None:
        asyncio.run(scenario())  # type: ignore[arg-type]

    return test


async def _tasks_made_by(action: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    before = len(asyncio.all_tasks())
    made = 0
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()

    def counting(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        nonlocal made
        made += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        result = await action()
    finally:
        loop.set_task_factory(factory)
    assert len(asyncio.all_tasks()) <= before + 1
    return result, made


@on_a_loop
async def test_a_hand_off_that_finishes_at_once_wins_without_a_task() -> None:
    consumer, suspended = Consumer(), Event()
    delivered: list[str] = []

    async def hand_off(record: str) -> str:
        delivered.append(record)
        return record

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the suspension's wait is closed, never left unawaited
        results, tasks = await _tasks_made_by(
            lambda: consumer.wait_first(hand_off("r1"), suspended.wait()))
    assert delivered == ["r1"]
    assert results.results == ["r1"] and not results.stopped
    assert tasks == 0


@on_a_loop
async def test_a_hand_off_that_waits_is_continued_where_it_stopped() -> None:
    consumer, suspended = Consumer(), Event()
    room = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def hand_off() -> str:
        steps.append("decoded")
        await room  # the channel is full
        steps.append("queued")
        return "done"

    waiting = asyncio.ensure_future(consumer.wait_first(hand_off(), suspended.wait()))
    await asyncio.sleep(0.01)
    assert steps == ["decoded"] and not waiting.done()
    room.set_result(None)
    results = await asyncio.wait_for(waiting, 1)
    assert steps == ["decoded", "queued"]  # each step once: not started over
    assert results.results == ["done"]


@on_a_loop
async def test_a_waiting_hand_off_gives_way_to_a_suspended_flow() -> None:
    consumer, suspended = Consumer(), Event()
    never = asyncio.get_running_loop().create_future()
    ended: list[str] = []

    async def hand_off() -> None:
        try:
            await never
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    suspension = suspended.wait()
    waiting = asyncio.ensure_future(consumer.wait_first(hand_off(), suspension))
    await asyncio.sleep(0.01)
    suspended.set()  # a rebalance
    results = await asyncio.wait_for(waiting, 1)
    await asyncio.sleep(0.01)
    assert results.done == [suspension]
    assert ended == ["cancelled"]  # the cancellation reached the hand-off itself


@on_a_loop
async def test_a_hand_off_that_waits_twice_and_fails_raises_its_error() -> None:
    consumer, suspended = Consumer(), Event()

    async def hand_off() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(hand_off(), suspended.wait())


@on_a_loop
async def test_a_hand_off_that_fails_at_once_raises_its_error() -> None:
    consumer, suspended = Consumer(), Event()

    async def hand_off() -> None:
        raise ValueError("undecodable")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="undecodable"):
            await consumer.wait_first(hand_off(), suspended.wait())


@on_a_loop
async def test_a_stopped_consumer_reports_stopped_as_modes_does() -> None:
    consumer, suspended = Consumer(), Event()

    async def hand_off() -> str:
        return "r1"

    consumer._stopped.set()
    results = await consumer.wait_first(hand_off(), suspended.wait())
    assert results.stopped and results.results == []


@on_a_loop
async def test_anything_but_a_coroutine_first_is_raced_as_mode_races_it() -> None:
    consumer, first, second = Consumer(), Event(), Event()
    second.set()
    results = await consumer.wait_first(first, second)
    assert results.done == [second]
