"""User profiles: counts, decayed interests, recent and purchased items, dedup.

A profile is the whole per-user state, so that one table write stores the
profile, fingerprints of the ids of the events it has applied (the dedup
horizon) and the last input offset applied, atomically: a redelivered or
repeated event is never counted twice.

Interests decay by **event time**: each value is stored as of ``interest_ts``
and contributions of events older than that are discounted instead, so the
result does not depend on the order events arrive in.

>>> limits = ProfileLimits()
>>> p, _ = apply_event(None, Event("e1", "u1", "i1", "view", 100.0), ItemFacts("shoes"), limits)
>>> p, pairs = apply_event(p, Event("e2", "u1", "i2", "purchase", 160.0), ItemFacts(), limits)
>>> p.counts["purchase"], p.recent_item_ids(), interest_shares(p.category)
(1, ['i2', 'i1'], {'shoes': 1.0})
>>> pairs.item_id, pairs.gain, pairs.partners, pairs.previous, pairs.level, pairs.user
('i2', 8.0, (('i1', 1.0),), 'i1', 8.0, '247ea6efc156')
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.events import EVENT_TYPES, Event
from engine.privacy import engager_key

__all__ = [
    "EVENT_WEIGHTS",
    "FINGERPRINT_WIDTH",
    "Erasure",
    "ItemFacts",
    "PairUpdate",
    "Profile",
    "ProfileLimits",
    "apply_event",
    "erasure",
    "event_fingerprint",
    "event_weight",
    "interest_shares",
    "pair_update_from_dict",
    "pair_update_to_dict",
    "same_session",
    "session_key",
]

#: How much an interaction says about a user's taste (view < click < cart < purchase).
EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}
_COUNTED = tuple(t for t in EVENT_TYPES if t != "forget_user")
_SESSION_BYTES = 8  # of a session_key: sessions of one user are compared, never looked up


@dataclass(frozen=True)
class ProfileLimits:
    """Bounds and constants of profile updates (from the settings)."""

    recent_items: int = 20
    cooccurrence_window: int = 5
    session_gap: float = 1800.0  # seconds of event time that end a session (see same_session)
    purchased_items: int = 200
    categories: int = 50
    tags: int = 100
    dedup_horizon: int = 1000
    half_life: float = 7 * 86400.0
    rating_min: float = 1.0
    rating_max: float = 5.0


@dataclass(frozen=True)
class ItemFacts:
    """What a profile update needs to know of the item (from the catalog)."""

    category: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PairUpdate:
    """Evidence from one interaction for the item side (co-occurrence, popularity).

    ``gain`` is what the interaction adds beyond the user's earlier, weaker
    interactions with the same item, so that viewing an item ten times does not
    count ten times. ``partners`` are the user's other recent items with the
    user's weight for each; the pair counts ``min(gain, partner weight)``.
    ``level`` is the user's strongest interaction with the item so far, this
    one included (:data:`EVENT_WEIGHTS`; ``purchase`` means the user bought it):
    the item side tells "bought together" from "viewed together" by it.

    ``user`` is the user's :func:`~engine.privacy.engager_key`: the item's row
    remembers it among its latest engagers (user-based collaborative
    filtering). ``dropped`` are the items that left the user's recent items
    with this interaction: their rows forget the user, so that the rows that
    know a user are always those of the user's recent items (and
    ``forget_user`` can find them all, see :func:`erasure`).
    """

    item_id: str
    gain: float
    partners: tuple[tuple[str, float], ...]
    ts: float
    previous: str | None = None  # the item the user engaged with just before, same session
    level: float | None = None  # the user's weight for the item now (None: the gain)
    user: str = ""  # the user's engager key ("": none)
    dropped: tuple[str, ...] = ()  # items no longer among the user's recent items


@dataclass(frozen=True)
class Erasure:
    """The item rows that must forget a user (by engager key): those of the user's recent items."""

    user: str
    items: tuple[str, ...]
    ts: float


def erasure(profile: Profile, ts: float) -> Erasure | None:
    """What the item side must forget of a user erased (or evicted) at event time ``ts``.

    >>> erasure(Profile("u42", recent=[["a", 1.0, 5.0], ["b", 8.0, 2.0]]), 9.0)
    Erasure(user='d0330baa8620', items=('a', 'b'), ts=9.0)
    >>> erasure(Profile("u42"), 9.0) is None
    True
    """
    items = tuple(str(entry[0]) for entry in profile.recent)
    return Erasure(engager_key(profile.user_id), items, ts) if items else None


def pair_update_to_dict(update: PairUpdate) -> dict[str, Any]:
    return {"item_id": update.item_id, "gain": update.gain,
            "partners": [list(p) for p in update.partners], "ts": update.ts,
            "previous": update.previous, "level": update.level, "user": update.user,
            "dropped": list(update.dropped)}


def pair_update_from_dict(data: dict[str, Any]) -> PairUpdate:
    """The inverse of :func:`pair_update_to_dict` (a profile stored before engagers loads too).

    >>> u = PairUpdate("a", 2.0, (("b", 1.0),), 5.0, previous="b", level=2.0, user="k",
    ...                dropped=("z",))
    >>> pair_update_from_dict(pair_update_to_dict(u)) == u
    True
    """
    return PairUpdate(data["item_id"], data["gain"],
                      tuple((str(j), float(w)) for j, w in data["partners"]), data["ts"],
                      data["previous"], data["level"], str(data.get("user", "")),
                      tuple(str(j) for j in data.get("dropped", ())))


def event_weight(event_type: str, value: float | None, limits: ProfileLimits) -> float:
    """Signed strength of an interaction; a low rating is negative evidence.

    >>> event_weight("purchase", None, ProfileLimits()), event_weight("rating", 1, ProfileLimits())
    (8.0, -4.0)
    """
    if event_type == "rating":
        middle = (limits.rating_min + limits.rating_max) / 2
        half_range = (limits.rating_max - limits.rating_min) / 2
        rating = middle if value is None else value
        clipped = min(max(rating, limits.rating_min), limits.rating_max)
        return 4.0 * (clipped - middle) / half_range
    return EVENT_WEIGHTS.get(event_type, 0.0)


@dataclass(slots=True)
class Profile:
    """All the engine keeps about one user. ``recent`` holds ``[item, weight, ts]``.

    ``served`` holds the last lists published for the user, newest first,
    for the learned ranker to learn from the user's reactions to them
    (:mod:`engine.feedback`).
    """

    user_id: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    category: dict[str, float] = field(default_factory=dict)
    tag: dict[str, float] = field(default_factory=dict)
    interest_ts: float = 0.0
    recent: list[list[Any]] = field(default_factory=list)
    purchased: list[str] = field(default_factory=list)
    # items the user rated below the scale's middle, never recommended to them
    disliked: list[str] = field(default_factory=list)
    last_ts: float = 0.0
    last_event_id: str | None = None
    published_ts: float | None = None  # event time of the last published list
    # fingerprints of the last dedup_horizon event ids applied, oldest first, end to end
    # in one string (see event_fingerprint): a few hundred bytes, one object
    seen: str = ""
    offsets: dict[str, int] = field(default_factory=dict)
    served: list[dict[str, Any]] = field(default_factory=list)  # see engine.feedback
    # the item evidence of the latest events, [partition, offset, PairUpdate as a dict],
    # newest first: sent again when the broker redelivers one of them (see engine.pipeline)
    sent_pairs: list[list[Any]] = field(default_factory=list)
    # the session of recent[0] (session_key of its event's session_id; None: it carried none)
    session: str | None = None

    def recent_item_ids(self) -> list[str]:
        """Recent items, most recent first."""
        return [entry[0] for entry in self.recent]

    def has_seen(self, event_id: str) -> bool:
        """Whether an event with this id was applied (within the dedup horizon)."""
        token = event_fingerprint(event_id)
        found = self.seen.find(token)
        while found >= 0 and found % FINGERPRINT_WIDTH:  # only at a fingerprint's start
            found = self.seen.find(token, found + 1)
        return found >= 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        seen = data.get("seen")
        if isinstance(seen, list):  # stored by an older version: the event ids themselves
            data = {**data, "seen": "".join(map(event_fingerprint, seen))}
        return cls(**data)


#: Characters of an event id's fingerprint: 9 bytes (72 bits) of BLAKE2b, in base64.
FINGERPRINT_WIDTH = 12


def event_fingerprint(event_id: str) -> str:
    """What a profile remembers of an applied event's id, for de-duplication.

    Fixed width, so that a thousand of them fit in one string of 12 KB. Two
    ids of one user's last thousand events share a fingerprint with a chance
    of about 1 in 10^16.

    >>> event_fingerprint("e-123"), len(event_fingerprint("x" * 10_000))
    ('1cKWMq8UBvDU', 12)
    """
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=9).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def _decay(value: float, elapsed: float, half_life: float) -> float:
    return value * 0.5 ** (elapsed / half_life) if elapsed > 0 else value


def _add_interest(
    interests: dict[str, float], keys: Iterable[str], amount: float, bound: int
) -> None:
    for key in keys:
        interests[key] = interests.get(key, 0.0) + amount
    if len(interests) > bound:
        for key in sorted(interests, key=interests.__getitem__)[: len(interests) - bound]:
            del interests[key]


def _update_interests(profile: Profile, event: Event, weight: float, facts: ItemFacts,
                      limits: ProfileLimits) -> None:
    if event.ts > profile.interest_ts:
        elapsed = event.ts - profile.interest_ts
        for interests in (profile.category, profile.tag):
            for key, value in interests.items():
                interests[key] = _decay(value, elapsed, limits.half_life)
        profile.interest_ts = event.ts
        amount = weight
    else:
        amount = _decay(weight, profile.interest_ts - event.ts, limits.half_life)
    if facts.category:
        _add_interest(profile.category, [facts.category], amount, limits.categories)
    _add_interest(profile.tag, facts.tags, amount, limits.tags)


def _remember_item(
    profile: Profile, event: Event, weight: float, limits: ProfileLimits
) -> tuple[float, tuple[str, ...]]:
    """Move the item to the front of ``recent``; return the weight it newly adds and the
    items it pushed out of ``recent``."""
    assert event.item_id is not None
    previous = 0.0
    for index, entry in enumerate(profile.recent):
        if entry[0] == event.item_id:
            previous = entry[1]
            del profile.recent[index]
            break
    profile.recent.insert(0, [event.item_id, max(previous, weight), event.ts])
    dropped = tuple(str(entry[0]) for entry in profile.recent[limits.recent_items :])
    del profile.recent[limits.recent_items :]
    return max(0.0, weight - previous), dropped


def session_key(session_id: str | None) -> str | None:
    """What state keeps of an event's ``session_id``: a short one-way hash (None for none).

    Sessions are only ever compared, so the raw id is never stored. An empty
    id is no id: it does not tie a user's events together.

    >>> session_key("s-1") == session_key("s-1"), session_key("s-1") == session_key("s-2")
    (True, False)
    >>> session_key(None) is None, session_key("") is None
    (True, True)
    """
    if not session_id:
        return None
    return hashlib.blake2b(session_id.encode(), digest_size=_SESSION_BYTES,
                           person=b"engine-session").hexdigest()


def same_session(earlier_ts: float, earlier_session: str | None, ts: float,
                 session: str | None, gap: float) -> bool:
    """Whether an interaction at ``ts`` continues the session of one at ``earlier_ts``.

    It does when at most ``gap`` seconds of event time separate them, or, past
    that, when both carry the same session (:func:`session_key`): a producer's
    session id keeps a session together across a pause. A new session id
    within the gap does not end the session: on REES46, the transitions across
    such ids predict the next item (see the README's Sessions). An
    interaction older than the earlier one never continues it.

    >>> same_session(0.0, "a", 5000.0, "a", 1800.0), same_session(0.0, "a", 5000.0, "b", 1800.0)
    (True, False)
    >>> same_session(0.0, "a", 10.0, "b", 1800.0), same_session(0.0, None, 5000.0, "a", 1800.0)
    (True, False)
    >>> same_session(10.0, "a", 5.0, "a", 1800.0)
    False
    """
    if ts < earlier_ts:
        return False
    return ts - earlier_ts <= gap or (session is not None and session == earlier_session)


def _previous_in_session(profile: Profile, event: Event, session: str | None,
                         limits: ProfileLimits) -> str | None:
    """The user's last item, if it differs and the event continues its session."""
    if not profile.recent:
        return None
    item, _, ts = profile.recent[0]
    if item == event.item_id or not same_session(ts, profile.session, event.ts, session,
                                                 limits.session_gap):
        return None
    return str(item)


def apply_event(
    profile: Profile | None, event: Event, facts: ItemFacts, limits: ProfileLimits
) -> tuple[Profile, PairUpdate | None]:
    """Apply one new (not duplicate) interaction; takes ownership of ``profile``.

    Returns the updated profile and the co-occurrence evidence the interaction
    gives, if any. The caller checks :meth:`Profile.has_seen` first.
    """
    profile = profile or Profile(event.user_id)
    profile.counts[event.type] = profile.counts.get(event.type, 0) + 1
    weight = event_weight(event.type, event.value, limits)
    _update_interests(profile, event, weight, facts, limits)
    pairs = None
    if weight > 0 and event.item_id is not None:
        partners = tuple(
            (entry[0], float(entry[1]))
            for entry in profile.recent[: limits.cooccurrence_window]
            if entry[0] != event.item_id
        )
        session = session_key(event.session_id)
        previous = _previous_in_session(profile, event, session, limits)
        gain, dropped = _remember_item(profile, event, weight, limits)
        profile.session = session
        if gain > 0:
            level = float(profile.recent[0][1])
            pairs = PairUpdate(event.item_id, gain, partners, event.ts, previous, level,
                               engager_key(profile.user_id), dropped)
    if event.type == "purchase" and event.item_id not in profile.purchased:
        profile.purchased.append(event.item_id)  # type: ignore[arg-type]
        del profile.purchased[: -limits.purchased_items]
    if event.type == "rating" and event.item_id is not None:
        _judge(profile.disliked, event.item_id, weight < 0, limits.purchased_items)
    profile.last_ts = max(profile.last_ts, event.ts)
    profile.last_event_id = event.event_id
    profile.seen = (profile.seen + event_fingerprint(event.event_id))[
        -limits.dedup_horizon * FINGERPRINT_WIDTH:]
    return profile, pairs


def _judge(disliked: list[str], item_id: str, low: bool, bound: int) -> None:
    """Keep a low-rated item among the user's disliked ones (the latest ``bound``);
    a later rating at or above the scale's middle takes it out again.

    >>> disliked = ["a"]
    >>> _judge(disliked, "b", True, 2); _judge(disliked, "c", True, 2); disliked
    ['b', 'c']
    >>> _judge(disliked, "b", False, 2); disliked
    ['c']
    """
    if item_id in disliked:
        disliked.remove(item_id)
    if low:
        disliked.append(item_id)
        del disliked[:-bound]


def interest_shares(interests: dict[str, float], top: int = 20) -> dict[str, float]:
    """The strongest positive interests as shares that add up to 1.

    >>> interest_shares({"a": 3.0, "b": 1.0, "c": -2.0})
    {'a': 0.75, 'b': 0.25}
    """
    positive = sorted(((v, k) for k, v in interests.items() if v > 0), reverse=True)[:top]
    total = sum(v for v, _ in positive)
    return {k: round(v / total, 6) for v, k in positive} if total > 0 else {}
