"""The error hierarchy: one base, small concrete subclasses, retryable vs terminal.

Every message says what was wrong and what to do about it, so the CLI can print
``str(error)`` as one line and exit non-zero.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatasetNotFoundError",
    "DevStackError",
    "LakeError",
    "ThermoclineError",
]


class ThermoclineError(Exception):
    """Base of every error Thermocline raises on purpose.

    ``retryable`` tells callers whether the same call may succeed later
    (a commit conflict, a busy server) or will fail the same way (bad input).
    """

    retryable: bool = False


class ConfigError(ThermoclineError):
    """The project file or a setting is invalid; the message names the field and the fix."""


class LakeError(ThermoclineError):
    """The lake URI or its storage cannot be used as given."""


class DevStackError(ThermoclineError):
    """A local development service (S3 server, Kafka broker) could not be started or reached."""


class DatasetNotFoundError(ThermoclineError):
    """A dataset has no table in the lake (never written, or a wrong name)."""
