"""Input limits: what a record may hold before it is dead-lettered.

The JSON Schemas in ``topics/`` say what a record must look like; these limits
say how big and how odd it may be: its size in bytes, how deeply it nests, how
long any string in it is (keys, ``context`` and unknown fields included), how
long an id is and which characters it may hold, how many tags an item carries,
and the window of event times the engine accepts. The window is fixed by
configuration, never read from the wall clock, so a replay of history is judged
exactly as the live stream was.

>>> limits = InputLimits(max_nesting=2, max_string_length=5)
>>> check_structure({"a": {"b": "ok"}}, limits)
>>> check_structure({"a": {"b": [1]}}, limits)
Traceback (most recent call last):
...
engine.errors.InvalidRecord: too deeply nested: field a.b is at depth 3 > limit 2
>>> check_structure({"a": "too long"}, limits)
Traceback (most recent call last):
...
engine.errors.InvalidRecord: field a: string of 8 characters > limit 5
>>> check_ts(1_569_888_000.0, InputLimits())
>>> check_ts(-5.0, InputLimits())
Traceback (most recent call last):
...
engine.errors.InvalidRecord: field ts: -5.0 is outside the accepted event times \
1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import InvalidRecord
from engine.settings import Settings

__all__ = ["InputLimits", "check_id", "check_structure", "check_ts", "format_ts"]

#: C0 and C1 control characters (tab and newline included): never part of an id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Bounds on one input record; the defaults are the settings' defaults."""

    max_bytes: int = 65536
    max_id_length: int = 256  # characters of an id (user, item, event, list, session)
    max_string_length: int = 1024  # characters of any string or key, anywhere in a record
    max_tags: int = 64  # tags of one catalog item
    max_nesting: int = 32  # levels of objects and arrays; the record itself is level 1
    min_ts: float = 0.0  # 1970-01-01T00:00:00Z: no negative event times
    max_ts: float = 4_102_444_800.0  # 2100-01-01T00:00:00Z

    @classmethod
    def from_settings(cls, settings: Settings) -> InputLimits:
        return cls(
            max_bytes=settings.max_event_bytes,
            max_id_length=settings.max_id_length,
            max_string_length=settings.max_string_length,
            max_tags=settings.max_tags,
            max_nesting=settings.max_nesting,
            min_ts=settings.min_event_ts,
            max_ts=settings.max_event_ts,
        )


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path)[:80] or "record"


def check_structure(data: Mapping[str, Any], limits: InputLimits) -> None:
    """Reject a record nested deeper than ``max_nesting`` or holding an over-long string.

    Walks the whole record without recursion, so no input can exhaust the stack.
    """
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(data, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > limits.max_nesting:
            raise InvalidRecord(
                f"too deeply nested: field {_where(path)} is at depth {depth} "
                f"> limit {limits.max_nesting}"
            )
        if isinstance(node, dict):
            for key, value in node.items():
                if len(key) > limits.max_string_length:
                    raise InvalidRecord(
                        f"field {_where(path)}: key of {len(key)} characters "
                        f"> limit {limits.max_string_length}"
                    )
                _push(stack, value, depth, (*path, key), limits)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                _push(stack, value, depth, (*path, str(index)), limits)


def _push(
    stack: list[tuple[Any, int, tuple[str, ...]]],
    value: Any,
    depth: int,
    path: tuple[str, ...],
    limits: InputLimits,
) -> None:
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise InvalidRecord(
                f"field {_where(path)}: string of {len(value)} characters "
                f"> limit {limits.max_string_length}"
            )
    elif isinstance(value, dict | list):
        stack.append((value, depth + 1, path))


def check_id(field: str, value: str | None) -> None:
    """An id is a key in tables, URLs and logs: no control characters.

    >>> check_id("user_id", "u\\n1")
    Traceback (most recent call last):
    ...
    engine.errors.InvalidRecord: field user_id: control character U+000A in an id
    """
    if value is not None and (found := _CONTROL.search(value)):
        raise InvalidRecord(f"field {field}: control character U+{ord(found.group()):04X} in an id")


def format_ts(ts: float) -> str:
    """An epoch time as ISO-8601 UTC, e.g. ``1990-01-01T00:00:00Z``.

    >>> format_ts(0.0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def check_ts(ts: float, limits: InputLimits) -> None:
    """Reject an event time outside ``[min_ts, max_ts]`` (fixed bounds, not the clock)."""
    if not limits.min_ts <= ts <= limits.max_ts:
        hint = ""
        if limits.min_ts <= ts / 1000 <= limits.max_ts:
            hint = f" (epoch milliseconds? ts is in seconds: {ts / 1000!r})"
        raise InvalidRecord(
            f"field ts: {ts!r} is outside the accepted event times "
            f"{format_ts(limits.min_ts)} to {format_ts(limits.max_ts)}{hint}"
        )
