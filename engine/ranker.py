"""The online learned ranker: River's logistic regression over candidate features.

It learns one example at a time -- a candidate row (see
:mod:`engine.features`) and whether the user went for that item -- and ranks
a pool of candidates by the probability it gives each. It is one object per
worker process: it learns from the reactions of the users that worker owns.

Until it has learnt ``min_examples`` examples it is *cold* and the engine
serves the blend's order. It also keeps an online, paired comparison with the
blend (:meth:`OnlineRanker.compare`): for every list whose pool held the item
the user went for next, was that item in the blend's top n, in the ranker's
top n, or both? With the guard on (the default), the learned variant serves
the ranker's order only while its wins over the blend exceed its losses by
``confidence`` standard deviations of a sign test; otherwise it serves the
blend, so the learned variant is never knowingly worse than the blend.

>>> ranker = OnlineRanker(RankerConfig(min_examples=40))
>>> for n in range(40):  # the first column decides
...     ranker.learn_one([1.0, n % 3], True)
...     ranker.learn_one([0.0, n % 3], False)
>>> ranker.warm, ranker.rank([[0.0, 1.0], [1.0, 1.0]])
(True, [1, 0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from river import compose, linear_model, optim, preprocessing

__all__ = ["RANKER_STATE_VERSION", "OnlineRanker", "RankerConfig", "probability"]

#: What scoring needs of the model: means, spreads, varying columns, weights, intercept.
_Parameters = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]

#: Format of :meth:`OnlineRanker.state`; a checkpoint of another version is not loaded.
RANKER_STATE_VERSION = 1


@dataclass(frozen=True)
class RankerConfig:
    """How the learned ranker is fed and when it is trusted (from the settings)."""

    pool: int = 20  # blend candidates the ranker re-orders (at least the list's length)
    lists: int = 2  # served lists each profile remembers, to learn from reactions to them
    negatives: int = 4  # candidates sampled as negatives for each implicit positive
    min_examples: int = 1000  # examples learnt before the ranker may serve
    guard: bool = True  # serve the ranker only while it beats the blend online
    confidence: float = 2.0  # z of the sign test the guard applies
    min_discordant: float = 30.0  # comparisons where exactly one of the two hit, at least
    memory: float = 0.9999  # weight of the past comparisons kept at each new one (~10,000)
    learning_rate: float = 0.01
    objective: str = "pairwise"  # or "pointwise"; pairwise: a positive row minus a negative one


class OnlineRanker:
    """Pointwise logistic regression on standardised features, learnt online with River."""

    def __init__(
        self, config: RankerConfig | None = None, features: Sequence[str] | None = None
    ) -> None:
        self.config = config or RankerConfig()
        self.model = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(self.config.learning_rate)),
        )
        #: names of the row's columns (``x0``, ``x1``, ... unless given)
        self.columns: tuple[str, ...] | None = tuple(features) if features else None
        self.examples = 0
        self.positives = 0
        self.comparisons = 0
        self.wins = 0.0  # decayed: the ranker's top n held the item, the blend's did not
        self.losses = 0.0  # decayed: the other way round
        self._scoring: tuple[int, Any] | None = None  # see _parameters()

    # -- learning ----------------------------------------------------------
    def learn_one(self, row: Sequence[float], clicked: bool) -> None:
        """Learn that the user did (or did not) go for the item this row describes."""
        if self.columns is None:
            self.columns = tuple(f"x{i}" for i in range(len(row)))
        self.model.learn_one(dict(zip(self.columns, row, strict=True)), clicked)
        self.examples += 1
        self.positives += clicked

    def learn(self, group: Sequence[tuple[Sequence[float], bool]]) -> int:
        """Learn the examples one reaction gave; returns how many were learnt.

        Pointwise: each row on its own. Pairwise: each (positive, negative)
        pair, as the difference of their rows; every other pair the other way
        round (negative minus positive, not clicked), so that both classes
        are seen equally and the differences stay centred.
        """
        if self.config.objective == "pointwise":
            for row, clicked in group:
                self.learn_one(row, clicked)
            return len(group)
        positives = [row for row, clicked in group if clicked]
        negatives = [row for row, clicked in group if not clicked]
        pairs = [(good, bad) for good in positives for bad in negatives]
        for turn, (good, bad) in enumerate(pairs):
            forward = turn % 2 == 0
            first, second = (good, bad) if forward else (bad, good)
            self.learn_one([a - b for a, b in zip(first, second, strict=True)], forward)
        return len(pairs)

    def compare(self, blend_hit: bool, ranker_hit: bool) -> None:
        """One paired comparison: was the user's next item in each one's top n?"""
        keep = self.config.memory
        self.comparisons += 1
        self.wins = self.wins * keep + (ranker_hit and not blend_hit)
        self.losses = self.losses * keep + (blend_hit and not ranker_hit)

    # -- state -------------------------------------------------------------
    @property
    def warm(self) -> bool:
        """Enough examples, of both kinds, to rank with."""
        return self.examples >= self.config.min_examples and 0 < self.positives < self.examples

    @property
    def better(self) -> bool:
        """Measurably better than the blend online (sign test on the discordant comparisons)."""
        discordant = self.wins + self.losses
        if discordant < self.config.min_discordant:
            return False
        return self.wins - self.losses > self.config.confidence * math.sqrt(discordant)

    def serving(self, guard: bool) -> bool:
        """Whether the learned variant serves the ranker's order now."""
        return self.warm and (self.better or not guard)

    # -- ranking -----------------------------------------------------------
    def scores(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
        """The model's logit for each row: River's ``predict_proba_one``, for a whole pool at once.

        ``rows`` may be an array already (:func:`engine.features.feature_table`).

        The same standardisation (running mean and variance; 0 where the
        variance is 0) and the same dot product as River's, vectorised.
        """
        if len(rows) == 0:
            return []
        if self.columns is None:
            return [0.0] * len(rows)
        means, spread, varies, coefficients, intercept = self._parameters()
        scaled = np.where(varies, (np.asarray(rows, dtype=float) - means) / spread, 0.0)
        logits: list[float] = (scaled @ coefficients + intercept).tolist()
        return logits

    def _parameters(self) -> _Parameters:
        """The scaler's means, standard deviations (1 where 0), which columns vary, the
        weights and the intercept, as arrays; made again only after the model learnt."""
        if self._scoring is not None and self._scoring[0] == self.examples:
            return cast(_Parameters, self._scoring[1])
        assert self.columns is not None
        scaler = self.model["StandardScaler"]
        regression = self.model["LogisticRegression"]
        weights = regression.weights
        means = np.array([scaler.means.get(c, 0.0) for c in self.columns])
        stds = np.sqrt(np.array([scaler.vars.get(c, 0.0) for c in self.columns]))
        coefficients = np.array([weights.get(c, 0.0) for c in self.columns])
        varies = stds > 0
        parameters = (means, np.where(varies, stds, 1.0), varies, coefficients,
                      regression.intercept)
        self._scoring = (self.examples, parameters)
        return parameters

    def rank(self, rows: Sequence[Sequence[float]]) -> list[int]:
        """Indices of ``rows``, most likely first (ties keep the given order)."""
        scores = self.scores(rows)
        return sorted(range(len(rows)), key=lambda i: (-scores[i], i))

    def summary(self, guard: bool) -> dict[str, Any]:
        """What ``/stats`` shows of the ranker."""
        return {
            "examples": self.examples,
            "positives": self.positives,
            "warm": self.warm,
            "serving": self.serving(guard),
            "guard": guard,
            "comparisons": self.comparisons,
            "wins": round(self.wins, 3),
            "losses": round(self.losses, 3),
            "weights": self.weights(),
        }

    # -- checkpoints -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything learnt, as JSON-safe data: the scaler's running statistics, the
        regression's weights, and the counters; see :meth:`load_state`."""
        scaler = self.model["StandardScaler"]
        regression = self.model["LogisticRegression"]
        return {
            "version": RANKER_STATE_VERSION,
            "columns": list(self.columns or ()),
            "counts": {k: int(v) for k, v in scaler.counts.items()},
            "means": {k: float(v) for k, v in scaler.means.items()},
            "vars": {k: float(v) for k, v in scaler.vars.items()},
            "weights": {k: float(v) for k, v in regression.weights.items()},
            "intercept": float(regression.intercept),
            "iterations": int(regression.optimizer.n_iterations),
            "examples": self.examples,
            "positives": self.positives,
            "comparisons": self.comparisons,
            "wins": self.wins,
            "losses": self.losses,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (learnt with the same columns); else ValueError.

        >>> a = OnlineRanker(RankerConfig(min_examples=2), ["x", "y"])
        >>> a.learn_one([1.0, 0.0], True); a.learn_one([0.0, 1.0], False)
        >>> b = OnlineRanker(RankerConfig(min_examples=2), ["x", "y"])
        >>> b.load_state(a.state())
        >>> b.examples, b.scores([[1.0, 0.5]]) == a.scores([[1.0, 0.5]])
        (2, True)
        """
        columns = tuple(str(c) for c in state.get("columns", ()))
        if state.get("version") != RANKER_STATE_VERSION or (
            self.columns is not None and columns != self.columns
        ):
            raise ValueError(f"not a ranker state of version {RANKER_STATE_VERSION} "
                             "with these features")
        fresh = OnlineRanker(self.config, columns or None)
        scaler = fresh.model["StandardScaler"]
        regression = fresh.model["LogisticRegression"]
        for name, count in state["counts"].items():
            scaler.counts[str(name)] = int(count)
        for name, mean in state["means"].items():
            scaler.means[str(name)] = float(mean)
        for name, var in state["vars"].items():
            scaler.vars[str(name)] = float(var)
        for name, weight in state["weights"].items():
            regression._weights[str(name)] = float(weight)
        regression.intercept = float(state["intercept"])
        regression.optimizer.n_iterations = int(state["iterations"])
        fresh.examples, fresh.positives = int(state["examples"]), int(state["positives"])
        fresh.comparisons = int(state["comparisons"])
        fresh.wins, fresh.losses = float(state["wins"]), float(state["losses"])
        self.model, self.columns = fresh.model, fresh.columns
        self._scoring = None
        self.examples, self.positives = fresh.examples, fresh.positives
        self.comparisons, self.wins, self.losses = fresh.comparisons, fresh.wins, fresh.losses

    def weights(self) -> dict[str, float]:
        """The model's weight of each (standardised) column, and its intercept."""
        regression = self.model["LogisticRegression"]
        weights = regression.weights
        found = {c: round(weights.get(c, 0.0), 4) for c in self.columns or ()}
        return {**found, "intercept": round(regression.intercept, 4)}


def probability(logit: float) -> float:
    """The logistic function, safe for large logits.

    >>> probability(0.0), probability(-1000.0)
    (0.5, 0.0)
    """
    if logit < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-logit))
