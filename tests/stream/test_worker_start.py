"""What a worker refuses before it starts anything."""

from __future__ import annotations

import socket

import pytest

from engine.errors import SettingsError
from engine.settings import Settings, replace
from engine.stream.broker import free_port
from engine.stream.worker import check_web_port, run_worker


def test_a_worker_refuses_a_rocksdb_store_naming_the_variable_before_touching_the_broker(
) -> None:
    # the broker URL points nowhere: the refusal must come before any connection
    settings = replace(Settings(), store="rocksdb://", broker="kafka://127.0.0.1:1")
    with pytest.raises(SettingsError, match=r"^ENGINE_STORE: rocksdb:// is not supported"):
        run_worker(settings)


def test_a_worker_refuses_a_web_port_in_use_naming_the_variable_before_touching_the_broker(
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = replace(Settings(), web_port=port, broker="kafka://127.0.0.1:1")
        with pytest.raises(SettingsError, match=rf"^ENGINE_WEB_PORT: cannot listen on .*:{port} "):
            run_worker(settings)


def test_a_free_web_port_passes_the_check() -> None:
    port = free_port()
    check_web_port(replace(Settings(), web_port=port))  # nothing raised
    with socket.socket() as again:  # and the probe let go of it
        again.bind(("0.0.0.0", port))
