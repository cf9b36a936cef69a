"""Frozen settings, read once from ``ENGINE_*`` environment variables.

Nothing here reads the environment at import time: call :func:`load_settings`
(the command line does, once) and pass the result down.

>>> s = load_settings({"ENGINE_TOP_N": "5"})
>>> s.top_n, s.broker
(5, 'kafka://localhost:9092')
>>> load_settings({"ENGINE_TOP_N": "five"})
Traceback (most recent call last):
...
engine.errors.SettingsError: ENGINE_TOP_N: expected an integer, got 'five'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from engine.errors import SettingsError

__all__ = ["TOPIC_ROLES", "Settings", "Variant", "load_settings", "parse_variants"]

#: The contract's topics, by role; ``ENGINE_TOPIC_<ROLE>`` renames each.
TOPIC_ROLES = ("clickstream", "catalog", "recommendations", "deadletter")

T = TypeVar("T")


@dataclass(frozen=True)
class Variant:
    """An A/B variant: ``learned`` (online ranker) or ``heuristic`` (the blend alone)."""

    name: str
    weight: float


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the contract's defaults."""

    broker: str = "kafka://localhost:9092"
    app_id: str = "personalization-engine"
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    data_dir: str = "./engine-data"
    store: str = "memory://"
    partitions: int = 4
    top_n: int = 10
    max_event_bytes: int = 65536
    api_token: str | None = None
    variants: tuple[Variant, ...] = (Variant("learned", 1.0),)
    pseudonym_key: str | None = None
    topics: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({role: role for role in TOPIC_ROLES})
    )
    # Beyond the contract's minimum:
    refresh_interval: float = 0.0  # seconds of event time between two lists for one user
    rating_min: float = 1.0
    rating_max: float = 5.0
    recent_items: int = 20  # items kept in a profile's recent history
    cooccurrence_window: int = 5  # recent distinct items each new interaction pairs with
    neighbours: int = 50  # similar items kept per item
    interest_half_life: float = 7 * 86400.0  # seconds of event time
    trending_half_life: float = 86400.0
    dedup_horizon: int = 1000  # event ids remembered per user
    fetch_max_wait_ms: int = 10  # consumer fetch wait: dominates latency on Tansu
    session_timeout: float = 6.0  # consumer group session (seconds)
    heartbeat_interval: float = 1.0
    commit_interval: float = 1.0
    producer_linger_ms: int = 0  # batching of the worker's sends (changelogs, lists)
    blend_weights: Mapping[str, float] | None = None  # None: the engine's defaults
    exclude_recent: int = 1  # the user's latest items never recommended (1: the current one)
    max_per_category: int = 0  # diversity: places one category may fill in a list (0: no cap)
    ranker_min_examples: int = 1000  # examples the learned ranker learns before it may serve
    ranker_pool: int = 30  # blend candidates the learned ranker re-orders
    ranker_lists: int = 2  # served lists a profile remembers, to learn from reactions to them
    ranker_guard: bool = True  # serve the ranker only while it beats the blend online
    log_level: str = "info"

    def topic(self, role: str) -> str:
        """The configured name of a contract topic, e.g. ``topic('clickstream')``."""
        return self.topics[role]

    def internal_topic(self, suffix: str) -> str:
        """Name of an internal topic, prefixed by the app id."""
        return f"{self.app_id}-{suffix}"


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {raw!r}")
    return value


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ValueError(f"expected a finite number >= 0, got {raw!r}")
    return value


def _port(raw: str) -> int:
    value = _int(raw)
    if not 0 < value < 65536:
        raise ValueError(f"expected a TCP port (1-65535), got {raw!r}")
    return value


def _broker(raw: str) -> str:
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    if not urls:
        raise ValueError("expected one or more broker URLs")
    for url in urls:
        host = url.split("://", 1)[-1]
        if "://" in url and not url.startswith("kafka://"):
            raise ValueError(f"expected kafka://host:port, got {url!r}")
        if not host or ":" not in host:
            raise ValueError(f"expected host:port in {url!r}")
    return ",".join(u if "://" in u else f"kafka://{u}" for u in urls)


def _store(raw: str) -> str:
    if raw not in ("memory://", "rocksdb://") and not raw.startswith("rocksdb://"):
        raise ValueError(f"expected memory:// or rocksdb://, got {raw!r}")
    return raw


def _name(raw: str) -> str:
    if not raw:
        raise ValueError("cannot be empty")
    return raw


def _token(raw: str) -> str | None:
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
        variants.append(Variant(name, _float(weight)))
    if sum(v.weight for v in variants) <= 0:
        raise ValueError("variant weights must add up to more than 0")
    if len({v.name for v in variants}) != len(variants):
        raise ValueError("a variant is named twice")
    return tuple(variants)


def parse_weights(raw: str) -> Mapping[str, float]:
    """Parse ``source:weight,source:weight`` (sources not named keep their default weight).

    >>> dict(parse_weights("content:0.2,trending:0"))
    {'content': 0.2, 'trending': 0.0}
    """
    weights = {}
    for part in raw.split(","):
        name, sep, weight = part.strip().partition(":")
        if not sep or not name:
            raise ValueError(f"expected source:weight, got {part!r}")
        weights[name] = _float(weight)
    return MappingProxyType(weights)


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"expected 1 or 0 (true or false), got {raw!r}")
    return value in ("1", "true", "yes", "on")


def _log_level(raw: str) -> str:
    level = raw.lower()
    if level not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError(f"expected debug, info, warning, error or critical, got {raw!r}")
    return level


#: ENGINE_<NAME> -> (field, parser)
_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "BROKER": ("broker", _broker),
    "APP_ID": ("app_id", _name),
    "WEB_PORT": ("web_port", _port),
    "WEB_HOST": ("web_host", str),
    "DATA_DIR": ("data_dir", str),
    "STORE": ("store", _store),
    "PARTITIONS": ("partitions", _positive_int),
    "TOP_N": ("top_n", _positive_int),
    "MAX_EVENT_BYTES": ("max_event_bytes", _positive_int),
    "API_TOKEN": ("api_token", _token),
    "VARIANTS": ("variants", parse_variants),
    "PSEUDONYM_KEY": ("pseudonym_key", _token),
    "REFRESH_INTERVAL": ("refresh_interval", _float),
    "RATING_MIN": ("rating_min", _float),
    "RATING_MAX": ("rating_max", _float),
    "RECENT_ITEMS": ("recent_items", _positive_int),
    "COOCCURRENCE_WINDOW": ("cooccurrence_window", _positive_int),
    "NEIGHBOURS": ("neighbours", _positive_int),
    "INTEREST_HALF_LIFE": ("interest_half_life", _float),
    "TRENDING_HALF_LIFE": ("trending_half_life", _float),
    "DEDUP_HORIZON": ("dedup_horizon", _positive_int),
    "FETCH_MAX_WAIT_MS": ("fetch_max_wait_ms", _positive_int),
    "SESSION_TIMEOUT": ("session_timeout", _float),
    "HEARTBEAT_INTERVAL": ("heartbeat_interval", _float),
    "COMMIT_INTERVAL": ("commit_interval", _float),
    "PRODUCER_LINGER_MS": ("producer_linger_ms", _non_negative_int),
    "BLEND_WEIGHTS": ("blend_weights", parse_weights),
    "EXCLUDE_RECENT": ("exclude_recent", _non_negative_int),
    "MAX_PER_CATEGORY": ("max_per_category", _non_negative_int),
    "RANKER_MIN_EXAMPLES": ("ranker_min_examples", _non_negative_int),
    "RANKER_POOL": ("ranker_pool", _positive_int),
    "RANKER_LISTS": ("ranker_lists", _non_negative_int),
    "RANKER_GUARD": ("ranker_guard", _flag),
    "LOG_LEVEL": ("log_level", _log_level),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment).

    A malformed value raises :class:`SettingsError` naming the variable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for suffix, (name, parse) in _PARSERS.items():
        var = f"ENGINE_{suffix}"
        if var in env:
            try:
                values[name] = parse(env[var].strip())
            except ValueError as exc:
                raise SettingsError(f"{var}: {exc}") from exc
    topics = {}
    for role in TOPIC_ROLES:
        var = f"ENGINE_TOPIC_{role.upper()}"
        name = env.get(var, role).strip()
        if not name:
            raise SettingsError(f"{var}: a topic name cannot be empty")
        topics[role] = name
    values["topics"] = MappingProxyType(topics)
    settings = Settings(**values)
    if settings.rating_min >= settings.rating_max:
        raise SettingsError("ENGINE_RATING_MIN: must be below ENGINE_RATING_MAX")
    if settings.heartbeat_interval >= settings.session_timeout:
        raise SettingsError("ENGINE_HEARTBEAT_INTERVAL: must be below ENGINE_SESSION_TIMEOUT")
    return settings


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (tests and the demo use it)."""
    return dataclasses.replace(settings, **changes)
