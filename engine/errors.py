"""The engine's errors: one base, a few kinds. Bad input is a value, never a crash."""

from __future__ import annotations

__all__ = ["BrokerUnreachable", "EngineError", "InvalidRecord", "SettingsError", "TopicError"]


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class SettingsError(EngineError):
    """A missing or malformed ``ENGINE_*`` setting; the message names the variable."""


class BrokerUnreachable(EngineError):
    """No broker answers at ``ENGINE_BROKER``; the message names the variable and the URL."""


class TopicError(EngineError):
    """A topic definition is wrong, or a topic on the broker does not match it."""


class InvalidRecord(EngineError):
    """An input record the engine cannot use; ``str(exc)`` is the dead-letter reason."""
