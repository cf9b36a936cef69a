"""The worker's web views (see the contract). Any worker answers for any user:
requests for a user owned by another worker are routed to it.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from faust.exceptions import ConsumerNotStarted

from engine.pipeline import recommend
from engine.profiles import Profile, interest_shares
from engine.stream.app import EngineApp, Runtime

__all__ = ["install", "profile_view"]

Handler = Callable[..., Awaitable[Any]]
_MAX_N = 100
_SETTLE_WAIT = 5.0  # seconds a user view waits for a rebalance to finish before a 503
_FORWARD_WAIT = 10.0  # seconds a user view waits for the owning worker to answer before a 503


def profile_view(profile: Profile, user_id: str) -> dict[str, Any]:
    """The contract's profile answer for the user who asked by ``user_id``.

    The stored profile knows the user by their pseudonym when pseudonymisation
    is on (``stored_as``); the answer names the user as they were asked for.
    """
    return {
        "user_id": user_id,
        "stored_as": profile.user_id,
        "counts": dict(profile.counts),
        "interests": {
            "category": interest_shares(profile.category),
            "tag": interest_shares(profile.tag),
        },
        "recent_items": profile.recent_item_ids(),
        "purchased_items": list(profile.purchased),
        "disliked_items": list(profile.disliked),
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


def has_partitions(app: EngineApp) -> bool:
    """The worker's consumer holds partitions (False before its thread has started: the web
    server starts first, and ``/health`` must say 503 then, not fail)."""
    if app._consumer is None:
        return False
    try:
        return bool(app.consumer.assignment())
    except ConsumerNotStarted:
        return False


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

    def settled(handler: Handler) -> Handler:
        """Hold a user view while partitions move (rebalance and table recovery).

        During a rebalance the routing information and the table being
        recovered are not to be trusted: a request could reach the old owner
        or a half-recovered table and see stale state. The request waits
        until the group is settled, then is routed; 503 if that takes longer
        than ``_SETTLE_WAIT``.
        """

        async def wait(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _SETTLE_WAIT
            while app.rebalancing:
                if loop.time() >= deadline:
                    return _json(view, {"error": "partitions are moving between workers; "
                                                 "retry"}, 503)
                await asyncio.sleep(0.05)
            return await handler(view, request, *args, **kwargs)

        wait.__name__ = handler.__name__
        return wait

    def owner_answers(handler: Handler) -> Handler:
        """503 with a JSON reason when the worker that owns the user does not answer.

        Until the group notices that a worker is gone (``ENGINE_SESSION_TIMEOUT``)
        its users are still routed to it; the request would fail with aiohttp's
        bare 500, or hang for minutes on a host that does not answer at all.
        """

        async def call(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                async with asyncio.timeout(_FORWARD_WAIT):
                    return await handler(view, request, *args, **kwargs)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = str(exc) or f"no answer within {_FORWARD_WAIT:g} s"
                return _json(view, {"error": f"the worker that owns this user does not answer "
                                             f"({reason}); retry: its partitions move to the "
                                             "other workers once the group notices"}, 503)

        call.__name__ = handler.__name__
        return call

    @app.page("/recommendations/{user_id}")
    @guarded
    @settled
    @owner_answers
    @app.table_route(table=rt.profiles, match_info="user_id")
    async def recommendations(view: Any, request: Any, user_id: str) -> Any:
        n = _n(request, rt.settings.top_n)
        if n is None:
            return _json(view, {"error": f"n must be an integer from 1 to {_MAX_N}"}, 400)
        profile = rt.profiles.get(rt.pseudonym(user_id))
        listing = recommend(profile, user_id, rt.world, rt.config, n=n, now=time.time(),
                            trigger_event_id=profile.last_event_id if profile else None,
                            category=request.query.get("category") or None, ranker=rt.ranker,
                            mf=rt.mf)
        return _json(view, listing)

    @app.page("/users/{user_id}/profile")
    @guarded
    @settled
    @owner_answers
    @app.table_route(table=rt.profiles, match_info="user_id")
    async def user_profile(view: Any, request: Any, user_id: str) -> Any:
        profile = rt.profiles.get(rt.pseudonym(user_id))
        if profile is None:
            return _json(view, {"error": f"unknown user {user_id}"}, 404)
        return _json(view, profile_view(profile, user_id))

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
        return _json(view, {"item_id": item_id, "weight": rt.world.weights.get(item_id),
                            "items": similar})

    @app.page("/stats")
    @guarded
    async def stats(view: Any, request: Any) -> Any:
        return _json(view, {
            "worker": str(app.conf.canonical_url),
            **rt.stats.snapshot(),
            "catalog_items": rt.world.item_count(),
            "users_held": len(rt.users),
            "item_rows_held": len(rt.items),
            "clickstream_lag": {str(p): n for p, n in sorted(rt.clickstream_lag().items())},
            "items_with_neighbours": rt.world.known_item_count(),
            "models": {
                "blend": {"sources": dict(rt.config.weights)},
                **({"learned-ranker": rt.ranker.summary(rt.config.ranker.guard)}
                   if rt.ranker is not None else {}),
                **({"matrix_factorisation": rt.mf.summary()} if rt.mf is not None else {}),
            },
            "online": rt.stats.online(),
            "gc": rt.collector.snapshot() if rt.collector is not None else None,
        })

    @app.page("/metrics")
    @guarded
    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(rt.stats.exposition(), content_type="text/plain", status=200)

    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        tables: Any = app.tables
        recovered = tables.recovery.completed.is_set()
        consuming = has_partitions(app)
        models = rt.models_ready.is_set()  # continued from their checkpoints
        broker = rt.broker.reachable
        ready = rt.world_ready.is_set() and recovered and consuming and models and broker
        status = "ok" if ready else "starting" if broker else "broker unreachable"
        body = {"status": status, "world_ready": rt.world_ready.is_set(),
                "tables_recovered": recovered, "partitions": consuming, "models_ready": models,
                "broker": broker}
        return _json(view, body, 200 if ready else 503)
