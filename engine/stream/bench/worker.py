"""(c) The engine's own throughput: an ``engine worker`` child, watched through ``/stats``.

Events / (first ``/stats`` poll that shows progress → all processed), counting
``events_processed + duplicates_skipped + dead_lettered`` and subtracting what
was already done at the first poll; then the same start → no counter moves
for 1 s (the item side settled). Polls every 0.1 s.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

from engine.errors import EngineError
from engine.settings import Settings
from engine.stream.bench.process import cpu_seconds, rate
from engine.stream.child_worker import wait_settled, worker_counters, worker_stats

__all__ = ["POLL", "collector_pauses", "done_count", "engine_throughput", "wait_done"]

POLL = 0.1  # seconds between two /stats polls


def collector_pauses(settings: Settings) -> tuple[float, int] | None:
    """The worker's garbage-collector pauses so far: seconds (every generation), and
    how many full collections."""
    stats = worker_stats(settings)
    if stats is None or not isinstance(gc := stats.get("gc"), dict):
        return None
    return float(sum(gc["pause_seconds"].values())), int(gc["collections"]["2"])


def done_count(settings: Settings) -> int | None:
    """Events the worker has finished with (processed, skipped or dead-lettered)."""
    counters = worker_counters(settings)
    if counters is None:
        return None
    return int(sum(counters.get(name, 0) for name in
                   ("events_processed", "duplicates_skipped", "dead_lettered")))


def wait_done(settings: Settings, proc: subprocess.Popen[bytes], expected: int,
              timeout: float) -> Iterator[tuple[float, int]]:
    """Poll ``/stats``: yield (perf_counter, done) for each answer, until ``expected`` are done."""
    deadline = time.monotonic() + timeout
    done: int | None = None
    while done is None or done < expected:
        if proc.poll() is not None:
            raise EngineError(f"the worker exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise EngineError(f"the worker finished {done or 0} of {expected} events "
                              f"in {timeout:.0f} s")
        time.sleep(POLL)
        done = done_count(settings)
        if done is not None:
            yield time.perf_counter(), done


def engine_throughput(settings: Settings, proc: subprocess.Popen[bytes], n: int,
                      timeout: float, broker_pid: int | None = None) -> dict[str, dict[str, float]]:
    """(c): ``clickstream`` up to the last event counted; ``with_item_side`` up to idle.

    With ``broker_pid``, each also gets the broker's CPU µs per event over the
    same interval (``broker_cpu_us_per_event``): the cost of the records the
    worker reads and writes, paid by the broker on the same machine.
    """
    def cpu() -> tuple[float, float]:
        return cpu_seconds(proc.pid), cpu_seconds(broker_pid) if broker_pid else 0.0

    first: tuple[float, int, tuple[float, float]] | None = None
    last = (0.0, 0)
    for now, done in wait_done(settings, proc, n, timeout):
        if first is None and done > 0:
            first = (now, done, cpu())
        last = (now, done)
    at_last = cpu()
    if first is None or last[1] == first[1]:
        raise EngineError("the worker finished everything before the first /stats poll: "
                          "use more --events")
    idle = wait_settled(settings, proc, timeout)
    at_idle = cpu()
    events = last[1] - first[1]
    figures = {"engine": rate(events, last[0] - first[0], at_last[0] - first[2][0]),
               "engine_with_item_side": rate(events, idle - first[0], at_idle[0] - first[2][0])}
    if broker_pid:
        for name, at in (("engine", at_last), ("engine_with_item_side", at_idle)):
            figures[name]["broker_cpu_us_per_event"] = round((at[1] - first[2][1]) / events * 1e6)
    return figures
