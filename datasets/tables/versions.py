"""Delta table access on a lake: create, open, resolve a version, read, history.

Storage-only calls (:func:`open_table`, :func:`create`, :func:`history`) take the
:class:`~thermocline.catalog.lake.Lake`; those that may resolve a tag (:func:`resolve_version`,
:func:`read_dataset`) take the :class:`~thermocline.catalog.catalog.Catalog`, which carries its
lake. The same code runs on a local folder and on S3. Writes go through
:mod:`thermocline.datasets.tables.staging` and :mod:`thermocline.datasets.tables.writes`.

>>> read_dataset(catalog, "rides", at="golden").to_table(columns=["ride_id"])   # doctest: +SKIP
>>> read_dataset(catalog, "rides", at="2026-11-21T10:00:00Z")                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import TableNotFoundError

from thermocline.catalog.catalog import ERASURE, Catalog, current_user, lake_of, looks_like_time
from thermocline.catalog.commits import (
    FILE_COUNT_KEY,
    REASON_KEY,
    ROWS_KEY,
    ROWS_REMOVED_KEY,
    USER_KEY,
    operation_of,
)
from thermocline.catalog.errors import (
    ArchivedFilesError,
    DatasetNotFoundError,
    ErasedVersionError,
    InputError,
    InvalidTimestampError,
    MissingFilesError,
    VersionNotFoundError,
)
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.log_reach import (
    pinned_dataset,
    pinned_past_retention,
    readable_from,
)
from thermocline.datasets.tables.log_replay import version_files
from thermocline.datasets.tables.version_index import (
    latest_commit,
    version_at_time,
)

__all__ = [
    "Commit",
    "Erasure",
    "archived_of",
    "commit_of",
    "create",
    "erased_by",
    "erasures",
    "history",
    "latest_version",
    "list_missing",
    "live_files",
    "missing_files",
    "open_table",
    "ranges_text",
    "read_dataset",
    "require_files",
    "require_not_archived",
    "require_not_erased",
    "resolve_pinned",
    "resolve_version",
    "restore_command",
    "storage_path",
    "stored_files",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Commit:
    """One version of a table, as ``thermocline history`` shows it."""

    version: int
    timestamp: datetime
    operation: str
    rows_added: int | None
    rows_removed: int | None
    files_added: int | None
    files_removed: int | None
    user: str | None
    reason: str | None


def open_table(lake: Lake, name: str, version: int | None = None) -> DeltaTable:
    """The Delta table of dataset ``name``, at ``version`` or the latest."""
    try:
        return DeltaTable(
            lake.table_uri(name), version=version, storage_options=lake.delta_storage_options()
        )
    except TableNotFoundError:
        raise DatasetNotFoundError(
            f"dataset {name!r} has no table at {lake.table_uri(name)}; "
            "ingest it first or check the name with `thermocline datasets list`"
        ) from None


def latest_version(lake: Lake, name: str) -> int:
    """The latest version of dataset ``name``: probed from its last checkpoint
    (:func:`~.version_index.latest_commit`, a few small reads) where it has one, else by
    opening the table (which lists the whole log on a local lake)."""
    found = latest_commit(lake, name)
    return found if found is not None else open_table(lake, name).version()


def create(
    lake: Lake,
    name: str,
    schema: pa.Schema,
    *,
    partition_by: list[str] | None = None,
    properties: Mapping[str, str] | None = None,
    description: str | None = None,
) -> DeltaTable:
    """Create an empty table (version 0) with a schema, partitioning and table properties."""
    return DeltaTable.create(
        lake.table_uri(name),
        schema,
        partition_by=partition_by or None,
        description=description,
        configuration=dict(properties or {}),
        storage_options=lake.delta_storage_options(),
        commit_properties=CommitProperties(custom_metadata={USER_KEY: current_user()}),
    )


def resolve_version(
    catalog: Catalog,
    name: str,
    at: int | str | datetime | None,
    table: DeltaTable | None = None,
    *,
    readable: bool = True,
    tiers: bool = False,
) -> int:
    """The version ``at`` names: a version number, a tag, or a time (ISO 8601, UTC if naive).

    A time gives the newest version committed at or before it. Errors say what exists.
    ``table`` is the dataset's table when the caller has it open already. A version that an
    erasure made unreadable raises :class:`ErasedVersionError` naming the erasure, unless
    ``readable=False`` (callers that read only the log, such as ``diff`` without rows).
    ``tiers=True`` (callers about to read the version's rows or restore it: time travel,
    rollback, the loader) also raises :class:`ArchivedFilesError` when the version needs a file
    that tiering archived (:func:`require_not_archived`); tagging a version or restoring its
    archived files reads none of them, so it is off by default.

    No table is opened unless needed (opening lists the whole log on a local lake): a tag
    resolves from the catalog, a number or a time against :func:`latest_commit`.
    """
    return _checked(catalog, name, at, table, readable=readable, tiers=tiers, find=False)[0]


def resolve_pinned(
    catalog: Catalog,
    name: str,
    at: int | str | datetime,
    table: DeltaTable | None = None,
    *,
    tiers: bool = False,
) -> tuple[int, PinnedVersion | None]:
    """:func:`resolve_version` (readable), with the version's recorded file list when a tag,
    release or restore point kept one (None otherwise): the list is looked up once, where
    resolving and then looking it up took two catalog reads for a version past the log."""
    return _checked(catalog, name, at, table, readable=True, tiers=tiers, find=True)


def _checked(
    catalog: Catalog,
    name: str,
    at: int | str | datetime | None,
    table: DeltaTable | None,
    *,
    readable: bool,
    tiers: bool,
    find: bool,
) -> tuple[int, PinnedVersion | None]:
    version = _resolve(catalog, name, at, table)
    pinned = catalog.pinned_files.find(name, version) if find and at is not None else None
    if at is not None and (readable or tiers):
        via = None
        if not _is_number(at):
            tag = isinstance(at, str) and not looks_like_time(at)
            via = f"{'tag' if tag else 'time'} {at}"
        if readable:
            if pinned is None:  # a recorded list keeps it readable past retention
                pinned_past_retention(catalog, name, version, table, via=via)  # raises if expired
            require_not_erased(catalog, name, version, via=via)
        if tiers:
            require_not_archived(catalog, name, version, via=via, table=table)
    return version, pinned


def _is_number(at: int | str | datetime) -> bool:
    return isinstance(at, int) or (isinstance(at, str) and at.isdigit())


def _resolve(
    catalog: Catalog, name: str, at: int | str | datetime | None, table: DeltaTable | None
) -> int:
    lake = lake_of(catalog)
    if isinstance(at, str) and not at.isdigit() and not looks_like_time(at):
        return catalog.tag(name, at).version
    latest = table.version() if table is not None else latest_version(lake, name)
    if at is None:
        return latest
    if isinstance(at, int) or (isinstance(at, str) and at.isdigit()):
        version = int(at)
        if not 0 <= version <= latest:
            raise VersionNotFoundError(
                f"{name} has no version {version}; its versions are 0..{latest} "
                f"(see `thermocline history {name}`)"
            )
        return version
    moment = parse_timestamp(at) if isinstance(at, str) else at
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > datetime.now(tz=UTC):
        raise VersionNotFoundError(
            f"{moment.isoformat()} is in the future, so it names no version of {name} yet; name "
            f"a past time, a version number or a tag (the latest is version {latest})"
        )
    # A bisection over commit timestamps: O(log n) small reads, not a scan of every commit.
    first = readable_from(lake, name)  # the one answer to where readable history starts
    found = version_at_time(lake, name, moment, latest=latest, first=first)
    if found is not None:
        return found
    if first > 0:
        # Past the log: the newest restore point at or before it. One the log still reaches
        # was committed after the log's first commit, so after the time; such a point is left
        # from a table deleted and made again under the same name.
        point = catalog.pinned_files.restore_point_at(name, moment, below=first)
        if point is not None:
            _log.warning(
                "%s at %s: every version is kept only as far back as version %d (log "
                "retention); reading restore point version %d, committed %s, the newest at "
                "or before that time",
                name,
                moment.isoformat(),
                first,
                point[0],
                point[1].isoformat(),
            )
            return point[0]
        raise VersionNotFoundError(
            f"{name}'s readable history starts at version {first}, after {moment.isoformat()}: "
            f"log retention removed the commits before it and no restore point is that old; "
            f"name a later time, a version from {first} on, or a tag (see `thermocline "
            f"history {name}`)"
        )
    raise VersionNotFoundError(
        f"{name} did not exist yet at {moment.isoformat()}; "
        f"see `thermocline history {name}` for its first version"
    )


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 time such as ``2026-11-21``, ``2026-11-21T10:00:00Z`` (naive means UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTimestampError(
            f"malformed timestamp {text!r}; write ISO 8601 such as 2026-11-21T10:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_dataset(
    catalog: Catalog, name: str, at: int | str | datetime | None = None
) -> pads.Dataset:
    """A pyarrow dataset of ``name`` at ``at`` (version, tag or time; default latest) over the
    lake's native filesystem: project and filter with ``to_table(columns=..., filter=...)``
    and only those bytes are read.

    A tagged or released version reads from its file list in the catalog (recorded when it was
    pinned, or by log retention), with no log opened; a version older than log retention and
    not pinned raises :class:`ExpiredVersionError` naming the retention. An older version
    whose files vacuum removed raises :class:`MissingFilesError` naming them
    (one listing of the table root), rather than failing later inside the read; one that needs
    a file tiering archived raises :class:`ArchivedFilesError` naming them and the restore
    command, before anything is read.
    """
    lake = lake_of(catalog)
    if at is None:
        return open_table(lake, name).to_pyarrow_dataset(filesystem=lake.table_filesystem(name))
    # A tagged or released version (or a restore point) whose file list the catalog keeps reads
    # from it: no log is opened, so reading a pin costs the same at any history length.
    version, pinned = resolve_pinned(catalog, name, at, tiers=True)
    if pinned is not None:
        gone = missing_files(lake, name, (entry["path"] for entry in pinned.files))
        if not gone:
            return pinned_dataset(lake, pinned)
        if version < readable_from(lake, name):
            raise MissingFilesError(
                f"cannot read {name} version {version}: {len(gone)} of its files are gone "
                f"(vacuumed or deleted): {list_missing(gone)}"
            )
        # A list whose files are gone while the log still reaches the version: the table was
        # recreated (the demo does, after a broker restart) or files were deleted by hand.
        # The log says what the version holds now, and require_files names what is missing.
    # On a local lake delta-rs's open at a version re-reads the whole log folder: replay the
    # version's files from its checkpoint instead (None: leave it to delta-rs).
    replayed = version_files(lake, name, version) if lake.is_local else None
    if replayed is not None:
        gone = missing_files(lake, name, (entry["path"] for entry in replayed.files))
        if gone:
            raise _missing_error(name, version, gone, len(replayed.files))
        return pinned_dataset(lake, replayed)
    table = open_table(lake, name, version)
    require_files(lake, name, table)
    return table.to_pyarrow_dataset(filesystem=lake.table_filesystem(name))


def require_files(lake: Lake, name: str, table: DeltaTable) -> None:
    """Raise :class:`MissingFilesError` naming the files of ``table``'s version that are gone
    from storage (vacuumed or deleted); one listing of the table root. Readers call it before
    reading an older version, or after a read failed on a missing file, so the error names
    every missing file and what to do instead of a raw ``FileNotFoundError`` for the first."""
    gone = missing_files(lake, name, (a["path"] for a in live_files(table)))
    if gone:
        raise _missing_error(name, table.version(), gone, len(table.file_uris()))


def _missing_error(name: str, version: int, gone: list[str], total: int) -> MissingFilesError:
    return MissingFilesError(
        f"cannot read {name} version {version}: {len(gone)} of its {total} file(s) "
        f"are gone (vacuumed or deleted): {list_missing(gone)}. Read a newer version; tag "
        "or release a version to keep vacuum off its files"
    )


def restore_command(dataset: str, version: int) -> str:
    """The command that makes ``dataset`` at ``version`` readable again after tiering archived
    some of its files."""
    return f"thermocline tier restore {dataset}@{version}"


def archived_of(
    catalog: Catalog, dataset: str, version: int, *, table: DeltaTable | None = None
) -> list[str]:
    """The files of ``dataset`` at ``version`` that are (or may be, mid-move) archived, sorted.

    One read of the dataset's rows in the catalog's tier inventory; only when it archived
    something is the version's log loaded (``table`` when it is that version already), so a
    dataset tiering never archived costs no more to read than before.
    """
    return _archived(catalog, dataset, version, table)[0]


def require_not_archived(
    catalog: Catalog,
    dataset: str,
    version: int,
    *,
    via: str | None = None,
    table: DeltaTable | None = None,
) -> None:
    """Raise :class:`ArchivedFilesError` when ``version`` of ``dataset`` needs a file that
    tiering archived (DESIGN.md > Decision 6), naming the files and :func:`restore_command`;
    nothing is read. ``via`` says what led to the version (``tag golden``, ``release r1``).

    Warm and cold files (instant-retrieval classes) read as they are; an archived one takes
    hours to restore on AWS, and a read that touched it would fail half-way or stall. Every
    path that reads or restores an older version calls this: time travel, rollback, release
    rollback, the loader, ``diff`` with rows.
    """
    archived, total = _archived(catalog, dataset, version, table)
    if not archived:
        return
    named = f"{dataset} version {version}" + (f" ({via})" if via else "")
    command = restore_command(dataset, version)
    raise ArchivedFilesError(
        f"cannot read {named}: {len(archived)} of its {total} file(s) are archived "
        f"(tiering moved them to an archive class; nothing was read): {list_missing(archived)}; "
        f"run `{command}` to make them readable",
        fix=f"run `{command}`",
    )


def _archived(
    catalog: Catalog, dataset: str, version: int, table: DeltaTable | None
) -> tuple[list[str], int]:
    """The archived files of the version, and how many files it has (0 when none archived)."""
    archived = catalog.tiers.archived(dataset)
    if not archived:
        return [], 0
    if table is not None and table.version() == version:
        paths = [a["path"] for a in live_files(table)]
    elif (pinned := catalog.pinned_files.find(dataset, version)) is not None:
        paths = [entry["path"] for entry in pinned.files]  # a pin's list: no log opened
    else:
        paths = [a["path"] for a in live_files(open_table(lake_of(catalog), dataset, version))]
    return sorted(set(archived).intersection(paths)), len(paths)


@dataclass(frozen=True)
class Erasure:
    """An erasure by key as the event log keeps it: when, who, why, and the version ranges
    (first, last; inclusive) of ``dataset`` that it made unreadable."""

    erasure_id: str
    dataset: str
    at: datetime
    user: str
    reason: str | None
    broken: tuple[tuple[int, int], ...]

    def breaks(self, version: int) -> bool:
        return any(first <= version <= last for first, last in self.broken)

    def describe(self) -> str:
        """``erasure 1a2b3c4d5e6f of 2026-11-21 10:00 UTC by ana (reason: ticket 42)``."""
        why = f" (reason: {self.reason})" if self.reason else ""
        return f"erasure {self.erasure_id[:12]} of {self.at:%Y-%m-%d %H:%M} UTC by {self.user}{why}"


def erasures(catalog: Catalog, dataset: str) -> list[Erasure]:
    """The erasures of ``dataset``, oldest first (events of kind :data:`ERASURE`)."""
    return [
        Erasure(
            str(event.details.get("erasure_id", event.event_id)),
            dataset,
            event.at,
            event.user,
            event.reason,
            tuple((int(a), int(b)) for a, b in event.details.get("broken_versions", [])),
        )
        for event in catalog.events(dataset, kinds=[ERASURE])
    ]


def erased_by(found: Sequence[Erasure], version: int) -> Erasure | None:
    """The first of ``found`` that made ``version`` unreadable, or None."""
    return next((e for e in found if e.breaks(version)), None)


def ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    """``0-3, 5`` for [(0, 3), (5, 5)]."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges) or "none"


def require_not_erased(
    catalog: Catalog,
    dataset: str,
    version: int,
    *,
    via: str | None = None,
    found: Sequence[Erasure] | None = None,
) -> None:
    """Raise :class:`ErasedVersionError` when an erasure made ``version`` of ``dataset``
    unreadable; the one line names the erasure (when, who, why, which versions). ``via`` says
    what led to the version (``tag golden``, ``release r1``); ``found`` the erasures when the caller
    has read them already. Every path that reads or restores an older version calls this:
    time travel, rollback, release rollback, tags and the loader.
    """
    erasure = erased_by(erasures(catalog, dataset) if found is None else found, version)
    if erasure is None:
        return
    named = f"{dataset} version {version}" + (f" ({via})" if via else "")
    raise ErasedVersionError(
        f"cannot read {named}: {erasure.describe()} removed the files of {dataset} versions "
        f"{ranges_text(erasure.broken)}; read a version after "
        f"{max(b for _, b in erasure.broken)}, or move the tag or release to one",
        fix=f"read a version after {max(b for _, b in erasure.broken)}",
    )


def history(lake: Lake, name: str, limit: int | None = None) -> list[Commit]:
    """Versions of ``name``, newest first (the ``limit`` newest, when given)."""
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    table = open_table(lake, name)
    if limit is not None and limit > table.version() + 1:
        limit = None  # more than there are: all of them (delta-rs takes no 64-bit overflow)
    return [commit_of(entry) for entry in table.history(limit)]


def commit_of(entry: dict[str, Any]) -> Commit:
    """A :class:`Commit` from a history entry (a commitInfo with its ``version``)."""
    metrics = entry.get("operationMetrics") or {}
    return Commit(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC),
        operation=operation_of(entry),
        rows_added=metrics.get("num_added_rows", entry.get(ROWS_KEY)),
        rows_removed=metrics.get("num_deleted_rows", entry.get(ROWS_REMOVED_KEY)),
        files_added=metrics.get("num_added_files", entry.get(FILE_COUNT_KEY)),
        files_removed=metrics.get("num_removed_files", metrics.get("numDeletedFiles")),
        user=entry.get(USER_KEY),
        reason=entry.get(REASON_KEY),
    )


def live_files(table: DeltaTable) -> list[dict[str, Any]]:
    """The live files of a table version: path, size, rows and partition values.

    ``path`` is the file's name under the table root as storage holds it
    (:func:`storage_path`): what listings, reads and the tier inventory use."""
    actions = pa.table(table.get_add_actions(flatten=False))
    partitions = (
        actions["partition"].to_pylist()
        if "partition" in actions.column_names
        else [None] * actions.num_rows
    )
    return [
        {**row, "path": storage_path(row["path"]), "partition_values": values}
        for row, values in zip(
            actions.select(["path", "size_bytes", "num_records"]).to_pylist(),
            partitions,
            strict=True,
        )
    ]


def storage_path(log_path: str) -> str:
    """A data file's name under the table root as storage holds it, from its path in the
    Delta log, which percent-encodes it once more: a partition value that Hive-style folders
    escape (``ts=2026-03-01%2000%3A00``) appears in the log as ``%2520`` and ``%253A``."""
    return unquote(log_path)


def stored_files(lake: Lake, dataset: str) -> set[str]:
    """Every data file under the table root: a listing of the root and of each folder in it
    but ``_delta_log/`` (which holds a file per retained version: listing it would make every
    preflight grow with history)."""
    fs = lake.table_filesystem(dataset)
    top = fs.get_file_info(pafs.FileSelector("", allow_not_found=True))
    found = {info.path for info in top if info.type == pafs.FileType.File}
    for folder in top:
        if folder.type == pafs.FileType.Directory and folder.base_name != "_delta_log":
            listing = fs.get_file_info(pafs.FileSelector(folder.path, recursive=True))
            found.update(info.path for info in listing if info.type == pafs.FileType.File)
    return found


def missing_files(lake: Lake, dataset: str, files: Iterable[str]) -> list[str]:
    """Which of ``files`` (paths under the table root) are not in storage."""
    present = stored_files(lake, dataset)
    return sorted(path for path in files if path not in present)


def list_missing(paths: Sequence[str], shown: int = 20) -> str:
    """Missing file paths for a one-line message: the first ``shown``, then how many more."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
