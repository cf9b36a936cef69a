"""``bootstrap_servers``: broker URLs from settings to aiokafka's bootstrap string."""

from __future__ import annotations

import pytest

from engine.settings import load_settings
from engine.stream.connection import bootstrap_servers


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("kafka://localhost:9092", "localhost:9092"),
        ("kafka://127.0.0.1:1", "127.0.0.1:1"),
        ("kafka://a:9092,kafka://b:9093", "a:9092,b:9093"),
        (" kafka://a:9092 , kafka://b:9093 ,", "a:9092,b:9093"),
        ("a:9092,kafka://b:9093", "a:9092,b:9093"),
        ("kafka://[::1]:9092", "[::1]:9092"),
        ("kafka://localhost:9092/", "localhost:9092"),
    ],
)
def test_strips_the_scheme(url: str, expected: str) -> None:
    assert bootstrap_servers(url) == expected


@pytest.mark.parametrize("url", ["", " , ", "http://a:9092", "kafka://a", "kafka://:9092",
                                 "kafka://a:x", "kafka://a:0", "kafka://a:70000",
                                 "kafka://a:1;b:2", "kafka://a/b:1"])
def test_rejects_what_is_not_kafka_host_port(url: str) -> None:
    with pytest.raises(ValueError, match="kafka://host:port"):
        bootstrap_servers(url)


def test_accepts_what_settings_produce() -> None:
    settings = load_settings({"ENGINE_BROKER": "a:1,kafka://b:2"})
    assert bootstrap_servers(settings.broker) == "a:1,b:2"
