"""Handing a fetched record to the agents without four asyncio tasks per record.

Faust's consumer hands every fetched record to the agents' channels with
``await self.wait_first(callback(message), self.suspend_flow.wait())``, so
that a hand-off blocked on a full channel gives way when the flow is
suspended (a rebalance). mode's ``Service.wait_first`` makes a task of each
of the two and of the service's stopped and crashed events, waits for the
first to finish and cancels the others: about 24 µs per record on uvloop, for
a hand-off that nearly always finishes at once (the channel has room).

:class:`HandOffAtOnce` runs the first coroutine at once instead, up to its first
suspension. If it finishes without suspending, it has won, as it would have
in mode's race: nothing else ran meanwhile. If it suspends, the rest of it
(:func:`_continued`) races the others in mode's ``wait_first``, as before.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any

from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds

__all__ = ["HandOffAtOnce"]


class HandOffAtOnce:
    """A mixin for a mode ``Service`` (Faust's consumer): :meth:`wait_first` runs the
    first coroutine at once."""

    async def wait_first(
            self, *coros: WaitArgT, timeout: Seconds = None,  # type: ignore[assignment]  # noqa: ASYNC109 (mode's signature)
    ) -> WaitResults:
        """mode's ``wait_first(*coros)``, with the first coroutine run at once.

        The results differ from mode's in one case only: when the first
        coroutine finishes without suspending, the others are not started
        and are not among the winners (Faust's consumer, the one caller,
        does not read the results).
        """
        race = super().wait_first  # type: ignore[misc]
        first, others = (coros[0], coros[1:]) if coros else (None, ())
        if not isinstance(first, Coroutine):
            results: WaitResults = await race(*coros, timeout=timeout)
            return results
        try:
            yielded = first.send(None)
        except StopIteration as finished:
            _close(others)
            service: Any = self
            if service._stopped.is_set() or service._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [finished.value], False)
        except BaseException:
            _close(others)
            raise
        results = await race(_rest(first, yielded), *others, timeout=timeout)
        return results


def _close(coros: tuple[WaitArgT, ...]) -> None:
    """Close coroutines that will never run (no "never awaited" warning)."""
    for coro in coros:
        if isinstance(coro, Coroutine):
            coro.close()


async def _rest(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """The rest of ``coro``, which suspended on ``yielded``, as a coroutine mode can race."""
    return await _continued(coro, yielded)


@types.coroutine
def _continued(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, None, Any]:
    """Continue ``coro`` from where it suspended, on ``yielded`` (a future, or None).

    The task that runs this waits on ``yielded`` as it would have if it had
    run ``coro`` from the start; then ``coro`` goes on. A cancellation (or
    any exception the task throws in) meanwhile is thrown into ``coro``.
    """
    try:
        yield yielded
    except BaseException as exc:
        try:
            yielded = coro.throw(exc)
        except StopIteration as finished:
            return finished.value
        return (yield from _continued(coro, yielded))
    return (yield from coro.__await__())  # its next step is sent None, as a task does
