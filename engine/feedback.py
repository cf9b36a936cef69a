"""What users did with the lists they were served: judged, and turned into training examples.

A profile remembers the last few lists published for its user (bounded), as
plain JSON values so they travel with the profile through its changelog and
survive restarts and moves between workers. The newest one is *in force*:
the user's next event is judged against it. Each record holds the pool the
list was chosen from (item ids and their feature rows, packed in one string:
:func:`engine.features.pack_rows`), the indices shown,
in the order shown, and, when both were computed, the blend's and the
ranker's top n (for the online comparison of the two).

Two kinds of feedback become examples for the ranker:

- **explicit**: the event names a remembered list by its ``rec_id``; the item
  acted on is a positive, the items shown above it are negatives;
- **implicit**: the event's item was in the pool of the list in force; it is
  a positive, and a few other candidates of that pool are negatives.

A low rating makes its item a negative instead. Negatives are sampled with a
generator seeded by the event id, so a replay learns the same examples.

>>> record = served_record("r-1", "learned", "blend", ["a", "b", "c"],
...                        np.array([[0.9], [0.5], [0.1]]), shown=[0, 1], compare=([0, 1], [2, 0]))
>>> reaction = react([record], Event("e1", "u1", "c", "click", 5.0), negatives=1, positive=True)
>>> reaction.hit, reaction.examples, reaction.comparison
(False, (([0.1], True), ([0.9], False)), (False, True))
>>> explicit = Event("e2", "u1", "b", "click", 6.0, rec_id="r-1")
>>> react([record], explicit, negatives=1, positive=True).examples
(([0.5], True), ([0.9], False))
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import Event
from engine.features import pack_rows, take_rows, unpack_rows
from engine.profiles import Profile

__all__ = ["Example", "Reaction", "react", "remember", "remembered_rows", "served_record"]

Example = tuple[Sequence[float], bool]  # a candidate's feature row; did the user go for it


@dataclass(frozen=True)
class Reaction:
    """How an event relates to the lists its user was served."""

    variant: str  # of the list in force
    strategy: str  # of the list in force: "blend" or "learned-ranker"
    hit: bool  # the event's item was shown in the list in force
    named: bool  # the event carries a rec_id (explicit feedback)
    matched: bool  # ... naming a list the profile remembers
    examples: tuple[Example, ...]  # what the ranker learns from it
    comparison: tuple[bool, bool] | None = None  # (in the blend's top n, in the ranker's)


def served_record(
    rec_id: str,
    variant: str,
    strategy: str,
    items: Sequence[str],
    rows: np.ndarray | None,
    *,
    shown: Sequence[int],
    compare: tuple[Sequence[int], Sequence[int]] | None = None,
) -> dict[str, Any]:
    """What a profile remembers of a published list (a JSON value).

    ``rows``: the pool's feature table, one row per item (None: none computed,
    nothing to learn from). Its sequences are tuples where they can be: the
    garbage collector leaves tuples of strings and numbers out of its scans.
    """
    return {
        "rec_id": rec_id,
        "variant": variant,
        "strategy": strategy,
        "items": tuple(items),
        "rows": pack_rows(rows) if rows is not None and len(rows) else None,
        "shown": tuple(shown),
        "compare": (tuple(compare[0]), tuple(compare[1])) if compare else None,
    }


def remembered_rows(record: dict[str, Any]) -> np.ndarray | Sequence[Sequence[float]] | None:
    """The feature rows of a remembered list, one per item; None when it has none to learn
    from, or none that can be read.

    Lists remembered before the rows were packed hold them as JSON arrays.
    """
    rows = record["rows"]
    if isinstance(rows, str):
        try:
            rows = unpack_rows(rows)
        except ValueError:
            return None
    elif not isinstance(rows, (list, tuple)):
        return None
    return rows if len(rows) == len(record["items"]) > 0 else None


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    """Only the shown items: all that explicit feedback on an older list needs."""
    shown = record["shown"]
    if len(shown) == len(record["items"]) and record["compare"] is None:
        return record
    return {**record, "items": tuple(record["items"][i] for i in shown),
            "rows": _shown_rows(record) if shown else None,
            "shown": tuple(range(len(shown))), "compare": None}


def _shown_rows(record: dict[str, Any]) -> str | None:
    """The packed rows of a remembered list's shown items, in the order shown."""
    rows, shown = record["rows"], record["shown"]
    if isinstance(rows, str) and rows[1:].startswith(f"{len(record['items'])}x"):
        try:
            return take_rows(rows, shown)
        except ValueError:
            return None  # unreadable, as remembered_rows finds it
    table = remembered_rows(record)
    return pack_rows(np.asarray(table)[list(shown)]) if table is not None else None


def remember(profile: Profile, record: dict[str, Any], keep: int) -> Profile:
    """Make ``record`` the list in force; older lists keep only what was shown, ``keep`` in all.

    Takes ownership of ``profile``.
    """
    older = [_compact(old) for old in profile.served[: max(keep - 1, 0)]]
    profile.served = [record, *older] if keep > 0 else []
    return profile


def react(
    served: Sequence[dict[str, Any]], event: Event, *, negatives: int, positive: bool
) -> Reaction | None:
    """Judge ``event`` against the lists in ``served`` (newest first); None when there are none.

    ``positive``: the event is evidence for its item (a low rating is not).
    """
    if not served or event.item_id is None:
        return None
    in_force = served[0]
    named = next((r for r in served if event.rec_id and r["rec_id"] == event.rec_id), None)
    record = named or in_force
    try:
        index: int | None = record["items"].index(event.item_id)
    except ValueError:
        index = None
    examples: list[Example] = []
    comparison = None
    table = remembered_rows(record) if index is not None else None
    if table is None:  # remembered without features: nothing to learn
        index = None

    def row(i: int) -> list[float]:
        assert table is not None
        found = table[i]
        return found.tolist() if isinstance(found, np.ndarray) else list(found)

    if index is not None and not positive:
        examples.append((row(index), False))
    elif index is not None and named is not None and index in record["shown"]:
        examples.append((row(index), True))
        above = record["shown"][: record["shown"].index(index)]
        examples.extend((row(i), False) for i in above)
    elif index is not None:
        examples.append((row(index), True))
        others = [i for i in range(len(record["items"])) if i != index]
        picked = random.Random(event.event_id).sample(others, min(negatives, len(others)))
        examples.extend((row(i), False) for i in sorted(picked))
        if named is None and record["compare"] is not None:
            blend_top, ranker_top = record["compare"]
            comparison = (index in blend_top, index in ranker_top)
    hit = event.item_id in {in_force["items"][i] for i in in_force["shown"]}
    return Reaction(in_force["variant"], in_force["strategy"], hit, event.rec_id is not None,
                    named is not None, tuple(examples), comparison)
