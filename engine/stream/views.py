"""The worker's web views (see the contract). Any worker answers for any user:
requests for a user owned by another worker are routed to it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from engine.pipeline import recommend
from engine.profiles import Profile, interest_shares
from engine.stream.app import EngineApp, Runtime

__all__ = ["install", "profile_view"]

Handler = Callable[..., Awaitable[Any]]
_MAX_N = 100


def profile_view(profile: Profile) -> dict[str, Any]:
    """The contract's profile answer."""
    return {
        "user_id": profile.user_id,
        "counts": dict(profile.counts),
        "interests": {
            "category": interest_shares(profile.category),
            "tag": interest_shares(profile.tag),
        },
        "recent_items": profile.recent_item_ids(),
        "purchased_items": list(profile.purchased),
        "last_ts": profile.last_ts,
        "last_event_id": profile.last_event_id,
    }


def _json(view: Any, body: Any, status: int = 200) -> Any:
    return view.bytes(orjson.dumps(body), content_type="application/json", status=status)


def _n(request: Any, default: int) -> int | None:
    raw = request.query.get("n")
    if raw is None:
        return default
    return int(raw) if raw.isdigit() and 0 < int(raw) <= _MAX_N else None


def install(app: EngineApp, rt: Runtime) -> None:
    """Register the views on ``app``."""
    token = rt.settings.api_token

    def guarded(handler: Handler) -> Handler:
        """401 unless the request carries the configured bearer token (constant-time check)."""

        async def check(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if token is not None:
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    return _json(view, {"error": "unauthorized"}, 401)
            return await handler(view, request, *args, **kwargs)

        check.__name__ = handler.__name__
        return check

    @app.page("/recommendations/{user_id}")
    @guarded
    @app.table_route(table=rt.profiles, match_info="user_id")
    async def recommendations(view: Any, request: Any, user_id: str) -> Any:
        n = _n(request, rt.settings.top_n)
        if n is None:
            return _json(view, {"error": f"n must be an integer from 1 to {_MAX_N}"}, 400)
        profile = rt.profiles.get(user_id)
        listing = recommend(profile, user_id, rt.world, rt.config, n=n, now=time.time(),
                            trigger_event_id=profile.last_event_id if profile else None,
                            category=request.query.get("category") or None, ranker=rt.ranker)
        return _json(view, listing)

    @app.page("/users/{user_id}/profile")
    @guarded
    @app.table_route(table=rt.profiles, match_info="user_id")
    async def user_profile(view: Any, request: Any, user_id: str) -> Any:
        profile = rt.profiles.get(user_id)
        if profile is None:
            return _json(view, {"error": f"unknown user {user_id}"}, 404)
        return _json(view, profile_view(profile))

    @app.page("/items/{item_id}/similar")
    @guarded
    async def similar_items(view: Any, request: Any, item_id: str) -> Any:
        n = _n(request, rt.settings.top_n)
        if n is None:
            return _json(view, {"error": f"n must be an integer from 1 to {_MAX_N}"}, 400)
        similar = [
            {"item_id": other, "score": score, "reason": f"often engaged with along with {item_id}"}
            for other, score in rt.world.neighbours(item_id)
            if rt.world.is_recommendable(other)
        ][:n]
        return _json(view, {"item_id": item_id, "items": similar})

    @app.page("/stats")
    @guarded
    async def stats(view: Any, request: Any) -> Any:
        return _json(view, {
            "worker": str(app.conf.canonical_url),
            **rt.stats.snapshot(),
            "catalog_items": rt.world.item_count(),
            "items_with_neighbours": rt.world.known_item_count(),
            "models": {
                "blend": {"sources": dict(rt.config.weights)},
                **({"learned-ranker": rt.ranker.summary(rt.config.ranker.guard)}
                   if rt.ranker is not None else {}),
            },
            "online": rt.stats.online(),
        })

    @app.page("/metrics")
    @guarded
    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(rt.stats.exposition(), content_type="text/plain", status=200)

    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        tables: Any = app.tables
        recovered = tables.recovery.completed.is_set()
        consuming = bool(app.consumer.assignment()) if app._consumer is not None else False
        ready = rt.world_ready.is_set() and recovered and consuming
        body = {"status": "ok" if ready else "starting", "world_ready": rt.world_ready.is_set(),
                "tables_recovered": recovered, "partitions": consuming}
        return _json(view, body, 200 if ready else 503)
