"""Dataset files turned into the engine's input records, in replay order.

Pure: no broker here. :func:`read_records` yields :class:`Record` objects for
the two input topics (by role: ``"clickstream"`` and ``"catalog"``); the
producer in ``engine.stream.replay`` sends them. Three formats are understood:

- ``rees46``: the REES46 e-commerce CSV (``event_time,event_type,...``);
- ``yoochoose``: the RecSys Challenge 2015 TSV (``SessionId ItemId Time``),
  sorted by time here because the files are grouped by session;
- ``jsonl``: one contract JSON object per line, replayed in file order.

A path may be a file (``.gz`` read transparently) or a directory of such
files, which are read together (YOOCHOOSE's train and test files, say).
Each catalog item comes before the first event that needs it, and again
whenever its attributes change.

>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp()) / "clicks.txt"
>>> _ = tmp.write_text("SessionId\\tItemId\\tTime\\n7\\t42\\t20.5\\n7\\t43\\t10.0\\n")
>>> detect_format(tmp)
'yoochoose'
>>> [(r.topic, r.key) for r in read_records(tmp)]
[('catalog', '43'), ('clickstream', '7'), ('catalog', '42'), ('clickstream', '7')]
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.errors import EngineError

__all__ = ["FORMATS", "DatasetError", "Record", "dataset_files", "detect_format", "read_records"]

#: The formats :func:`detect_format` recognises.
FORMATS = ("rees46", "yoochoose", "jsonl")

_REES46_COLUMNS = [
    *("event_time", "event_type", "product_id", "category_id", "category_code"),
    *("brand", "price", "user_id", "user_session"),
]
_YOOCHOOSE_COLUMNS = ["SessionId", "ItemId", "Time"]
_REES46_TYPES = {"view": "view", "cart": "add_to_cart", "purchase": "purchase"}
_REES46_SKIPPED = {"remove_from_cart"}  # not an event type of the contract
_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json"}


class DatasetError(EngineError, ValueError):
    """A dataset file that cannot be read: unknown format or a malformed line."""


@dataclass(frozen=True)
class Record:
    """One record to produce: ``topic`` is the role, ``value`` None a catalog tombstone.

    A JSON Lines line that is no contract record (not JSON, not an object, or
    neither an event nor an item) is kept as it is, in ``unreadable``: such a
    record goes to ``clickstream`` without a key, for the worker to dead-letter
    with its reason. ``problem`` says where it is and what is wrong with it.
    """

    topic: str
    key: str | None
    value: dict[str, Any] | None
    unreadable: bytes | None = None
    problem: str | None = None

    def payload(self) -> bytes | None:
        """The bytes to produce: the line as it was when unreadable, else the value's JSON."""
        if self.unreadable is not None:
            return self.unreadable
        return None if self.value is None else orjson.dumps(self.value)


def dataset_files(path: str | Path) -> list[Path]:
    """The data files behind ``path``: itself, or a directory's data files by name.

    README files, hidden files and unknown suffixes in a directory are ignored.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise DatasetError(f"{path}: no such file or directory")
        return [path]
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "README"))
        and Path(p.name.removesuffix(".gz")).suffix in _DATA_SUFFIXES
    )
    if not files:
        raise DatasetError(f"{path}: no data files (.csv, .txt, .jsonl, ...) in this directory")
    return files


def detect_format(path: str | Path) -> str:
    """``"rees46"``, ``"yoochoose"`` or ``"jsonl"``, from the first line of the data.

    A directory's files must all have the same format.
    """
    formats = {_detect_file(file) for file in dataset_files(path)}
    if len(formats) > 1:
        raise DatasetError(f"{path}: files of different formats: {', '.join(sorted(formats))}")
    return formats.pop()


def read_records(path: str | Path, *, limit: int | None = None) -> Iterator[Record]:
    """Yield the records of a dataset in replay order; ``limit`` counts clickstream events."""
    fmt = detect_format(path)
    files = dataset_files(path)
    if fmt == "jsonl":
        yield from _limit_events(_jsonl_records(files), limit)
        return
    rows = _rees46_rows(files) if fmt == "rees46" else iter(_yoochoose_rows(files))
    yield from _with_catalog(itertools.islice(rows, limit))


def _limit_events(records: Iterable[Record], limit: int | None) -> Iterator[Record]:
    """Cut the stream right after the ``limit``-th clickstream event."""
    if limit is not None and limit <= 0:
        return
    events = 0
    for record in records:
        yield record
        if record.topic == "clickstream" and record.problem is None:
            events += 1
            if events == limit:
                return


# -- reading ------------------------------------------------------------------


def _open(path: Path) -> TextIO:
    """Open a text file, through gzip when it starts with gzip's magic bytes."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) for each line of a file."""
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def _detect_file(path: Path) -> str:
    for _, line in _lines(path):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            return "jsonl"
        if next(csv.reader([line])) == _REES46_COLUMNS:
            return "rees46"
        if line.split("\t") == _YOOCHOOSE_COLUMNS:
            return "yoochoose"
        raise DatasetError(
            f"{path}: unknown dataset format (first line {line[:80]!r}); expected the REES46 "
            "CSV header, the YOOCHOOSE header SessionId<TAB>ItemId<TAB>Time, or JSON Lines"
        )
    raise DatasetError(f"{path}: empty file, cannot tell its format")


def _stable_id(prefix: str, content: str) -> str:
    """An event id derived from a row, so that identical rows get the same id.

    >>> _stable_id("x", "a,b") == _stable_id("x", "a,b") != _stable_id("x", "a,c")
    True
    """
    return f"{prefix}-{hashlib.sha1(content.encode()).hexdigest()[:16]}"


# -- tabular formats: (event, catalog item) rows ------------------------------

_Row = tuple[dict[str, Any], dict[str, Any]]


def _with_catalog(rows: Iterable[_Row]) -> Iterator[Record]:
    """Records for (event, item) rows: the item first when new or changed."""
    known: dict[str, dict[str, Any]] = {}
    for event, item in rows:
        item_id = item["item_id"]
        if known.get(item_id) != item:
            known[item_id] = item
            yield Record("catalog", item_id, item)
        yield Record("clickstream", event["user_id"], event)


def _data_lines(files: list[Path]) -> Iterator[tuple[Path, int, str]]:
    """Every non-blank line after each file's header, with its file and line number."""
    for path in files:
        lines = _lines(path)
        next(lines)  # header, checked by detect_format
        for number, line in lines:
            if line.strip():
                yield path, number, line


def _rees46_rows(files: list[Path]) -> Iterator[_Row]:
    for path, number, line in _data_lines(files):
        try:
            row = _rees46_row(line)
        except (ValueError, KeyError) as exc:
            raise DatasetError(f"{path}:{number}: {exc}") from exc
        if row is not None:
            yield row


@functools.lru_cache(maxsize=16)
def _rees46_time(text: str) -> float:
    """Epoch seconds of ``2019-10-01 00:00:00 UTC`` (cached: rows share seconds).

    >>> _rees46_time("2019-10-01 00:00:00 UTC")
    1569888000.0
    """
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC).timestamp()


def _rees46_row(line: str) -> _Row | None:
    fields = dict(zip(_REES46_COLUMNS, next(csv.reader([line])), strict=True))
    if fields["event_type"] in _REES46_SKIPPED:
        return None
    kind = _REES46_TYPES.get(fields["event_type"])
    if kind is None:
        raise ValueError(f"unknown event_type {fields['event_type']!r}")
    price = float(fields["price"])
    brand = fields["brand"]
    item_id = fields["product_id"]
    event = {
        "event_id": _stable_id("rees46", line),
        "user_id": fields["user_id"],
        "item_id": item_id,
        "type": kind,
        "ts": _rees46_time(fields["event_time"]),
        "value": price if kind == "purchase" else None,
        "rec_id": None,
        "session_id": fields["user_session"] or None,
        "context": {},
    }
    item = {
        "item_id": item_id,
        "title": None,
        "category": fields["category_code"].replace(".", "/")
        or f"category/{fields['category_id']}",
        "tags": [brand] if brand else [],
        "price": price,
        "available": True,
        "attributes": {"brand": brand} if brand else {},
    }
    return event, item


def _yoochoose_rows(files: list[Path]) -> list[_Row]:
    """All files' clicks, sorted (stably) by time: the files are grouped by session."""
    rows: list[tuple[float, _Row]] = []
    for path, number, line in _data_lines(files):
        try:
            session, item_id, time = line.split("\t")
            ts = float(time)
        except ValueError as exc:
            raise DatasetError(
                f"{path}:{number}: expected SessionId<TAB>ItemId<TAB>Time, got {line!r}"
            ) from exc
        event = {
            "event_id": _stable_id("yoochoose", f"{session}\t{item_id}\t{time}"),
            "user_id": session,
            "item_id": item_id,
            "type": "click",
            "ts": ts,
            "value": None,
            "rec_id": None,
            "session_id": session,
            "context": {},
        }
        rows.append((ts, (event, {"item_id": item_id, "available": True})))
    rows.sort(key=lambda pair: pair[0])
    return [row for _, row in rows]


# -- JSON Lines ---------------------------------------------------------------


def _jsonl_records(files: list[Path]) -> Iterator[Record]:
    """Contract objects as they come: events, catalog items, or tombstones.

    An object with ``type`` is an event; ``{"catalog": {...}}`` or an object
    with ``item_id`` and no ``user_id`` is a catalog item; and
    ``{"catalog": null, "item_id": "i7"}`` is the tombstone of item ``i7``.
    Any other line is an unreadable :class:`Record`, passed on as it is.
    """
    for path in files:
        for number, line in _lines(path):
            if line.strip():
                try:
                    yield _jsonl_record(line)
                except (orjson.JSONDecodeError, DatasetError) as exc:
                    yield Record("clickstream", None, None, unreadable=line.encode(),
                                 problem=f"{path}:{number}: {exc}")


def _jsonl_record(line: str) -> Record:
    obj = orjson.loads(line)
    if not isinstance(obj, dict):
        raise DatasetError(f"expected a JSON object, got {type(obj).__name__}")
    if "type" in obj:
        if not isinstance(obj.get("user_id"), str | int):
            raise DatasetError("an event (an object with 'type') needs a user_id")
        return Record("clickstream", str(obj["user_id"]), obj)
    if "catalog" in obj:
        item = obj["catalog"]
        if item is None and isinstance(obj.get("item_id"), str | int):
            return Record("catalog", str(obj["item_id"]), None)
        if not isinstance(item, dict) or not isinstance(item.get("item_id"), str | int):
            raise DatasetError("'catalog' must be an item object with an item_id, or null")
        return Record("catalog", str(item["item_id"]), item)
    if "item_id" in obj and "user_id" not in obj:
        return Record("catalog", str(obj["item_id"]), obj)
    raise DatasetError("neither an event (no 'type') nor a catalog item (no 'item_id')")
