"""What a worker refuses before it starts anything."""

from __future__ import annotations

import pytest

from engine.errors import SettingsError
from engine.settings import Settings, replace
from engine.stream.worker import run_worker


def test_a_worker_refuses_a_rocksdb_store_naming_the_variable_before_touching_the_broker(
) -> None:
    # the broker URL points nowhere: the refusal must come before any connection
    settings = replace(Settings(), store="rocksdb://", broker="kafka://127.0.0.1:1")
    with pytest.raises(SettingsError, match=r"^ENGINE_STORE: rocksdb:// is not supported"):
        run_worker(settings)
