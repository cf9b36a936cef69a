"""Model checkpoints as plain JSON records: split into parts, checked, put back together.

A worker's learnt models (the learned ranker, the matrix factorisation)
live in memory. To survive a restart, the worker periodically writes each
model's state (JSON data, never pickle: nothing executable is read back from
the broker) to an internal compacted topic, keyed by the model's name, and
loads the newest complete checkpoint before it consumes.

A state can be larger than a broker accepts in one record, so it is split
into parts of at most ``part_chars`` characters (keys ``name/0``,
``name/1``, ...), followed by a manifest (key ``name``) that names the
generation, the number of parts and the SHA-256 of the whole text. A
checkpoint counts only once its manifest is read and every part of that
generation before it matches the digest: a worker that died while writing
leaves the previous checkpoint in force.

>>> records = checkpoint_records("mf", {"learnt": 3, "users": [["u", 0.5]]}, "g1", 10)
>>> [key for key, _ in records]
['mf/0', 'mf/1', 'mf/2', 'mf/3', 'mf']
>>> loader = CheckpointLoader()
>>> for key, value in records:
...     loader.add(key, value)
>>> loader.latest()
{'mf': {'learnt': 3, 'users': [['u', 0.5]]}}
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["CheckpointLoader", "checkpoint_records"]

PART_CHARS = 200_000  # characters of JSON text per record (well below a broker's 1 MB)
_PENDING = 4  # unfinished generations kept per model (several workers may write at once)


def checkpoint_records(
    name: str, state: dict[str, Any], generation: str, part_chars: int = PART_CHARS
) -> list[tuple[str, bytes]]:
    """The records (key, value) of one checkpoint: the parts, then the manifest."""
    text = orjson.dumps(state).decode()
    chunks = [text[i:i + part_chars] for i in range(0, len(text), part_chars)] or [""]
    records = [
        (f"{name}/{index}", orjson.dumps({"model": name, "generation": generation,
                                          "part": index, "data": chunk}))
        for index, chunk in enumerate(chunks)
    ]
    manifest = {"model": name, "generation": generation, "parts": len(chunks),
                "sha256": hashlib.sha256(text.encode()).hexdigest()}
    records.append((name, orjson.dumps(manifest)))
    return records


class CheckpointLoader:
    """Reads checkpoint records in log order; :meth:`latest` gives each model's newest state.

    Unreadable records, parts of unfinished generations and checkpoints whose
    digest does not match are passed over.

    >>> loader = CheckpointLoader()
    >>> for key, value in checkpoint_records("r", {"n": 1}, "a"):
    ...     loader.add(key, value)
    >>> for key, value in checkpoint_records("r", {"n": 2}, "b")[:-1]:  # died before its manifest
    ...     loader.add(key, value)
    >>> loader.latest()
    {'r': {'n': 1}}
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str], dict[int, str]] = {}  # (model, generation) -> parts
        self._states: dict[str, dict[str, Any]] = {}
        self.skipped = 0  # records or checkpoints that could not be used

    def add(self, key: str, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = orjson.loads(value)
            name, generation = str(record["model"]), str(record["generation"])
            if "part" in record:
                self._part(name, generation)[int(record["part"])] = str(record["data"])
            elif key == name:
                self._complete(name, generation, int(record["parts"]), str(record["sha256"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.skipped += 1

    def _part(self, name: str, generation: str) -> dict[int, str]:
        """The parts of one generation; only the last few unfinished ones are kept."""
        if (name, generation) not in self._parts:
            pending = [key for key in self._parts if key[0] == name]
            for key in pending[: max(0, len(pending) - _PENDING + 1)]:
                del self._parts[key]
        return self._parts.setdefault((name, generation), {})

    def _complete(self, name: str, generation: str, count: int, digest: str) -> None:
        parts = self._parts.pop((name, generation), {})
        if sorted(parts) != list(range(count)):
            self.skipped += 1
            return
        text = "".join(parts[index] for index in range(count))
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            self.skipped += 1
            return
        state = orjson.loads(text)
        if isinstance(state, dict):
            self._states[name] = state

    def latest(self) -> dict[str, dict[str, Any]]:
        """The newest complete state of each model read so far."""
        return dict(self._states)
