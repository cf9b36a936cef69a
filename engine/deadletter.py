"""The dead-letter record: what was rejected, where it came from, and why.

>>> dead_letter_record("missing field user_id", "clickstream", 0, 12, b'{"a": 1}')["raw"]
'{"a": 1}'
>>> dead_letter_record("bad bytes", "clickstream", 0, 13, b"\\xff")["raw_encoding"]
'base64'
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["dead_letter_record"]


def dead_letter_record(
    error: str, topic: str, partition: int, offset: int, raw: bytes | None
) -> dict[str, Any]:
    """The contract's dead-letter value; ``raw`` is kept whole, as text or base64."""
    record: dict[str, Any] = {
        "error": error,
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    if raw is None:
        record.update(raw="", raw_encoding="utf-8", raw_null=True)
        return record
    try:
        record.update(raw=raw.decode("utf-8"), raw_encoding="utf-8")
    except UnicodeDecodeError:
        record.update(raw=base64.b64encode(raw).decode("ascii"), raw_encoding="base64")
    return record
