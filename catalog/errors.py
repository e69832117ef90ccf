"""The error hierarchy: one base, small concrete subclasses, retryable vs terminal.

Every message says what was wrong and what to do about it, so the CLI can print
``str(error)`` as one line and exit non-zero (2 for an :class:`InputError`, 1 otherwise).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CatalogConflictError",
    "CommitConflictError",
    "ConfigError",
    "DatasetNotFoundError",
    "DevStackError",
    "InputError",
    "InvalidTimestampError",
    "LakeError",
    "LoaderStateError",
    "MissingFilesError",
    "PiiRefusedError",
    "QuarantineError",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
    "SchemaEvolutionError",
    "SourceHistoryError",
    "SourceReadError",
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


class CommitConflictError(ThermoclineError):
    """Another writer published the same source positions first; re-read and try again."""

    retryable = True


class QuarantineError(ThermoclineError):
    """A quarantined batch cannot be replayed as it is: its checks still fail, or its source
    positions were never published (replaying it would load its input twice)."""


class SchemaEvolutionError(ThermoclineError):
    """A batch column cannot become the table's type without losing or inventing data.

    Terminal: the same batch fails the same way. The caller quarantines the batch with
    ``str(error)`` as the reason; the source puts the unconformed batch in ``batch``.
    """

    def __init__(
        self, message: str, *, column: str, table_type: Any = None, batch_type: Any = None
    ) -> None:
        super().__init__(message)
        self.column = column
        self.table_type = table_type
        self.batch_type = batch_type
        self.batch: Any = None


class SourceHistoryError(ThermoclineError):
    """The table's history no longer lists everything its source counter says was consumed.

    Old commit files were removed (log retention), so the consumed set is unknown; reading on
    would load files twice.
    """


class SourceReadError(ThermoclineError):
    """A source file or query could not be read or parsed; nothing was consumed."""


class PiiRefusedError(InputError):
    """A read asked for columns the catalog classifies as personal data without allowing them."""


class LoaderStateError(InputError):
    """A training loader state does not fit this loader (another plan, seed or format)."""
