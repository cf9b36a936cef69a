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
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine import setting_parsers as parse
from engine.errors import SettingsError
from engine.setting_parsers import Variant, broker_addresses, parse_variants

__all__ = [
    "TOPIC_ROLES",
    "Settings",
    "Variant",
    "broker_addresses",
    "load_settings",
    "parse_variants",
    "settings_lines",
    "unknown_variables",
]

#: The contract's topics, by role; ``ENGINE_TOPIC_<ROLE>`` renames each.
TOPIC_ROLES = ("clickstream", "catalog", "recommendations", "deadletter")


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
    # Input limits beyond the size (engine/limits.py); a record over any of them is dead-lettered:
    max_id_length: int = 256  # characters of an id: user, item, event, rec and session ids
    max_string_length: int = 1024  # characters of any string or object key, anywhere in a record
    max_tags: int = 64  # tags of one catalog item
    max_nesting: int = 32  # levels of objects and arrays in a record (the record is level 1)
    min_event_ts: float = 0.0  # event times accepted: from 1970-01-01T00:00:00Z ...
    max_event_ts: float = 4_102_444_800.0  # ... to 2100-01-01T00:00:00Z (epoch seconds)
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
    session_gap: float = 1800.0  # seconds of event time that end a session, unless one session_id
    neighbours: int = 50  # similar items kept per item
    item_engagers: int = 20  # latest engagers (users, hashed) kept per item for user-based CF
    similarity: str = "conditional"  # neighbour scores: conditional, cosine or jaccard
    similarity_alpha: float = 0.25  # conditional: popularity exponent of the neighbour (0-1)
    pair_half_life: float = 0.0  # of co-occurrence weights, seconds of event time; 0: no decay
    interest_half_life: float = 7 * 86400.0  # seconds of event time
    trending_half_life: float = 86400.0
    dedup_horizon: int = 1000  # event ids remembered per user
    fetch_max_wait_ms: int = 25  # consumer fetch wait: on Tansu, latency and CPU per event
    session_timeout: float = 6.0  # consumer group session (seconds)
    heartbeat_interval: float = 1.0
    commit_interval: float = 1.0
    producer_linger_ms: int = 2  # batching of the worker's sends (changelogs, lists)
    producer_batch_bytes: int = 262144  # producer batch per partition (one pending batch each)
    item_batch_ms: int = 50  # how long the item side gathers row increments before applying them
    user_flush_ms: int = 25  # how often the user side sends its increments, then its profiles
    blend_weights: Mapping[str, float] | None = None  # None: the engine's defaults
    exclude_recent: int = 1  # the user's latest items never recommended (1: the current one)
    max_per_category: int = 0  # diversity: places one category may fill in a list (0: no cap)
    ranker_min_examples: int = 1000  # examples the learned ranker learns before it may serve
    ranker_pool: int = 20  # blend candidates the learned ranker re-orders
    ranker_lists: int = 2  # served lists a profile remembers, to learn from reactions to them
    ranker_guard: bool = True  # serve the ranker only while it beats the blend online
    mf_factors: int = 16  # latent factors of the matrix factorisation source
    mf_max_users: int = 100_000  # users whose factors a worker keeps (least recently learnt go)
    mf_max_items: int = 50_000  # items whose factors a worker keeps
    mf_negatives: int = 2  # sampled negatives per implicit positive
    checkpoint_every: int = 5000  # events learnt between two checkpoints of the models (0: none)
    log_level: str = "info"
    max_users: int = 1_000_000  # profiles a worker keeps; the least recently active go first
    max_items: int = 1_000_000  # item rows a worker keeps; the least recently updated go first
    standby_replicas: int = 1  # workers that keep a warm copy of each table partition
    gc_freeze_seconds: float = 10.0  # how often survivors are frozen out of the collector's walks
    gc_full_seconds: float = 3600.0  # how often everything is collected once (frozen cycles)
    # Connection security (every Kafka client of the engine uses the same):
    broker_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    broker_sasl_mechanism: str = "PLAIN"  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    broker_sasl_username: str | None = None
    broker_sasl_password: str | None = None
    broker_ssl_cafile: str | None = None  # PEM bundle of CAs to trust (default: the system's)
    broker_ssl_certfile: str | None = None  # client certificate (mutual TLS), PEM
    broker_ssl_keyfile: str | None = None  # its private key, PEM

    def topic(self, role: str) -> str:
        """The configured name of a contract topic, e.g. ``topic('clickstream')``."""
        return self.topics[role]

    def internal_topic(self, suffix: str) -> str:
        """Name of an internal topic, prefixed by the app id."""
        return f"{self.app_id}-{suffix}"


#: ENGINE_<NAME> -> (field, parser)
_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "BROKER": ("broker", parse.broker_url),
    "APP_ID": ("app_id", parse.non_empty),
    "WEB_PORT": ("web_port", parse.port),
    "WEB_HOST": ("web_host", str),
    "DATA_DIR": ("data_dir", str),
    "STORE": ("store", parse.store_url),
    "PARTITIONS": ("partitions", parse.positive_int),
    "TOP_N": ("top_n", parse.positive_int),
    "MAX_EVENT_BYTES": ("max_event_bytes", parse.positive_int),
    "MAX_ID_LENGTH": ("max_id_length", parse.positive_int),
    "MAX_STRING_LENGTH": ("max_string_length", parse.positive_int),
    "MAX_TAGS": ("max_tags", parse.non_negative_int),
    "MAX_NESTING": ("max_nesting", parse.positive_int),
    "MIN_EVENT_TS": ("min_event_ts", parse.event_time),
    "MAX_EVENT_TS": ("max_event_ts", parse.event_time),
    "API_TOKEN": ("api_token", parse.optional_text),
    "VARIANTS": ("variants", parse.parse_variants),
    "PSEUDONYM_KEY": ("pseudonym_key", parse.optional_text),
    "REFRESH_INTERVAL": ("refresh_interval", parse.number),
    "RATING_MIN": ("rating_min", parse.number),
    "RATING_MAX": ("rating_max", parse.number),
    "RECENT_ITEMS": ("recent_items", parse.positive_int),
    "COOCCURRENCE_WINDOW": ("cooccurrence_window", parse.positive_int),
    "NEIGHBOURS": ("neighbours", parse.positive_int),
    "ITEM_ENGAGERS": ("item_engagers", parse.non_negative_int),
    "SIMILARITY": ("similarity", parse.similarity_kind),
    "SIMILARITY_ALPHA": ("similarity_alpha", parse.unit_interval),
    "PAIR_HALF_LIFE": ("pair_half_life", parse.number),
    "SESSION_GAP": ("session_gap", parse.number),
    "INTEREST_HALF_LIFE": ("interest_half_life", parse.number),
    "TRENDING_HALF_LIFE": ("trending_half_life", parse.number),
    "DEDUP_HORIZON": ("dedup_horizon", parse.positive_int),
    "FETCH_MAX_WAIT_MS": ("fetch_max_wait_ms", parse.positive_int),
    "SESSION_TIMEOUT": ("session_timeout", parse.number),
    "HEARTBEAT_INTERVAL": ("heartbeat_interval", parse.number),
    "COMMIT_INTERVAL": ("commit_interval", parse.number),
    "PRODUCER_LINGER_MS": ("producer_linger_ms", parse.non_negative_int),
    "PRODUCER_BATCH_BYTES": ("producer_batch_bytes", parse.positive_int),
    "ITEM_BATCH_MS": ("item_batch_ms", parse.positive_int),
    "USER_FLUSH_MS": ("user_flush_ms", parse.positive_int),
    "BLEND_WEIGHTS": ("blend_weights", parse.parse_weights),
    "EXCLUDE_RECENT": ("exclude_recent", parse.non_negative_int),
    "MAX_PER_CATEGORY": ("max_per_category", parse.non_negative_int),
    "RANKER_MIN_EXAMPLES": ("ranker_min_examples", parse.non_negative_int),
    "RANKER_POOL": ("ranker_pool", parse.positive_int),
    "RANKER_LISTS": ("ranker_lists", parse.non_negative_int),
    "RANKER_GUARD": ("ranker_guard", parse.flag),
    "MF_FACTORS": ("mf_factors", parse.positive_int),
    "MF_MAX_USERS": ("mf_max_users", parse.positive_int),
    "MF_MAX_ITEMS": ("mf_max_items", parse.positive_int),
    "MF_NEGATIVES": ("mf_negatives", parse.non_negative_int),
    "CHECKPOINT_EVERY": ("checkpoint_every", parse.non_negative_int),
    "LOG_LEVEL": ("log_level", parse.log_level),
    "STANDBY_REPLICAS": ("standby_replicas", parse.non_negative_int),
    "GC_FREEZE_SECONDS": ("gc_freeze_seconds", parse.number),
    "GC_FULL_SECONDS": ("gc_full_seconds", parse.number),
    "MAX_USERS": ("max_users", parse.non_negative_int),
    "MAX_ITEMS": ("max_items", parse.non_negative_int),
    "BROKER_SECURITY_PROTOCOL": ("broker_security_protocol",
                                 parse.one_of(parse.SECURITY_PROTOCOLS)),
    "BROKER_SASL_MECHANISM": ("broker_sasl_mechanism", parse.one_of(parse.SASL_MECHANISMS)),
    "BROKER_SASL_USERNAME": ("broker_sasl_username", parse.optional_text),
    "BROKER_SASL_PASSWORD": ("broker_sasl_password", parse.optional_text),
    "BROKER_SSL_CAFILE": ("broker_ssl_cafile", parse.readable_file),
    "BROKER_SSL_CERTFILE": ("broker_ssl_certfile", parse.readable_file),
    "BROKER_SSL_KEYFILE": ("broker_ssl_keyfile", parse.readable_file),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment).

    A malformed value raises :class:`SettingsError` naming the variable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for suffix, (name, parser) in _PARSERS.items():
        var = f"ENGINE_{suffix}"
        if var in env:
            try:
                values[name] = parser(env[var].strip())
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
    if settings.min_event_ts >= settings.max_event_ts:
        raise SettingsError("ENGINE_MIN_EVENT_TS: must be below ENGINE_MAX_EVENT_TS")
    if settings.heartbeat_interval >= settings.session_timeout:
        raise SettingsError("ENGINE_HEARTBEAT_INTERVAL: must be below ENGINE_SESSION_TIMEOUT")
    _check_security(settings)
    return settings


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``ENGINE_*`` variable that is no setting (a typo is otherwise silent).

    >>> unknown_variables({"ENGINE_TOPN": "5", "ENGINE_TOP_N": "5", "HOME": "/root"})
    ['ENGINE_TOPN is not a setting and is ignored; did you mean ENGINE_TOP_N?']
    """
    env = os.environ if environ is None else environ
    known = set(_PARSERS) | {f"TOPIC_{role.upper()}" for role in TOPIC_ROLES}
    warnings = []
    for var in sorted(v for v in env if v.startswith("ENGINE_") and v[7:] not in known):
        close = difflib.get_close_matches(var[7:], known, n=1, cutoff=0.75)
        hint = f"; did you mean ENGINE_{close[0]}?" if close else ""
        warnings.append(f"{var} is not a setting and is ignored{hint}")
    return warnings


def _check_security(settings: Settings) -> None:
    protocol = settings.broker_security_protocol
    sasl = protocol.startswith("SASL_")
    if sasl and not (settings.broker_sasl_username and settings.broker_sasl_password):
        raise SettingsError(
            f"ENGINE_BROKER_SASL_USERNAME: {protocol} needs ENGINE_BROKER_SASL_USERNAME "
            "and ENGINE_BROKER_SASL_PASSWORD"
        )
    if not sasl and (settings.broker_sasl_username or settings.broker_sasl_password):
        raise SettingsError(
            f"ENGINE_BROKER_SECURITY_PROTOCOL: SASL credentials are set but the protocol is "
            f"{protocol} (use SASL_SSL or SASL_PLAINTEXT)"
        )
    tls_files = (settings.broker_ssl_cafile, settings.broker_ssl_certfile,
                 settings.broker_ssl_keyfile)
    if not protocol.endswith("SSL") and any(tls_files):
        raise SettingsError(
            f"ENGINE_BROKER_SECURITY_PROTOCOL: TLS files are set but the protocol is "
            f"{protocol} (use SSL or SASL_SSL)"
        )
    if bool(settings.broker_ssl_certfile) != bool(settings.broker_ssl_keyfile):
        raise SettingsError(
            "ENGINE_BROKER_SSL_CERTFILE: a client certificate needs its key "
            "(ENGINE_BROKER_SSL_KEYFILE), and a key its certificate"
        )


def _render(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, Variant) for v in value):
        return ",".join(f"{v.name}:{v.weight}" for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``ENGINE_*`` variables that make another process read the same settings.

    >>> s = replace(load_settings({}), top_n=5, api_token="t")
    >>> load_settings(settings_env(s)) == s
    True
    """
    env = {
        f"ENGINE_{suffix}": _render(getattr(settings, name))
        for suffix, (name, _) in _PARSERS.items()
        if getattr(settings, name) is not None
    }
    env.update({f"ENGINE_TOPIC_{role.upper()}": name for role, name in settings.topics.items()})
    return env


#: Settings whose values are secrets: :func:`settings_lines` shows them as ``***``.
SECRETS = frozenset({"ENGINE_API_TOKEN", "ENGINE_PSEUDONYM_KEY", "ENGINE_BROKER_SASL_PASSWORD"})


def settings_lines(settings: Settings, *, changed_only: bool = False) -> list[str]:
    """Every setting as ``ENGINE_X=value``, as the engine reads it; secrets as ``***``.

    Unset optional settings show an empty value. ``changed_only``: only those
    that differ from the defaults.

    >>> settings_lines(replace(load_settings({}), top_n=5, api_token="t"), changed_only=True)
    ['ENGINE_TOP_N=5', 'ENGINE_API_TOKEN=***']
    """
    defaults, current = settings_env(load_settings({})), settings_env(settings)
    variables = [*(f"ENGINE_{suffix}" for suffix in _PARSERS),
                 *(f"ENGINE_TOPIC_{role.upper()}" for role in TOPIC_ROLES)]
    lines = []
    for var in variables:
        value = current.get(var, "")
        if changed_only and value == defaults.get(var, ""):
            continue
        lines.append(f"{var}={'***' if value and var in SECRETS else value}")
    return lines


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (tests and the demo use it)."""
    return dataclasses.replace(settings, **changes)
