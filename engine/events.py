"""Decode and validate input records; derive stable event ids.

The JSON Schemas come from ``topics/`` and are checked by :mod:`fastjsonschema`
(compiled once per set of limits: the configured id length and tag count
replace the schema's). This module adds what a schema cannot say: the input
limits of :mod:`engine.limits` (size, nesting, string lengths, characters of
ids, the window of event times), UTF-8, time parsing and derived ids. Every
failure is an :class:`~engine.errors.InvalidRecord` whose message is the
dead-letter reason; nothing else escapes, whatever the bytes (the property
tests in ``tests/reliability`` hold the decoders to that).

>>> limits = InputLimits(max_bytes=1000)
>>> raw = b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000}'
>>> e = decode_event(raw, limits)
>>> e.user_id, e.item_id, e.type, e.ts, e.event_id.startswith("d-")
('u1', 'i1', 'view', 1700000000.0, True)
>>> decode_event(b'{"item_id": "i1", "type": "view", "ts": 1700000000}', limits)
Traceback (most recent call last):
...
engine.errors.InvalidRecord: missing field user_id
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
import orjson

from engine.errors import InvalidRecord
from engine.limits import InputLimits, check_id, check_structure, check_ts
from engine.topics import load_definitions

__all__ = [
    "EVENT_TYPES",
    "CatalogItem",
    "Event",
    "decode_event",
    "decode_item",
    "derive_event_id",
    "parse_ts",
]

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "rating", "forget_user")
_MAX_REASON = 300
#: The id fields of each input topic: their length is ``max_id_length``, control characters
#: are refused.
_ID_FIELDS = {
    "clickstream": ("event_id", "user_id", "item_id", "rec_id", "session_id"),
    "catalog": ("item_id",),
}


@dataclass(frozen=True, slots=True)
class Event:
    """A validated clickstream event. Personal-data fields never get this far."""

    event_id: str
    user_id: str
    item_id: str | None
    type: str
    ts: float
    value: float | None = None
    rec_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """A validated catalog item."""

    item_id: str
    title: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    price: float | None = None
    available: bool = True
    brand: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "category": self.category,
            "tags": list(self.tags),
            "price": self.price,
            "available": self.available,
            "brand": self.brand,
        }


def _schema(role: str, max_id_length: int, max_tags: int) -> dict[str, Any]:
    """The topic's JSON Schema (from ``topics/``) with the configured limits in place."""
    schema: dict[str, Any] = copy.deepcopy(dict(load_definitions()[role].schema))
    properties = schema["properties"]
    for name in _ID_FIELDS[role]:
        properties[name]["maxLength"] = max_id_length
    if "tags" in properties:
        properties["tags"]["maxItems"] = max_tags
    return schema


@functools.cache
def _validator(role: str, max_id_length: int, max_tags: int) -> Callable[[Any], Any]:
    """The schema compiled to code once per set of limits: ~10 µs a record."""
    validate: Callable[[Any], Any] = fastjsonschema.compile(
        _schema(role, max_id_length, max_tags)
    )
    return validate


def _reason(error: fastjsonschema.JsonSchemaValueException) -> str:
    """A short reason: ``missing field x``, ``field ts: ...``."""
    where = ".".join(str(p) for p in error.path[1:])
    if error.rule == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        return f"missing field {where + '.' if where else ''}{missing}"
    if where == "ts":
        expected = "expected epoch seconds (number) or an ISO-8601 string"
        return f"field ts: {expected}, got {error.value!r}"
    message = str(error.message).removeprefix(f"{error.name} ")
    return f"field {where or 'record'}: {message}"


def _load_object(raw: bytes | None, limits: InputLimits, what: str) -> Mapping[str, Any]:
    if raw is None:
        raise InvalidRecord(f"empty {what}: the record has no value")
    if len(raw) > limits.max_bytes:
        raise InvalidRecord(f"oversize {what}: {len(raw)} bytes > limit {limits.max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"bad bytes: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not JSON: {exc}"[:_MAX_REASON]) from exc
    if not isinstance(data, dict):
        raise InvalidRecord(f"not a JSON object: got {type(data).__name__}")
    if not _within_limits_by_size(text, limits):
        check_structure(data, limits)
    return data


def _within_limits_by_size(text: str, limits: InputLimits) -> bool:
    """Whether the JSON text is too short to break the structure limits, so no walk is needed.

    No decoded string (or key) is longer than the text, and every level of
    nesting opens with a ``{`` or a ``[``: an ordinary event passes both.

    >>> _within_limits_by_size('{"a": [1]}', InputLimits(max_string_length=20, max_nesting=2))
    True
    >>> _within_limits_by_size('{"a": [[1]]}', InputLimits(max_string_length=20, max_nesting=2))
    False
    """
    return (len(text) <= limits.max_string_length
            and text.count("{") + text.count("[") <= limits.max_nesting)


def _validate(role: str, data: Mapping[str, Any], limits: InputLimits) -> None:
    try:
        _validator(role, limits.max_id_length, limits.max_tags)(data)
    except fastjsonschema.JsonSchemaValueException as error:
        raise InvalidRecord(_reason(error)[:_MAX_REASON]) from error
    for name in _ID_FIELDS[role]:
        check_id(name, data.get(name))


def _limits(limits: InputLimits | int) -> InputLimits:
    return InputLimits(max_bytes=limits) if isinstance(limits, int) else limits


def parse_ts(value: float | int | str) -> float:
    """Epoch seconds from a number or an ISO-8601 string (naive means UTC).

    >>> parse_ts("2019-10-01T00:00:00Z"), parse_ts(5)
    (1569888000.0, 5.0)
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" UTC", "+00:00"))
        except ValueError as exc:
            raise InvalidRecord(f"field ts: not an ISO-8601 time: {value!r}"[:_MAX_REASON]) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed.timestamp()
    else:
        ts = float(value)
    if not math.isfinite(ts) or ts < 0:
        raise InvalidRecord(f"field ts: not a valid time: {value!r}"[:_MAX_REASON])
    return ts


def derive_event_id(data: Mapping[str, Any]) -> str:
    """A stable id from an event's content: the same event always gets the same id."""
    content = [data.get(k) for k in ("user_id", "item_id", "type", "ts", "value", "rec_id")]
    digest = hashlib.blake2b(orjson.dumps(content), digest_size=10).hexdigest()
    return f"d-{digest}"


def decode_event(raw: bytes | None, limits: InputLimits | int) -> Event:
    """Decode and validate one clickstream record (``limits``: an int is the byte limit alone)."""
    limits = _limits(limits)
    data = _load_object(raw, limits, "event")
    _validate("clickstream", data, limits)
    value = data.get("value")
    if value is not None and not math.isfinite(value):
        raise InvalidRecord("field value: not a finite number")
    ts = parse_ts(data["ts"])
    check_ts(ts, limits)
    return Event(
        event_id=data.get("event_id") or derive_event_id(data),
        user_id=data["user_id"],
        item_id=data.get("item_id"),
        type=data["type"],
        ts=ts,
        value=None if value is None else float(value),
        rec_id=data.get("rec_id"),
        session_id=data.get("session_id"),
    )


def decode_item(raw: bytes, limits: InputLimits | int) -> CatalogItem:
    """Decode and validate one catalog record (a tombstone is handled by the caller)."""
    limits = _limits(limits)
    data = _load_object(raw, limits, "catalog item")
    _validate("catalog", data, limits)
    attributes = data.get("attributes") or {}
    brand = attributes.get("brand")
    price = data.get("price")
    return CatalogItem(
        item_id=data["item_id"],
        title=data.get("title"),
        category=data.get("category") or None,
        tags=tuple(dict.fromkeys(data.get("tags") or ())),
        price=None if price is None else float(price),
        available=data.get("available") is not False,
        brand=brand if isinstance(brand, str) and brand else None,
    )
