"""What ``/proc`` says about a process (CPU time, RSS), and a rate from a count and a time."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["cpu_seconds", "rate", "rss_mb"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """A process's resident set size in MB (``VmRSS``), None when unreadable."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def rate(events: int, seconds: float, cpu: float) -> dict[str, float]:
    """Events, seconds, events/s and CPU µs per event of one measured interval.

    >>> rate(1000, 0.5, 0.25)
    {'events': 1000, 'seconds': 0.5, 'events_per_s': 2000, 'cpu_us_per_event': 250}
    """
    seconds = max(seconds, 1e-9)
    return {"events": events, "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds), "cpu_us_per_event": round(cpu / events * 1e6)}
