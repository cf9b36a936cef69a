"""The whole engine in one process, without a broker: the core functions the workers run.

Used by ``engine evaluate`` (test-then-train) and by tests. The item side is
applied at once instead of through the item-pairs topic, so lists can be a
little fresher than a distributed worker's. With ``worker_order=True`` the
simulation keeps a worker's order instead: the list is ranked before the
event's item evidence reaches the world, and the rows an event touches are
summarised against the world as it was before any of them (a worker's
item-rows agent publishes a batch's summaries before it reads them back).
That is the order ``engine evaluate --via-broker`` reproduces through a
broker, list for list.

>>> from engine.events import Event
>>> sim = Simulation(EngineConfig())
>>> sim.apply(Event("e1", "u1", "a", "view", 1.0))
True
>>> _ = sim.apply(Event("e2", "u1", "b", "view", 2.0))
>>> _ = sim.apply(Event("e3", "u2", "a", "view", 3.0))
>>> [i["item_id"] for i in sim.recommend("u2")["items"]]
['b']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from engine.events import CatalogItem, Event
from engine.mf import OnlineMF
from engine.pipeline import (
    EngineConfig,
    handle_event,
    learns_mf,
    new_mf,
    new_ranker,
    publish_list,
    recommend,
)
from engine.profiles import Erasure, PairUpdate, Profile
from engine.settings import Variant
from engine.similarity import ItemRow, apply_increment, row_increments
from engine.world import World

__all__ = ["Simulation"]


class Simulation:
    """Profiles, item rows and the world of one engine, kept in dicts."""

    def __init__(self, config: EngineConfig, trending_half_life: float | None = None,
                 *, worker_order: bool = False, mf: bool | None = None,
                 on_list: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``mf``: keep a matrix factorisation model (default: when the blend uses it).

        ``on_list`` is called with every published list, once the profile remembers it.
        """
        self.config = config
        self.on_list = on_list
        self.worker_order = worker_order
        self.published: dict[str, list[str]] = {}  # user -> item ids of the last list published
        self.summaries = 0  # row summaries published so far (one per row an event touched)
        self.profiles: dict[str, Profile] = {}
        self.rows: dict[str, ItemRow] = {}
        self.world = World(trending_half_life or config.row_limits.half_life)
        self.ranker = new_ranker(config)
        self.mf: OnlineMF | None = (
            new_mf(config) if (learns_mf(config) if mf is None else mf) else None)
        self._offset = 0

    def add_item(self, item: CatalogItem) -> None:
        self.world.set_item(item)

    def remove_item(self, item_id: str) -> None:
        self.world.remove_item(item_id)

    def apply(self, event: Event) -> bool:
        """Apply one event; True when it made a refreshed list due (published to the profile)."""
        outcome = handle_event(self.profiles.get(event.user_id), event, self.world, self.config,
                               ranker=self.ranker, mf=self.mf)
        if outcome.status == "duplicate":
            return False
        if outcome.profile is None:
            self.profiles.pop(event.user_id, None)
            self.published.pop(event.user_id, None)
            if outcome.erased is not None:
                self._apply_item_side(outcome.erased)
            return outcome.publish
        self.profiles[event.user_id] = outcome.profile
        if not self.worker_order:
            self._apply_item_side(outcome.pairs)
        if outcome.publish:  # as a worker does: the list goes out, the profile remembers it
            self.profiles[event.user_id], listing = publish_list(
                outcome.profile, event.user_id, self.world, self.config,
                trigger_event_id=event.event_id, now=event.ts, ranker=self.ranker,
                mf=self.mf)
            self.published[event.user_id] = [item["item_id"] for item in listing["items"]]
            if self.on_list is not None:
                self.on_list(listing)
        if self.worker_order:
            self._apply_item_side(outcome.pairs)
        return outcome.publish

    def _apply_item_side(self, update: PairUpdate | Erasure | None) -> None:
        """The item side of an event (its evidence, or a user's erasure), rows and summaries."""
        if update is None:
            return
        summaries = []
        increments = row_increments(update)
        for item_id, increment in increments.items():
            self._offset += 1
            row, _ = apply_increment(self.rows.get(item_id), item_id, increment,
                                     self._offset, self.config.row_limits)
            self.rows[item_id] = row
            summary = row.summary(self.world.weights, self.config.neighbours,
                                  self.config.row_limits, self.world.weight_times)
            if self.worker_order:
                summaries.append(summary)
            else:
                self.world.apply_summary(summary)
        for summary in summaries:
            self.world.apply_summary(summary)
        self.summaries += len(increments)

    def recommend(
        self,
        user_id: str,
        *,
        trigger: str | None = None,
        now: float = 0.0,
        n: int | None = None,
        weights: Mapping[str, float] | None = None,
        variant: str | None = None,
        guard: bool | None = None,
    ) -> dict[str, Any]:
        """The user's list now; ``weights``, ``variant`` and ``guard`` override the config's.

        With ``weights`` alone the ranker is left out (a source's list, say).
        """
        config = self.config
        if weights is not None:
            config = replace(config, weights=dict(weights))
        if variant is not None:
            config = replace(config, variants=(Variant(variant, 1.0),))
        if guard is not None:
            config = replace(config, ranker=replace(config.ranker, guard=guard))
        ranker = None if weights is not None and variant is None else self.ranker
        return recommend(self.profiles.get(user_id), user_id, self.world, config,
                         trigger_event_id=trigger, now=now, n=n, ranker=ranker, mf=self.mf)
