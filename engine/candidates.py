"""Where candidate items come from. Each source explains every item it proposes.

A source is a function ``(profile, world, limit) -> list[Candidate]``; scores
are in [0, 1] within a source, best first. ``profile`` is None for a user the
engine has never seen (cold start).

>>> from engine.events import CatalogItem
>>> w = World()
>>> w.set_item(CatalogItem("b", category="shoes"))
>>> w.set_neighbours("a", 2.0, (2.0, 0.0), [("b", 0.5)], bought=[("b", 0.25)])
>>> w.set_neighbours("b", 1.0, (1.0, 0.0), [("a", 0.5)])
>>> p = Profile("u", recent=[["a", 1.0, 0.0]], category={"shoes": 1.0})
>>> co_occurrence(p, w, 5)
[Candidate(item_id='b', score=1.0, source='co_occurrence', reason='often viewed together with a')]
>>> bought_together(p, w, 5)[0].reason
'often bought together with a'
>>> [c.item_id for c in category_affinity(p, w, 5)], [c.item_id for c in trending(None, w, 5)]
(['b'], ['a', 'b'])
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

from engine.content import category_levels
from engine.privacy import engager_key
from engine.profiles import Profile, interest_shares
from engine.world import World

__all__ = [
    "SOURCES",
    "Candidate",
    "Source",
    "bought_together",
    "category_affinity",
    "co_occurrence",
    "content_based",
    "sequence",
    "similar_users",
    "trending",
]

_SEQUENCE_SEEDS = 3  # how many of the latest items seed next-item candidates
_SIMILAR_USERS = 20  # the most similar users whose items similar_users proposes


class Candidate(NamedTuple):
    """An item a source proposes, its score in [0, 1] within the source, and why.

    A named tuple: a list builds dozens of them, and a tuple is several times
    cheaper to make than a frozen dataclass.
    """

    item_id: str
    score: float
    source: str
    reason: str


Source = Callable[[Profile | None, World, int], list[Candidate]]

#: Makes a Candidate from a 4-tuple without the named tuple's Python-level ``__new__``:
#: sources make dozens per list.
_candidate = tuple.__new__


def _normalised(scores: dict[str, float], reasons: dict[str, str], source: str,
                limit: int) -> list[Candidate]:
    """The ``limit`` best items (ties by id), scores divided by the best one's."""
    keyed = [(-score, item) for item, score in scores.items()]
    # a partial sort pays only for long lists: one C sort is cheaper up to several times limit
    ranked = sorted(keyed)[:limit] if len(keyed) <= 8 * limit else heapq.nsmallest(limit, keyed)
    if not ranked or ranked[0][0] >= 0:
        return []
    best = -ranked[0][0]
    return [_candidate(Candidate, (item, -negative / best, source, reasons[item]))
            for negative, item in ranked if negative < 0]


#: Contributions that share a reason: (reason, (item, contribution) pairs).
Group = tuple[str, Iterable[tuple[str, float]]]


def _accumulate(groups: Iterable[Group], source: str, limit: int) -> list[Candidate]:
    """Sum each item's contributions; its reason is that of its largest one."""
    scores: dict[str, float] = {}
    best: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for reason, contributions in groups:
        for item, contribution in contributions:
            scores[item] = scores.get(item, 0.0) + contribution
            if contribution > best.get(item, 0.0):
                best[item] = contribution
                reasons[item] = reason
    return _normalised(scores, reasons, source, limit)


def _neighbours_of_recent(
    profile: Profile | None, neighbours: Callable[[str], list[tuple[str, float]]],
    together: str, source: str, limit: int,
) -> list[Candidate]:
    """Neighbours of the user's recent items, the most recent and strongest counting most."""
    if profile is None:
        return []
    groups = (
        (f"often {together} together with {seed}",
         [(item, scale * similarity) for item, similarity in found])
        for rank, (seed, weight, _ts) in enumerate(profile.recent)
        if (found := neighbours(seed))
        for scale in [weight / (1.0 + rank)]
    )
    return _accumulate(groups, source, limit)


def co_occurrence(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """Items engaged with around the user's recent items ("viewed together")."""
    return _neighbours_of_recent(profile, world.neighbours, "viewed", "co_occurrence", limit)


def bought_together(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """Items that users bought together with the user's recent items."""
    return _neighbours_of_recent(profile, world.bought_with, "bought", "bought_together", limit)


def sequence(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """What users engage with next after the user's latest items (the last counts most).

    The streaming form of session-based next-item models: transitions between
    consecutive items of a session, learnt on every event.
    """
    if profile is None:
        return []
    groups = (
        (f"often viewed next after {seed}",
         [(item, probability / divisor) for item, probability in following])
        for rank, (seed, _weight, _ts) in enumerate(profile.recent[:_SEQUENCE_SEEDS])
        if (following := world.next_items(seed))
        for divisor in [1 + 2 * rank]
    )
    return _accumulate(groups, "sequence", limit)


def similar_users(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """What the users most similar to this one engaged with and this one has not.

    Users are compared by the cosine of their recent items: the user's own
    (from the profile, the latest counting most, ``1 / (1 + rank)``) against
    each other user's, as the items' latest engagers tell them
    (:meth:`World.engaged_items`, by engager key; the user is left out by
    theirs). Each item of the most similar users scores the sum of their
    similarities. Cost: at most ``ENGINE_RECENT_ITEMS`` times
    ``ENGINE_ITEM_ENGAGERS`` users compared, then 20 users' items.

    >>> w = World()
    >>> w.set_engagers("a", [engager_key("u2"), engager_key("u1")])
    >>> w.set_engagers("b", [engager_key("u2")])
    >>> similar_users(Profile("u1", recent=[["a", 1.0, 0.0]]), w, 5)
    [Candidate(item_id='b', score=1.0, source='similar_users', reason='users with similar taste \
liked it')]
    """
    if profile is None or not profile.recent:
        return []
    me = engager_key(profile.user_id)
    mine = [str(entry[0]) for entry in profile.recent]
    shared: dict[str, float] = {}  # other user -> recent items in common, weighted by recency
    norm = 0.0  # the squared length of this user's weighted items
    for rank, item in enumerate(mine):
        weight = 1.0 / (1 + rank)
        norm += weight * weight
        for user in world.engagers(item):
            if user != me:
                shared[user] = shared.get(user, 0.0) + weight
    if not shared:
        return []
    engaged = world.engaged_items
    ranked = [(-common / math.sqrt(max(len(engaged(user)), 1)), user)
              for user, common in shared.items()]  # cosine times this user's length
    similar = (heapq.nsmallest(_SIMILAR_USERS, ranked) if len(ranked) > _SIMILAR_USERS
               else sorted(ranked))
    length = math.sqrt(norm)
    known = {*mine, *profile.purchased}
    contributions = [
        (item, -negative / length)
        for negative, user in similar
        for item in engaged(user)
        if item not in known
    ]
    return _accumulate([("users with similar taste liked it", contributions)],
                       "similar_users", limit)


def category_affinity(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """Popular items of the categories the user is most interested in."""
    if profile is None:
        return []
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for category, share in interest_shares(profile.category, top=3).items():
        reason = f"popular in {category}, which you like"
        for item, popularity in world.trending_in(category, limit):
            score = share * popularity
            if score > scores.get(item, 0.0):
                scores[item] = score
                reasons[item] = reason
    return _normalised(scores, reasons, "category", limit)


def content_based(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """Items whose category, tags and brand match the user's interests (TF-IDF weighted).

    Needs no interaction with the item: new items are found as soon as they
    are in the catalog.
    """
    if profile is None:
        return []
    interests: dict[str, float] = {}
    for category, share in interest_shares(profile.category, top=3).items():
        for level in category_levels(category)[-2:]:  # the specific levels; the top ones say little
            interests[f"c:{level}"] = max(interests.get(f"c:{level}", 0.0), share)
    for tag, share in interest_shares(profile.tag, top=5).items():
        interests[f"t:{tag}"] = share
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for item, score, feature in world.content.score(interests, limit):
        scores[item] = score
        kind = "category" if feature.startswith("c:") else "tag"
        reasons[item] = f"matches your interest in {kind} {feature[2:]}"
    return _normalised(scores, reasons, "content", limit)


def trending(profile: Profile | None, world: World, limit: int) -> list[Candidate]:
    """The most popular items right now (event time): for everyone, and cold start.

    The same for every user until the world ranks trending items again, so the
    candidates are made once per ranking (:meth:`World.derived`).
    """
    ranked = world.trending(limit)
    made = world.derived(("trending", limit), world.trending_version(), lambda: [
        Candidate(item, score, "trending", "trending now") for item, score in ranked])
    return list(made)


#: Every source, by name, in the order their reasons are preferred.
SOURCES: dict[str, Source] = {
    "sequence": sequence,
    "bought_together": bought_together,
    "co_occurrence": co_occurrence,
    "similar_users": similar_users,
    "category": category_affinity,
    "content": content_based,
    "trending": trending,
}
