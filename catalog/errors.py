"""The error hierarchy: one base, small concrete subclasses, retryable vs terminal.

Every message says what was wrong and what to do about it, so the CLI can print
``str(error)`` as one line and exit non-zero (2 for an :class:`InputError`, 1 otherwise).
"""

from __future__ import annotations

__all__ = [
    "CatalogConflictError",
    "ConfigError",
    "DatasetNotFoundError",
    "DevStackError",
    "InputError",
    "InvalidTimestampError",
    "LakeError",
    "MissingFilesError",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
    "StaleTagError",
    "TagNotFoundError",
    "ThermoclineError",
    "VersionNotFoundError",
]


class ThermoclineError(Exception):
    """Base of every error Thermocline raises on purpose.

    ``retryable`` tells callers whether the same call may succeed later
    (a commit conflict, a busy server) or will fail the same way (bad input).
    """

    retryable: bool = False


class InputError(ThermoclineError):
    """The request itself is wrong: an unknown name, a value out of range, a malformed value."""


class ConfigError(InputError):
    """The project file or a setting is invalid; the message names the field and the fix."""


class LakeError(ThermoclineError):
    """The lake URI or its storage cannot be used as given."""


class DevStackError(ThermoclineError):
    """A local development service (S3 server, Kafka broker) could not be started or reached."""


class DatasetNotFoundError(InputError):
    """A dataset has no table in the lake (never written, or a wrong name)."""


class VersionNotFoundError(InputError):
    """A table version, or a time before the table existed, was asked for."""


class InvalidTimestampError(InputError):
    """A timestamp could not be parsed."""


class TagNotFoundError(InputError):
    """No tag has that name."""


class StaleTagError(ThermoclineError):
    """A tag moved between reading it and moving it (compare-and-swap lost)."""

    retryable = True


class ReleaseNotFoundError(InputError):
    """No release has that name."""


class ReleaseExistsError(InputError):
    """Releases never change; a second release with the same name is refused."""


class CatalogConflictError(ThermoclineError):
    """A catalog entry kept changing under us past the retry budget."""

    retryable = True


class MissingFilesError(ThermoclineError):
    """Files that a version needs are gone (vacuumed or deleted); the message lists them."""
