"""orjson codecs for table values (never pickle): profiles and item rows."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

from engine.profiles import Profile
from engine.similarity import ItemRow

__all__ = ["ITEM_ROW_CODEC", "PROFILE_CODEC", "register_codecs"]

PROFILE_CODEC = "engine-profile"
ITEM_ROW_CODEC = "engine-item-row"


class _ProfileCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj.to_dict())

    def _loads(self, s: bytes) -> Any:
        return Profile.from_dict(orjson.loads(s))


class _ItemRowCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj.to_dict())

    def _loads(self, s: bytes) -> Any:
        return ItemRow.from_dict(orjson.loads(s))


def register_codecs() -> None:
    """Make the codecs known to Faust by name (idempotent)."""
    codecs.register(PROFILE_CODEC, _ProfileCodec())
    codecs.register(ITEM_ROW_CODEC, _ItemRowCodec())
