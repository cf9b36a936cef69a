"""An ``engine worker`` in a child process, and what it answers on its web views.

Used by ``engine demo``, ``engine evaluate --via-broker``, ``engine bench``
and the integration tests: start a worker, wait until it is healthy, read
its ``/stats``, wait until its item side has settled, stop it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from engine.errors import EngineError
from engine.settings import Settings, settings_env

__all__ = [
    "get_json",
    "stop_process",
    "wait_settled",
    "wait_until_healthy",
    "worker_counters",
    "worker_process",
    "worker_stats",
]


@contextlib.contextmanager
def worker_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``engine worker`` in a child process with these settings; stopped (SIGTERM) on exit."""
    env = {**os.environ, **settings_env(settings)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "worker"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def get_json(url: str, token: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    """GET a JSON web view: (status, body)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:  # the engine's errors are JSON; a server's own error page is not
            return exc.code, orjson.loads(exc.read() or b"null")
        except orjson.JSONDecodeError:
            return exc.code, None


def wait_until_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until ``base/health`` answers 200; an error if the worker exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"the worker exited with code {proc.returncode}")
        with contextlib.suppress(OSError):
            if get_json(f"{base}/health", timeout=2)[0] == 200:
                return
        time.sleep(0.5)
    raise EngineError(f"the worker did not become healthy within {timeout:.0f} s")


def worker_stats(settings: Settings) -> dict[str, Any] | None:
    """The local worker's ``/stats``, or None when it does not answer (yet)."""
    with contextlib.suppress(OSError, ValueError):
        status, stats = get_json(f"http://127.0.0.1:{settings.web_port}/stats",
                                 settings.api_token, timeout=5)
        if status == 200 and isinstance(stats, dict):
            return stats
    return None


def worker_counters(settings: Settings) -> dict[str, Any] | None:
    """The numbers at the top level of the local worker's ``/stats``."""
    stats = worker_stats(settings)
    return None if stats is None else {
        k: v for k, v in stats.items() if isinstance(v, int | float)}


def wait_settled(settings: Settings, proc: subprocess.Popen[bytes], limit: float,
                 window: float = 1.0) -> float:
    """Wait until no ``/stats`` counter moves for ``window`` s; the ``perf_counter`` it stopped.

    After its clickstream counters are complete a worker may still be busy
    with the item side (row increments, neighbour lists). Gives up quietly
    after ``limit`` seconds.
    """
    deadline = time.monotonic() + limit
    before, at = worker_counters(settings), time.perf_counter()
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(window)
        now = worker_counters(settings)
        if now is not None and now == before:
            return at
        before, at = now, time.perf_counter()
    return time.perf_counter()
