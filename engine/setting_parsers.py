"""Parsers of one setting's text: each returns the value or raises ValueError with the reason.

:func:`engine.settings.load_settings` names the variable in front of the reason.

>>> positive_int("5"), flag("on"), broker_url("a:9092,kafka://b:9093/")
(5, True, 'kafka://a:9092,kafka://b:9093')
>>> positive_int("0")
Traceback (most recent call last):
...
ValueError: expected a positive integer, got '0'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = [
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "Variant",
    "broker_addresses",
    "broker_url",
    "event_time",
    "flag",
    "integer",
    "log_level",
    "non_empty",
    "non_negative_int",
    "number",
    "one_of",
    "optional_text",
    "parse_variants",
    "parse_weights",
    "port",
    "positive_int",
    "readable_file",
    "similarity_kind",
    "store_url",
    "unit_interval",
]


@dataclass(frozen=True)
class Variant:
    """An A/B variant: ``learned`` (online ranker) or ``heuristic`` (the blend alone)."""

    name: str
    weight: float



def integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def non_negative_int(raw: str) -> int:
    value = integer(raw)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {raw!r}")
    return value


def positive_int(raw: str) -> int:
    value = integer(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ValueError(f"expected a finite number >= 0, got {raw!r}")
    return value


#: The last second a datetime can show (9999-12-31T23:59:59Z): reasons print the bounds.
_LAST_TS = 253_402_300_799.0


def event_time(raw: str) -> float:
    """Epoch seconds, or an ISO-8601 UTC time such as ``1990-01-01T00:00:00Z``."""
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"expected epoch seconds or an ISO-8601 time, got {raw!r}"
            ) from None
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not 0 <= value <= _LAST_TS:
        raise ValueError(f"expected a time from 1970 to 9999, got {raw!r}")
    return value


def unit_interval(raw: str) -> float:
    value = number(raw)
    if value > 1:
        raise ValueError(f"expected a number from 0 to 1, got {raw!r}")
    return value


def similarity_kind(raw: str) -> str:
    kind = raw.lower()
    if kind not in ("conditional", "cosine", "jaccard"):
        raise ValueError(f"expected conditional, cosine or jaccard, got {raw!r}")
    return kind


def port(raw: str) -> int:
    value = integer(raw)
    if not 0 < value < 65536:
        raise ValueError(f"expected a TCP port (1-65535), got {raw!r}")
    return value


def broker_addresses(broker: str) -> list[str]:
    """``host:port`` of each URL in ``kafka://host:port[,kafka://host:port...]``.

    The scheme and a trailing ``/`` are optional; anything else (another
    scheme, no host, a port that is not 1-65535, a ``;`` between URLs) is a
    :class:`ValueError`.

    >>> broker_addresses("kafka://a:9092, b:9093")
    ['a:9092', 'b:9093']
    >>> broker_addresses("kafka://a:90x")
    Traceback (most recent call last):
    ...
    ValueError: expected kafka://host:port with a port from 1 to 65535, got 'kafka://a:90x'
    """
    addresses = []
    for url in (part.strip() for part in broker.split(",")):
        if not url:
            continue
        scheme, sep, address = url.removesuffix("/").rpartition("://")
        host, colon, port = address.rpartition(":")
        if ";" in url or any(c.isspace() for c in url):
            raise ValueError(f"expected comma-separated kafka://host:port URLs, got {url!r}")
        if (sep and scheme != "kafka") or not colon or not host or "/" in host:
            raise ValueError(f"expected kafka://host:port, got {url!r}")
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(
                f"expected kafka://host:port with a port from 1 to 65535, got {url!r}")
        addresses.append(address)
    if not addresses:
        raise ValueError(f"expected one or more kafka://host:port URLs, got {broker!r}")
    return addresses


def broker_url(raw: str) -> str:
    return ",".join(f"kafka://{address}" for address in broker_addresses(raw))


def store_url(raw: str) -> str:
    if raw not in ("memory://", "rocksdb://") and not raw.startswith("rocksdb://"):
        raise ValueError(f"expected memory:// or rocksdb://, got {raw!r}")
    return raw


def non_empty(raw: str) -> str:
    if not raw:
        raise ValueError("cannot be empty")
    return raw


def optional_text(raw: str) -> str | None:
    return raw or None


def parse_variants(raw: str) -> tuple[Variant, ...]:
    """Parse ``name:weight,name:weight``.

    >>> parse_variants("learned:0.5,heuristic:0.5")
    (Variant(name='learned', weight=0.5), Variant(name='heuristic', weight=0.5))
    """
    variants = []
    for part in raw.split(","):
        name, sep, weight = part.strip().partition(":")
        if not sep or name not in ("learned", "heuristic"):
            raise ValueError(f"expected learned:<weight> or heuristic:<weight>, got {part!r}")
        variants.append(Variant(name, number(weight)))
    if sum(v.weight for v in variants) <= 0:
        raise ValueError("variant weights must add up to more than 0")
    if len({v.name for v in variants}) != len(variants):
        raise ValueError("a variant is named twice")
    return tuple(variants)


def parse_weights(raw: str) -> Mapping[str, float] | None:
    """Parse ``source:weight,source:weight`` (sources not named keep their default weight).

    Blank: None, every source at its default weight.

    >>> dict(parse_weights("content:0.2,trending:0"))
    {'content': 0.2, 'trending': 0.0}
    >>> parse_weights(" ") is None
    True
    """
    if not raw.strip():
        return None
    weights = {}
    for part in raw.split(","):
        name, sep, weight = part.strip().partition(":")
        if not sep or not name:
            raise ValueError(f"expected source:weight, got {part!r}")
        weights[name] = number(weight)
    return MappingProxyType(weights)


def flag(raw: str) -> bool:
    value = raw.lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"expected 1 or 0 (true or false), got {raw!r}")
    return value in ("1", "true", "yes", "on")


def log_level(raw: str) -> str:
    level = raw.lower()
    if level not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError(f"expected debug, info, warning, error or critical, got {raw!r}")
    return level


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.upper() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return raw.upper()

    return parse


def readable_file(raw: str) -> str | None:
    if not raw:
        return None
    if not os.path.isfile(raw):
        raise ValueError(f"no such file: {raw!r}")
    return raw
