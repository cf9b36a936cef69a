"""Pseudonymous user ids: a keyed hash replaces the raw id before anything is stored.

With ``ENGINE_PSEUDONYM_KEY`` set, profiles, their changelog, the dedup
records in them and everything derived from them know a user only by
``HMAC-SHA256(key, user id)``. Without the key the pseudonym cannot be
computed, so neither the state nor its changelog can be joined back to raw
ids by whoever reads them; with the key the engine can still find a user's
state from the raw id a request or an event carries. Only the user's own
list on ``recommendations`` (keyed by the raw id, so that consumers can read
it) names the user.

>>> keyed = Pseudonymiser("secret")
>>> keyed("u42") == keyed("u42"), keyed("u42") == keyed("u43"), keyed("u42").startswith("p-")
(True, False, True)
>>> len(keyed("u42"))
34
>>> Pseudonymiser(None)("u42")
'u42'

The item side knows a user only by :func:`engager_key`, a short one-way hash
of the stored id (the pseudonym when the key is set): the engagers an item
row keeps for user-based collaborative filtering, published to every worker,
never hold a user id.

>>> engager_key("u42"), engager_key("u42") == engager_key("u43")
('d0330baa8620', False)
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["Pseudonymiser", "engager_key"]

_DIGEST_HEX = 32  # 128 bits: collisions are out of reach for any user population
_ENGAGER_BYTES = 6  # 48 bits: a user shares theirs with one of 10**6 others: odds 1 in 3e8


def engager_key(stored_id: str) -> str:
    """The key under which item rows remember a user who engaged with them (one-way, short)."""
    return hashlib.blake2b(stored_id.encode(), digest_size=_ENGAGER_BYTES,
                           person=b"engine-engager").hexdigest()


class Pseudonymiser:
    """Maps a raw user id to the id under which the engine stores the user.

    ``key`` None: the identity (pseudonymisation off).
    """

    __slots__ = ("_key",)

    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key is not None else None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, user_id: str) -> str:
        if self._key is None:
            return user_id
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return "p-" + digest[:_DIGEST_HEX]
