"""The error hierarchy: one base, small concrete subclasses, retryable vs terminal.

Every message says what was wrong and what to do about it, so the CLI can print
``str(error)`` as one line and exit non-zero (2 for an :class:`InputError`, 1 otherwise).
An error may also name its ``field`` (the key or option that was wrong) and its ``fix``; the
CLI's ``--json`` error object carries both.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArchivedFilesError",
    "CatalogConflictError",
    "CommitConflictError",
    "ConfigError",
    "DatasetNotFoundError",
    "DevStackError",
    "ErasedVersionError",
    "ErasureConflictError",
    "ErasureRefusedError",
    "ExpiredVersionError",
    "InputError",
    "InvalidTagNameError",
    "InvalidTimestampError",
    "LakeError",
    "LoaderStateError",
    "MissingFilesError",
    "NoRollbackInProgressError",
    "PiiRefusedError",
    "QuarantineError",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
    "ReleasePreflightError",
    "RollbackInProgressError",
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

    def __init__(
        self, message: str = "", *, field: str | None = None, fix: str | None = None
    ) -> None:
        super().__init__(message)
        self._field = field
        self._fix = fix

    @property
    def field(self) -> str | None:
        """The input that was wrong (a project-file key such as ``datasets.rides.schema``, an
        option such as ``--rows``), when there is one."""
        field: str | None = getattr(self, "_field", None)
        return field

    @property
    def fix(self) -> str | None:
        """What to do about it: given by the raiser, else the message's ``fix: ...`` part, else
        its part after the first ``; `` (messages say what was wrong, then what to do)."""
        given: str | None = getattr(self, "_fix", None)
        if given is not None:
            return given
        text = str(self).split("\n", 1)[0]
        if "fix: " in text:
            return text.split("fix: ", 1)[1].strip()
        if "; " in text:
            return text.split("; ", 1)[1].strip()
        return None


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


class InvalidTagNameError(InputError):
    """A tag name reads as a version or a time (``7``, ``2026-11-01``), or holds ``@``."""


class StaleTagError(ThermoclineError):
    """A tag moved between reading it and moving it (compare-and-swap lost)."""

    retryable = True


class ReleaseNotFoundError(InputError):
    """No release has that name."""


class ReleaseExistsError(InputError):
    """Releases never change; a second release with the same name is refused."""


class ReleasePreflightError(ThermoclineError):
    """A release's versions cannot all be restored (a dataset deleted, files vacuumed, a log
    unreadable); the message names every dataset and what is wrong, and nothing changed.

    ``missing`` maps each dataset to the files of its version that are gone.
    """

    def __init__(self, message: str, missing: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or {}


class RollbackInProgressError(InputError):
    """A release rollback is unfinished: resume or abort it before starting another."""


class NoRollbackInProgressError(InputError):
    """``--resume`` or ``--abort`` was asked for a release with no unfinished rollback."""


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
        super().__init__(message, field=column)
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


class ExpiredVersionError(VersionNotFoundError):
    """A version older than the table's readable history was asked for: log retention removed
    the commits that described it, and no tag or release pinned it. The message names the
    retention and the oldest readable version."""


class ErasedVersionError(InputError):
    """A version an erasure (right to be forgotten) made unreadable was asked for: its files
    that held the subject were removed. The message names the erasure; read a newer version."""


class ArchivedFilesError(ThermoclineError):
    """A read, a rollback or a loader needs files that tiering archived (deep archive classes
    take hours to restore); nothing was read. The message names the files and the restore
    command (``thermocline tier restore DATASET@VERSION``)."""


class ErasureRefusedError(InputError):
    """An erasure would break versions that tags or releases point at; ``--force`` erases
    through them (the message names them)."""


class ErasureConflictError(ThermoclineError):
    """Concurrent writers kept committing while an erasure deleted rows, past its retries;
    nothing was lost, the erasure did not finish: run it again."""

    retryable = True
