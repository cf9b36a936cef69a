"""Content features of catalog items, weighted TF-IDF-style, for the content-based source.

An item's features are its category path (every level: ``c:shoes``,
``c:shoes/running``), its tags and its brand (``t:trail``). A feature's weight
is its inverse document frequency, ``log(1 + N / df)``, so rare, specific
features count most. A user's interests (feature -> share) score an item by
``Σ_f u_f · idf(f) / |item|``: items nobody has interacted with yet score as
well as popular ones — the cold start of new items.

>>> index = ContentIndex()
>>> for item in (CatalogItem("a", category="shoes/running", tags=("trail",)),
...              CatalogItem("b", category="shoes/hiking"), CatalogItem("c", category="books")):
...     index.add(item)
>>> [(item, feature) for item, _, feature in index.score({"c:shoes/running": 1.0}, 5)]
[('a', 'c:shoes/running')]
>>> [item for item, _, _ in index.score({"c:shoes": 1.0}, 5)]
['b', 'a']
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from engine.events import CatalogItem

__all__ = ["ContentIndex", "category_levels", "item_features"]


def category_levels(category: str | None) -> list[str]:
    """``"a/b/c"`` belongs to ``a``, ``a/b`` and ``a/b/c``."""
    if not category:
        return []
    parts = category.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def item_features(item: CatalogItem) -> tuple[str, ...]:
    features = [f"c:{level}" for level in category_levels(item.category)]
    features += [f"t:{tag}" for tag in item.tags]
    if item.brand:
        features.append(f"t:{item.brand}")
    return tuple(dict.fromkeys(features))


class ContentIndex:
    """Items by feature (newest last), and each item's features."""

    def __init__(self, per_feature: int = 25) -> None:
        self._per_feature = per_feature  # candidates looked at per interest feature
        self._features: dict[str, tuple[str, ...]] = {}
        self._members: dict[str, dict[str, None]] = {}  # an ordered set per feature
        # idf and item norms are cached and rebuilt once the catalog has grown or
        # shrunk by 10% (at least 50 items): bounded staleness, as log(1 + N/df)
        # changes slowly with N
        self._idf: dict[str, float] = {}
        self._norms: dict[str, float] = {}
        self._cached_at = -1

    def add(self, item: CatalogItem) -> None:
        self.remove(item.item_id)
        features = item_features(item)
        self._features[item.item_id] = features
        for feature in features:
            self._members.setdefault(feature, {})[item.item_id] = None

    def remove(self, item_id: str) -> None:
        self._norms.pop(item_id, None)
        for feature in self._features.pop(item_id, ()):
            members = self._members.get(feature)
            if members is not None:
                members.pop(item_id, None)
                if not members:
                    del self._members[feature]

    def idf(self, feature: str) -> float:
        value = self._idf.get(feature)
        if value is None:
            df = len(self._members.get(feature, ()))
            value = self._idf[feature] = math.log(1 + len(self._features) / df) if df else 0.0
        return value

    def _norm(self, item_id: str) -> float:
        norm = self._norms.get(item_id)
        if norm is None:
            squares = sum(self.idf(f) ** 2 for f in self._features[item_id])
            norm = self._norms[item_id] = math.sqrt(squares) or 1.0
        return norm

    def _refresh(self) -> None:
        size = len(self._features)
        if abs(size - self._cached_at) > max(50, self._cached_at // 10):
            self._idf.clear()
            self._norms.clear()
            self._cached_at = size

    def score(
        self, interests: Mapping[str, float], limit: int
    ) -> list[tuple[str, float, str]]:
        """The best ``limit`` items for these interests: (item, score, best feature)."""
        self._refresh()
        candidates: dict[str, None] = {}
        for feature in interests:
            members = self._members.get(feature, {})
            candidates.update(dict.fromkeys(itertools.islice(reversed(members),
                                                             self._per_feature)))
        idf = {feature: self.idf(feature) for feature in interests}
        scored = []
        for item_id in candidates:
            norm = self._norm(item_id)
            parts = [(interests[f] * idf[f], f) for f in self._features[item_id] if f in interests]
            best = max(parts)
            scored.append((sum(p for p, _ in parts) / norm, item_id, best[1]))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [(item_id, score, feature) for score, item_id, feature in scored[:limit]]
