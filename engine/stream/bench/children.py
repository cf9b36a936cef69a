"""The bench's child processes: start one on a JSON config, wait for the file it writes, stop it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.stream.child_worker import stop_process

__all__ = ["child_process", "wait_for_file"]

_POLL = 0.1  # seconds between two looks for the file


@contextmanager
def child_process(module: str, function: str, config: dict[str, Any], config_path: Path,
                  log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``module.function(config_path)`` in a child Python process; stopped on leaving.

    ``config`` is written to ``config_path`` as JSON first; the child's output
    goes to ``log_path``.
    """
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-c", f"from {module} import {function}; {function}()",
               str(config_path)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc)


def wait_for_file(proc: subprocess.Popen[bytes], path: Path, timeout: float, child: str,
                  late: str, log_path: Path) -> None:
    """Until the child ``proc`` has written ``path``.

    Raises :class:`EngineError` naming ``child`` and ``log_path`` when it exits
    first, or saying ``late`` when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise EngineError(f"{child} exited with code {proc.returncode} (log: {log_path})")
        if time.monotonic() > deadline:
            raise EngineError(f"{child} {late} (log: {log_path})")
        time.sleep(_POLL)
