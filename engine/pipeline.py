"""The whole flow for one event, pure: dedup, profile update, item evidence, list.

The stream layer loads the user's profile and calls :func:`handle_event`,
which judges the event against the user's list in force (the worker's
learned ranker learns from it) and applies it. When the outcome says a list
is due, :func:`publish_list` ranks it and makes it the profile's list in
force. The stream layer stores the profile, forwards the item evidence to the
item side and publishes the list. Evaluation calls the same functions
in-process; the web views call :func:`recommend`.

>>> config = EngineConfig()
>>> world = World()
>>> e = Event("e1", "u1", "i1", "view", 50.0)
>>> out = handle_event(None, e, world, config, position=(0, 7))
>>> out.status, out.publish, out.profile.counts["view"]
('applied', True, 1)
>>> handle_event(out.profile, e, world, config, position=(0, 8)).status
'duplicate'
>>> handle_event(out.profile, Event("e2", "u1", "i2", "view", 51.0), world, config, (0, 7)).status
'duplicate'
>>> profile, listing = publish_list(out.profile, "u1", world, config, trigger_event_id="e1",
...                                 now=60.0, ranker=new_ranker(config))
>>> listing["items"], listing["model"]["strategy"], profile.served[0]["rec_id"] == listing["rec_id"]
([], 'blend', True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine import __version__
from engine.candidates import SOURCES, Candidate
from engine.errors import SettingsError
from engine.events import Event
from engine.features import FEATURES, feature_table
from engine.feedback import Reaction, react, remember, served_record
from engine.limits import InputLimits
from engine.mf import SOURCE as MF_SOURCE
from engine.mf import MFConfig, OnlineMF, matrix_factorisation
from engine.profiles import (
    Erasure,
    ItemFacts,
    PairUpdate,
    Profile,
    ProfileLimits,
    apply_event,
    erasure,
    event_weight,
    pair_update_from_dict,
    pair_update_to_dict,
)
from engine.ranker import OnlineRanker, RankerConfig, probability
from engine.ranking import DEFAULT_WEIGHTS, CategoryCap, backfill, blend_pool, diversify
from engine.settings import Settings, Variant
from engine.similarity import RowLimits
from engine.world import World

__all__ = [
    "BLEND",
    "LEARNED",
    "SOURCE_NAMES",
    "EngineConfig",
    "EventOutcome",
    "RankedList",
    "assign_variant",
    "handle_event",
    "learns_mf",
    "new_mf",
    "new_ranker",
    "publish_list",
    "rank_list",
    "recommend",
    "serves_learned",
]

Status = Literal["applied", "duplicate", "forgotten"]

#: ``model.strategy`` of a list: the blend's order, or the learned ranker's.
BLEND = "blend"
LEARNED = "learned-ranker"

#: Every candidate source: the stateless ones, then those scored by a per-worker model.
SOURCE_NAMES: tuple[str, ...] = (*SOURCES, MF_SOURCE)


@dataclass(frozen=True)
class EngineConfig:
    """The pure core's configuration, derived from the settings."""

    profile_limits: ProfileLimits = field(default_factory=ProfileLimits)
    row_limits: RowLimits = field(default_factory=RowLimits)
    top_n: int = 10
    neighbours: int = 50
    pool: int = 30  # candidates taken from each source (40 measured no better: README)
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    variants: tuple[Variant, ...] = (Variant("learned", 1.0),)
    refresh_interval: float = 0.0
    exclude_recent: int = 1  # the user's latest items not to recommend (1: the current one)
    max_per_category: int = 0  # diversity: places one category may fill (0: no cap)
    input_limits: InputLimits = field(default_factory=InputLimits)  # what a record may hold
    ranker: RankerConfig = field(default_factory=RankerConfig)
    mf: MFConfig = field(default_factory=MFConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            profile_limits=ProfileLimits(
                recent_items=settings.recent_items,
                cooccurrence_window=settings.cooccurrence_window,
                session_gap=settings.session_gap,
                dedup_horizon=settings.dedup_horizon,
                half_life=settings.interest_half_life,
                rating_min=settings.rating_min,
                rating_max=settings.rating_max,
            ),
            row_limits=RowLimits(
                half_life=settings.trending_half_life,
                similarity=settings.similarity,
                alpha=settings.similarity_alpha,
                pair_half_life=settings.pair_half_life,
                engagers=settings.item_engagers,
            ),
            top_n=settings.top_n,
            neighbours=settings.neighbours,
            variants=settings.variants,
            refresh_interval=settings.refresh_interval,
            weights=_blend_weights(settings.blend_weights),
            exclude_recent=settings.exclude_recent,
            max_per_category=settings.max_per_category,
            input_limits=InputLimits.from_settings(settings),
            ranker=RankerConfig(
                pool=settings.ranker_pool,
                lists=settings.ranker_lists,
                min_examples=settings.ranker_min_examples,
                guard=settings.ranker_guard,
            ),
            mf=MFConfig(
                factors=settings.mf_factors,
                max_users=settings.mf_max_users,
                max_items=settings.mf_max_items,
                negatives=settings.mf_negatives,
                rating_min=settings.rating_min,
                rating_max=settings.rating_max,
            ),
        )


def new_ranker(config: EngineConfig) -> OnlineRanker:
    """A learned ranker, untrained, over the candidate features."""
    return OnlineRanker(config.ranker, FEATURES)


def new_mf(config: EngineConfig) -> OnlineMF:
    """A matrix factorisation model, untrained (see :mod:`engine.mf`)."""
    return OnlineMF(config.mf)


def learns_mf(config: EngineConfig) -> bool:
    """Whether the blend uses the matrix factorisation source (else a worker needs no model)."""
    return config.weights.get(MF_SOURCE, 0.0) > 0


def serves_learned(config: EngineConfig) -> bool:
    """Whether any user is in the ``learned`` variant (else a worker needs no ranker)."""
    return any(variant.name == "learned" and variant.weight > 0 for variant in config.variants)


def _blend_weights(overrides: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict(DEFAULT_WEIGHTS)
    for name, weight in (overrides or {}).items():
        if name not in SOURCE_NAMES:
            raise SettingsError(
                f"ENGINE_BLEND_WEIGHTS: unknown source {name!r} "
                f"(known: {', '.join(SOURCE_NAMES)})"
            )
        weights[name] = weight
    return weights


@dataclass(frozen=True)
class EventOutcome:
    profile: Profile | None  # None: the user is forgotten
    status: Status
    pairs: PairUpdate | None = None  # evidence for the item side
    publish: bool = False  # a refreshed list is due
    # a duplicate that is the broker delivering an applied input record again
    # (not a repeated event id at a new offset): its list and its item evidence
    # (``pairs``, when the profile still has it) may have been lost with a
    # crashed worker, so they are sent again; the item side applies evidence once
    redelivered: bool = False
    reaction: Reaction | None = None  # the event judged against the list in force
    learned: int = 0  # examples the ranker learnt from it
    erased: Erasure | None = None  # forgotten: the item rows that must forget the user
    mf_learned: int = 0  # examples the matrix factorisation learnt from it


#: Item evidence of a user's latest events kept to be sent again on redelivery. Only
#: increments still in a crashed worker's producer buffer are lost, and they come
#: from the last few milliseconds: a user rarely has more than one event in them.
_SENT_PAIRS_KEPT = 3


def _sent_pairs(profile: Profile, position: tuple[int, int] | None) -> PairUpdate | None:
    """The item evidence of the event at ``position``, if the profile still has it."""
    for partition, offset, update in profile.sent_pairs:
        if position == (partition, offset):
            return pair_update_from_dict(update)
    return None


def _is_redelivery(profile: Profile, position: tuple[int, int] | None) -> bool:
    if position is None:
        return False
    partition, offset = position
    return offset <= profile.offsets.get(str(partition), -1)


def handle_event(
    profile: Profile | None,
    event: Event,
    world: World,
    config: EngineConfig,
    position: tuple[int, int] | None = None,
    ranker: OnlineRanker | None = None,
    mf: OnlineMF | None = None,
) -> EventOutcome:
    """Apply one validated event read at ``position`` (partition, offset) to the user's profile.

    Takes ownership of ``profile``. A repeated event id, or an input offset
    already applied, is a duplicate and changes nothing (the latter is
    ``redelivered``: its list is due again, as it may have been lost). A new
    event is first judged against the user's list in force; ``ranker`` learns
    from it. ``mf`` learns from every new event, and forgets a forgotten user.
    """
    if event.type == "forget_user":
        if mf is not None:
            mf.forget(event.user_id)
        return EventOutcome(None, "forgotten", publish=profile is not None,
                            erased=erasure(profile, event.ts) if profile is not None else None)
    if profile is not None and _is_redelivery(profile, position):
        return EventOutcome(profile, "duplicate", _sent_pairs(profile, position),
                            redelivered=True)
    if profile is not None and profile.has_seen(event.event_id):
        return EventOutcome(profile, "duplicate")
    reaction, learned = None, 0
    if profile is not None:
        positive = event_weight(event.type, event.value, config.profile_limits) > 0
        reaction = react(profile.served, event, negatives=config.ranker.negatives,
                         positive=positive)
        if reaction is not None and ranker is not None:
            if reaction.comparison is not None:  # before learning: prequential
                ranker.compare(*reaction.comparison)
            # rows of another length come from a list remembered by another version
            learned = ranker.learn([example for example in reaction.examples
                                    if len(example[0]) == len(FEATURES)])
    item = world.item(event.item_id) if event.item_id else None
    facts = ItemFacts()
    if item is not None:  # the brand counts as a tag of interest
        tags = (*item.tags, item.brand) if item.brand else item.tags
        facts = ItemFacts(item.category, tuple(dict.fromkeys(tags)))
    if mf is not None and profile is None:  # a new user: no factors of an earlier life
        mf.forget(event.user_id)
    profile, pairs = apply_event(profile, event, facts, config.profile_limits)
    mf_learned = 0
    if mf is not None:  # the user's own items are never drawn as negatives
        mf_learned = mf.learn_event(event, {*profile.recent_item_ids(), *profile.purchased})
    if position is not None:
        profile.offsets[str(position[0])] = position[1]
        if pairs is not None:
            profile.sent_pairs = [[position[0], position[1], pair_update_to_dict(pairs)],
                                  *profile.sent_pairs[: _SENT_PAIRS_KEPT - 1]]
    publish = config.refresh_interval <= 0 or (
        profile.published_ts is None or event.ts - profile.published_ts >= config.refresh_interval
    )
    if publish:
        profile.published_ts = event.ts
    return EventOutcome(profile, "applied", pairs, publish, reaction=reaction, learned=learned,
                        mf_learned=mf_learned)


def assign_variant(user_id: str, variants: tuple[Variant, ...]) -> str:
    """A stable A/B bucket for a user, by the variants' weights.

    >>> assign_variant("u42", (Variant("learned", 1.0),))
    'learned'
    """
    if len(variants) == 1:  # the default: no bucket to draw (one list hashed less each time)
        return variants[0].name
    digest = hashlib.blake2b(user_id.encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2**64 * sum(v.weight for v in variants)
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant.name
    return variants[-1].name


@dataclass(frozen=True)
class RankedList:
    """A list in the contract's format, and what the user's profile remembers of it."""

    listing: dict[str, Any]
    record: dict[str, Any]  # see engine.feedback.served_record


def rank_list(
    profile: Profile | None,
    user_id: str,
    world: World,
    config: EngineConfig,
    *,
    trigger_event_id: str | None,
    now: float,
    n: int | None = None,
    category: str | None = None,
    ranker: OnlineRanker | None = None,
    mf: OnlineMF | None = None,
) -> RankedList:
    """The user's list: the blend's order, or the learned ranker's for the ``learned`` variant.

    Both choose from the same pool, the blend's best candidates, under the
    same business rules. The ranker's top n is computed whenever it is warm,
    whatever the variant, so that the profile remembers both for the online
    comparison; it is served when the user is in the ``learned`` variant and
    the ranker is trusted (:meth:`OnlineRanker.serving`).
    """
    n = n or config.top_n
    candidates = {
        name: source(profile, world, config.pool)
        for name, source in SOURCES.items()
        if config.weights.get(name, 0.0) > 0
    }
    if mf is not None and config.weights.get(MF_SOURCE, 0.0) > 0:
        candidates[MF_SOURCE] = matrix_factorisation(profile, world, config.pool, mf)
    if category is not None:
        candidates["in_category"] = [
            Candidate(item, score, "in_category", f"popular in {category}")
            for item, score in world.trending_in(category, config.pool)
        ]
    exclude = {*profile.purchased, *profile.disliked} if profile else set()
    if profile:  # what the user is looking at right now, and (configurable) just saw
        exclude.update(entry[0] for entry in profile.recent[: config.exclude_recent])

    def in_category(item_id: str) -> bool:
        if not world.is_recommendable(item_id):
            return False
        item = world.item(item_id)
        return item is not None and item.category is not None and category is not None and (
            item.category == category or item.category.startswith(category + "/")
        )

    allowed = world.is_recommendable if category is None else in_category

    def category_of(item_id: str) -> str | None:
        item = world.item(item_id)
        return item.category if item else None

    weights = {**config.weights, "in_category": 0.05}
    def top(order: Iterable[int]) -> list[int]:
        return diversify(pool.items, order, n, category_of=category_of,
                         max_per_category=config.max_per_category)

    ranker_top: list[int] | None = None
    logits: list[float] = []
    if ranker is None:  # the blend alone, its top n (the diversity cap fills it from below)
        cap = CategoryCap(category_of, config.max_per_category)
        pool = backfill(blend_pool(candidates, exclude, allowed, weights, n, cap),
                        world.newest_items(), exclude, allowed, n, cap)
        table = None
        blend_top = list(range(len(pool.items)))
    else:  # a pool for the ranker to choose from, and to learn from reactions to the list
        pool = backfill(blend_pool(candidates, exclude, allowed, weights,
                                   max(n, config.ranker.pool)),
                        world.newest_items(), exclude, allowed, n)  # only lists short of n
        table = feature_table(pool, profile, world)
        blend_top = top(range(len(pool.items)))
        if ranker.warm and profile is not None and profile.recent:
            logits = ranker.scores(table)  # (a user without history gets the blend: trending)
            ranker_top = top([i for _negative, i in sorted(
                [(-logit, i) for i, logit in enumerate(logits)])])
    ids = pool.items
    variant = assign_variant(user_id, config.variants)
    learned = (variant == "learned" and ranker is not None and ranker_top is not None
               and ranker.serving(config.ranker.guard))
    shown = ranker_top if learned and ranker_top is not None else blend_top
    items = [
        {"item_id": ids[i],
         "score": round(probability(logits[i]), 6) if learned else pool.scores[i],
         "reasons": pool.reasons(i)}
        for i in shown
    ]
    strategy = LEARNED if learned else BLEND
    rec_id = f"r-{_list_fingerprint(user_id, trigger_event_id, items)}"
    listing = {
        "user_id": user_id,
        "rec_id": rec_id,
        "generated_at": now,
        "trigger_event_id": trigger_event_id,
        "items": items,
        "model": {"version": __version__, "strategy": strategy, "variant": variant},
    }
    compare = (blend_top, ranker_top) if ranker_top is not None else None
    record = served_record(rec_id, variant, strategy, ids, table, shown=shown, compare=compare)
    return RankedList(listing, record)


def recommend(
    profile: Profile | None,
    user_id: str,
    world: World,
    config: EngineConfig,
    *,
    trigger_event_id: str | None,
    now: float,
    n: int | None = None,
    category: str | None = None,
    ranker: OnlineRanker | None = None,
    mf: OnlineMF | None = None,
) -> dict[str, Any]:
    """The user's recommendation list in the contract's format (cold start when no profile)."""
    return rank_list(profile, user_id, world, config, trigger_event_id=trigger_event_id,
                     now=now, n=n, category=category, ranker=ranker, mf=mf).listing


def publish_list(
    profile: Profile,
    user_id: str,
    world: World,
    config: EngineConfig,
    *,
    trigger_event_id: str | None,
    now: float,
    ranker: OnlineRanker | None = None,
    mf: OnlineMF | None = None,
) -> tuple[Profile, dict[str, Any]]:
    """The list to publish after an event, and the profile that remembers it as in force.

    Takes ownership of ``profile``.
    """
    ranked = rank_list(profile, user_id, world, config, trigger_event_id=trigger_event_id,
                       now=now, ranker=ranker, mf=mf)
    return remember(profile, ranked.record, config.ranker.lists), ranked.listing


def _list_fingerprint(user_id: str, trigger: str | None, items: list[dict[str, Any]]) -> str:
    """A short stable id of a served list: the same list for the same trigger, the same id."""
    text = "\x1f".join([user_id, trigger or "", *(str(i["item_id"]) for i in items)])
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
