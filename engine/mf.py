"""Online matrix factorisation: River's ``BiasedMF``, learnt on every event, bounded in memory.

One model per worker, like the learned ranker. It learns from every
interaction of the users the worker owns:

- a ``rating`` is an explicit rating, scaled from ``[rating_min, rating_max]``
  to ``[0, 1]`` (a low rating is a low target: negative evidence);
- any other interaction is implicit feedback: a positive for the item, whose
  target grows with the event type (view < click < cart < purchase), and a few
  sampled negatives (target 0): items of other recent interactions (the last
  ``negative_pool`` the model learnt, so an item is drawn in proportion to
  its recent popularity) that the user has not engaged with. Drawn in
  proportion to popularity, every item meets about as many negatives as
  positives, so its bias does not simply count how rarely it was drawn. The
  draw is seeded from the event id, so the same stream always trains the
  same model.

River keeps factors in dicts that grow forever; here users and items are
bounded (``max_users``, ``max_items``): beyond them the least recently
learnt is evicted, factors and bias dropped. New users and items start from
factors drawn from a generator seeded by their id, so the model does not
depend on the order entities first appear in. Kept item factors are mirrored
in a numpy matrix, so scoring every kept item for a user is one matrix-vector
product.

>>> mf = OnlineMF(MFConfig(factors=4, negatives=0))
>>> for n in range(30):
...     _ = mf.learn_event(Event(f"e{n}", "u1", "a", "view", float(n)))
>>> mf.users, mf.items, mf.learnt
(1, 1, 30)
>>> [item for item, _score in mf.top("u1", 5)]
['a']
>>> mf.forget("u1"); mf.users, mf.top("u1", 5)
(0, [])
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import optim, reco

from engine.candidates import Candidate
from engine.events import Event
from engine.item_factors import ItemFactors
from engine.profiles import Profile
from engine.world import World

__all__ = [
    "IMPLICIT_TARGETS",
    "SOURCE",
    "STATE_VERSION",
    "MFConfig",
    "OnlineMF",
    "matrix_factorisation",
]

#: The candidate source's name (blend weight, reasons, ``engine evaluate`` lists).
SOURCE = "matrix_factorisation"

#: Target of an implicit positive, by event type (a negative's target is 0).
IMPLICIT_TARGETS = {"view": 0.7, "click": 0.8, "add_to_cart": 0.9, "purchase": 1.0}
#: Format of :meth:`OnlineMF.state`; a checkpoint of another version is not loaded.
STATE_VERSION = 1
_HIGH_RATING = 0.75  # a scaled rating at least this high makes the item a "rated highly" seed
_RATED_KEPT = 5  # highly rated items remembered per user, newest first
_REASON_SEEDS = 5  # the user's recent items an MF candidate may be explained by


@dataclass(frozen=True)
class MFConfig:
    """The model's size, bounds and learning constants (from the settings)."""

    factors: int = 16
    max_users: int = 100_000  # users whose factors are kept; the least recently learnt go first
    max_items: int = 50_000  # items whose factors are kept
    negatives: int = 2  # sampled negatives per implicit positive
    negative_pool: int = 1000  # recent interactions whose items negatives are drawn from
    learning_rate: float = 0.2  # best of 0.02-0.5 on REES46 (HR@10 of the mf baseline)
    l2: float = 0.001
    clip: float = 1.0  # bound of the loss gradient (targets are in [0, 1]): no divergence
    init_sigma: float = 0.1
    rating_min: float = 1.0
    rating_max: float = 5.0
    seed: int = 0


def _seed_of(*parts: str) -> int:
    text = "\x1f".join(parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class OnlineMF:
    """River ``BiasedMF`` with bounded users and items and a numpy mirror of the item factors."""

    def __init__(self, config: MFConfig | None = None) -> None:
        self.config = config = config or MFConfig()
        self.model = reco.BiasedMF(
            n_factors=config.factors,
            bias_optimizer=optim.SGD(config.learning_rate),
            latent_optimizer=optim.SGD(config.learning_rate),
            l2_bias=config.l2,
            l2_latent=config.l2,
            clip_gradient=config.clip,
            seed=config.seed,
        )
        self._users: OrderedDict[str, None] = OrderedDict()  # least recently learnt first
        self._rated: dict[str, list[str]] = {}  # user -> highly rated items, newest first
        self._items = ItemFactors(config.factors, config.max_items)  # least recent first
        self._recent: deque[str] = deque(maxlen=max(config.negative_pool, 1))
        self.learnt = 0  # examples learnt
        self.evicted_users = 0
        self.evicted_items = 0

    # -- sizes -------------------------------------------------------------
    @property
    def users(self) -> int:
        return len(self._users)

    @property
    def items(self) -> int:
        return len(self._items)

    def knows_user(self, user: str) -> bool:
        return user in self._users

    def rated_highly(self, user: str) -> list[str]:
        """The user's highly rated items, newest first (at most five)."""
        return list(self._rated.get(user, ()))

    # -- learning ----------------------------------------------------------
    def target(self, event: Event) -> float | None:
        """The regression target an event gives for its item (None: it teaches nothing).

        >>> mf = OnlineMF()
        >>> [mf.target(Event("e", "u", "i", t, 0.0, v))
        ...  for t, v in [("rating", 5), ("rating", 2), ("view", None), ("purchase", 9.5)]]
        [1.0, 0.25, 0.7, 1.0]
        """
        if event.item_id is None:
            return None
        if event.type == "rating":
            low, high = self.config.rating_min, self.config.rating_max
            value = (low + high) / 2 if event.value is None else event.value
            return (min(max(value, low), high) - low) / (high - low)
        return IMPLICIT_TARGETS.get(event.type)

    def learn_event(self, event: Event, engaged: Collection[str] = ()) -> int:
        """Learn one event; returns the examples learnt.

        ``engaged`` are the user's own items, never drawn as negatives. A
        ``forget_user`` erases the user.
        """
        if event.type == "forget_user":
            self.forget(event.user_id)
            return 0
        y = self.target(event)
        if y is None or event.item_id is None:
            return 0
        user, item = event.user_id, event.item_id
        self._learn_one(user, item, y)
        learnt = 1
        if event.type == "rating":
            self._remember_rating(user, item, y >= _HIGH_RATING)
        else:
            learnt += self._learn_negatives(event, item, engaged)
            self._recent.append(item)
        self._evict()
        return learnt

    def _learn_negatives(self, event: Event, item: str, engaged: Collection[str]) -> int:
        """Learn up to ``negatives`` items of recent interactions as not engaged with."""
        wanted = self.config.negatives
        if wanted <= 0 or not self._recent:
            return 0
        draw = random.Random(_seed_of(event.event_id, event.user_id, item))
        chosen: list[str] = []
        for _ in range(4 * wanted):  # a few tries: the user's own items are skipped
            candidate = self._recent[draw.randrange(len(self._recent))]
            if candidate != item and candidate not in engaged and candidate not in chosen:
                chosen.append(candidate)
                if len(chosen) == wanted:
                    break
        learnt = 0
        for negative in chosen:
            if negative in self._items:  # an evicted item is not brought back as a negative
                self._learn_one(event.user_id, negative, 0.0)
                learnt += 1
        return learnt

    def _learn_one(self, user: str, item: str, y: float) -> None:
        model = self.model
        if user in self._users:
            self._users.move_to_end(user)
        else:
            self._users[user] = None
            model.u_latents[user] = self._initial(user, "u")
        if item not in self._items:
            model.i_latents[item] = self._initial(item, "i")
        model.learn_one(user, item, y)  # type: ignore[no-untyped-call]
        self._items.put(item, model.i_latents[item], model.i_biases[item])
        self.learnt += 1

    def _initial(self, key: str, kind: str) -> np.ndarray:
        rng = np.random.default_rng(_seed_of(str(self.config.seed), kind, key))
        return rng.normal(0.0, self.config.init_sigma, self.config.factors)

    def _remember_rating(self, user: str, item: str, high: bool) -> None:
        rated = [j for j in self._rated.get(user, ()) if j != item]
        if high:
            rated.insert(0, item)
        if rated:
            self._rated[user] = rated[:_RATED_KEPT]
        else:
            self._rated.pop(user, None)

    def _evict(self) -> None:
        while len(self._users) > max(self.config.max_users, 1):
            user, _ = self._users.popitem(last=False)
            self._drop_user(user)
            self.evicted_users += 1
        while len(self._items) > max(self.config.max_items, 1):
            self._drop_item(self._items.oldest())
            self.evicted_items += 1

    def _drop_user(self, user: str) -> None:
        self.model.u_latents.pop(user, None)
        self.model.u_biases.pop(user, None)
        self._rated.pop(user, None)

    def _drop_item(self, item: str) -> None:
        self.model.i_latents.pop(item, None)
        self.model.i_biases.pop(item, None)
        self._items.drop(item)

    def forget(self, user: str) -> None:
        """Erase everything the model holds of a user (``forget_user``)."""
        self._users.pop(user, None)
        self._drop_user(user)

    # -- scoring -----------------------------------------------------------
    def _user_vector(self, user: str) -> np.ndarray | None:
        if user not in self._users:
            return None
        vector: np.ndarray = self.model.u_latents[user]
        return vector

    def top(
        self,
        user: str,
        n: int,
        exclude: Collection[str] = (),
        allowed: Callable[[str], bool] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` kept items with the highest predicted target for the user, best first.

        The prediction is River's (global mean + biases + dot product), for
        every kept item at once; ties go by the item's row in the matrix. An
        unknown user gets []. Items in ``exclude``, or that ``allowed`` refuses,
        are passed over.
        """
        vector = self._user_vector(user)
        if vector is None:
            return []
        offset = self.model.global_mean.get() + self.model.u_biases.get(user, 0.0)
        return self._items.top(vector, offset, n, exclude, allowed)

    def closest(self, items: Sequence[str], seeds: Sequence[str]) -> list[str | None]:
        """For each item, the seed whose factors agree most with its own (dot product > 0).

        >>> mf = OnlineMF(MFConfig(factors=2))
        >>> mf.closest(["x"], ["a"])
        [None]
        """
        return self._items.closest(items, seeds)

    def predict(self, user: str, item: str) -> float | None:
        """River's prediction for a kept user and item (None for unknown ones: no growth)."""
        if user not in self._users or item not in self._items:
            return None
        return float(self.model.predict_one(user, item))  # type: ignore[no-untyped-call]

    # -- checkpoints -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything learnt, as JSON-safe data (lists, numbers, strings); see :meth:`restore`."""
        model = self.model
        return {
            "version": STATE_VERSION,
            "factors": self.config.factors,
            "learnt": self.learnt,
            "mean": [model.global_mean.n, model.global_mean.get()],
            "recent": list(self._recent),
            "users": [[user, float(model.u_biases.get(user, 0.0)),
                       [float(x) for x in model.u_latents[user]], self._rated.get(user, [])]
                      for user in self._users],
            "items": [[item, float(model.i_biases.get(item, 0.0)),
                       [float(x) for x in model.i_latents[item]], self._items.row_of(item)]
                      for item in self._items],
            "rows": self._items.layout(),
        }

    @classmethod
    def restore(cls, state: dict[str, Any], config: MFConfig | None = None) -> OnlineMF:
        """A model from :meth:`state`; raises ValueError for a state of another format or size.

        >>> mf = OnlineMF(MFConfig(factors=3))
        >>> _ = mf.learn_event(Event("e1", "u", "i", "rating", 1.0, 5.0))
        >>> again = OnlineMF.restore(mf.state(), MFConfig(factors=3))
        >>> again.predict("u", "i") == mf.predict("u", "i"), again.rated_highly("u")
        (True, ['i'])
        """
        mf = cls(config)
        factors = mf.config.factors
        if state.get("version") != STATE_VERSION or state.get("factors") != factors:
            raise ValueError(f"not an MF state of version {STATE_VERSION} "
                             f"with {factors} factors")
        model = mf.model
        count, mean = state["mean"]
        model.global_mean.n, model.global_mean._mean = float(count), float(mean)
        for user, bias, vector, rated in state["users"]:
            mf._users[str(user)] = None
            model.u_biases[str(user)] = float(bias)
            model.u_latents[str(user)] = _vector(vector, factors)
            if rated:
                mf._rated[str(user)] = [str(j) for j in rated][:_RATED_KEPT]
        items = state["items"]
        if all(len(entry) == 4 for entry in items):  # their rows, since rows were saved
            mf._items.take_layout(state.get("rows"), {str(e[0]): int(e[3]) for e in items})
        for item, bias, vector, *_row in items:
            model.i_biases[str(item)] = float(bias)
            model.i_latents[str(item)] = _vector(vector, factors)
            mf._items.put(str(item), model.i_latents[str(item)], float(bias))
        mf._recent.extend(str(item) for item in state.get("recent", ()))
        mf.learnt = int(state["learnt"])
        mf._evict()  # the bounds may be smaller now
        return mf

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`, in place (ValueError for another format or size)."""
        self.__dict__.update(OnlineMF.restore(state, self.config).__dict__)

    def summary(self) -> dict[str, Any]:
        """What ``/stats`` shows of the model."""
        return {"examples": self.learnt, "users": self.users, "items": self.items,
                "factors": self.config.factors, "evicted_users": self.evicted_users,
                "evicted_items": self.evicted_items}


def matrix_factorisation(
    profile: Profile | None, world: World, limit: int, mf: OnlineMF
) -> list[Candidate]:
    """The candidate source: the kept items the model predicts highest for the user.

    Each item is explained by the user's item whose factors agree most with
    its own: "because you rated X highly" when that is an item the user
    rated highly, else "liked by people who also liked X" (one of the user's
    recent items). Unavailable items are left out here already, so that
    ``limit`` counts recommendable ones; so are the items the blend never
    shows (bought, or the one the user is on). A user the model does not know gets
    nothing (cold start is trending's).

    >>> mf = OnlineMF(MFConfig(factors=4))
    >>> for n in range(40):  # u2 rated a and c highly, u1 rated a highly
    ...     _ = mf.learn_event(Event(f"a{n}", "u1", "a", "rating", float(n), 5.0))
    ...     _ = mf.learn_event(Event(f"b{n}", "u2", "a", "rating", float(n), 5.0))
    ...     _ = mf.learn_event(Event(f"c{n}", "u2", "c", "rating", float(n), 5.0))
    >>> p = Profile("u1", recent=[["a", 4.0, 0.0]])  # a is what u1 is on: not proposed
    >>> [(c.item_id, c.score, c.reason) for c in matrix_factorisation(p, World(), 5, mf)]
    [('c', 1.0, 'because you rated a highly')]
    """
    if profile is None or not mf.knows_user(profile.user_id):
        return []
    exclude = {*profile.purchased, *(entry[0] for entry in profile.recent[:1])}
    found = mf.top(profile.user_id, limit, exclude, world.is_recommendable)
    if not found or found[0][1] <= 0:
        return []
    rated = mf.rated_highly(profile.user_id)
    seeds = [*rated, *(entry[0] for entry in profile.recent[:_REASON_SEEDS])]
    found = [(item, score) for item, score in found if score > 0]
    best = found[0][1]
    candidates = []
    for (item, score), seed in zip(found, mf.closest([i for i, _ in found], seeds), strict=True):
        if seed is None:
            reason = "picked for your taste by matrix factorisation"
        elif seed in rated:
            reason = f"because you rated {seed} highly"
        else:
            reason = f"liked by people who also liked {seed}"
        candidates.append(Candidate(item, round(score / best, 6), SOURCE, reason))
    return candidates


def _vector(values: Sequence[Any], factors: int) -> np.ndarray:
    vector = np.asarray([float(x) for x in values], dtype=float)
    if vector.shape != (factors,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"expected {factors} finite factors")
    return vector
