"""How every Kafka client of the engine connects: bootstrap servers, TLS and SASL.

The Faust app, the broadcast reader, the offsets reader, the admin client,
``engine replay`` and ``engine bench`` all connect with the same options, read
from the ``ENGINE_BROKER_*`` settings.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

import faust
from aiokafka.errors import KafkaConnectionError

from engine.errors import BrokerUnreachable
from engine.settings import Settings, broker_addresses

__all__ = [
    "bootstrap_servers",
    "client_options",
    "faust_credentials",
    "ssl_context",
    "start_client",
]


def bootstrap_servers(broker_url: str) -> str:
    """``host:port[,host:port]`` for aiokafka, from ``kafka://host:port[,kafka://...]``.

    >>> bootstrap_servers("kafka://localhost:9092")
    'localhost:9092'
    >>> bootstrap_servers("kafka://a:9092, kafka://b:9093")
    'a:9092,b:9093'
    >>> bootstrap_servers("a:9092")
    'a:9092'
    >>> bootstrap_servers("http://a:9092")
    Traceback (most recent call last):
    ...
    ValueError: expected kafka://host:port, got 'http://a:9092'
    """
    return ",".join(broker_addresses(broker_url))


async def start_client(client: Any, settings: Settings) -> None:
    """Start an aiokafka client; :class:`BrokerUnreachable` when no broker answers.

    The half-started client is closed first, so that nothing is left open
    behind the message. ``client`` is a producer, a consumer or an admin client.
    """
    try:
        await client.start()
    except KafkaConnectionError as exc:
        with contextlib.suppress(Exception):
            await (client.close() if hasattr(client, "close") else client.stop())
        raise BrokerUnreachable(
            f"ENGINE_BROKER: no broker answers at {settings.broker} "
            "(is it running, and is the address right?)"
        ) from exc


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None for plaintext protocols).

    Verifies the broker's certificate against ``ENGINE_BROKER_SSL_CAFILE`` (or
    the system's CAs) and its host name; presents a client certificate when one
    is configured (mutual TLS).
    """
    if not settings.broker_security_protocol.endswith("SSL"):
        return None
    context = ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH, cafile=settings.broker_ssl_cafile
    )
    if settings.broker_ssl_certfile and settings.broker_ssl_keyfile:
        context.load_cert_chain(settings.broker_ssl_certfile, settings.broker_ssl_keyfile)
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin)."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings.broker),
        "security_protocol": settings.broker_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.broker_security_protocol.startswith("SASL_"):
        options.update(
            sasl_mechanism=settings.broker_sasl_mechanism,
            sasl_plain_username=settings.broker_sasl_username,
            sasl_plain_password=settings.broker_sasl_password,
        )
    return options


def faust_credentials(settings: Settings) -> Any:
    """Faust's ``broker_credentials`` for the same connection (None for plaintext)."""
    protocol = settings.broker_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.broker_sasl_username,
        password=settings.broker_sasl_password,
        ssl_context=ssl_context(settings),  # None: SASL_PLAINTEXT
        mechanism=settings.broker_sasl_mechanism,
    )
