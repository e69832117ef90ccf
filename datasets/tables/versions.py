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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import TableNotFoundError

from thermocline.catalog.catalog import Catalog, current_user, lake_of, looks_like_time
from thermocline.catalog.commits import (
    FILE_COUNT_KEY,
    REASON_KEY,
    ROWS_KEY,
    ROWS_REMOVED_KEY,
    USER_KEY,
)
from thermocline.catalog.errors import (
    DatasetNotFoundError,
    InputError,
    InvalidTimestampError,
    MissingFilesError,
    VersionNotFoundError,
)
from thermocline.catalog.lake import Lake

__all__ = [
    "Commit",
    "create",
    "history",
    "list_missing",
    "live_files",
    "missing_files",
    "open_table",
    "read_dataset",
    "require_files",
    "resolve_version",
    "stored_files",
]


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
    catalog: Catalog, name: str, at: int | str | datetime | None, table: DeltaTable | None = None
) -> int:
    """The version ``at`` names: a version number, a tag, or a time (ISO 8601, UTC if naive).

    A time gives the newest version committed at or before it. Errors say what exists.
    ``table`` is the dataset's table when the caller has it open already.
    """
    lake = lake_of(catalog)
    latest = (table if table is not None else open_table(lake, name)).version()
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
    if isinstance(at, str) and not looks_like_time(at):
        return catalog.tag(name, at).version
    moment = parse_timestamp(at) if isinstance(at, str) else at
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > datetime.now(tz=UTC):
        raise VersionNotFoundError(
            f"{moment.isoformat()} is in the future, so it names no version of {name} yet; name "
            f"a past time, a version number or a tag (the latest is version {latest})"
        )
    for commit in history(lake, name):
        if commit.timestamp <= moment:
            return commit.version
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

    An older version whose files vacuum removed raises :class:`MissingFilesError` naming them
    (one listing of the table root), rather than failing later inside the read.
    """
    lake = lake_of(catalog)
    table = open_table(lake, name)
    version = None if at is None else resolve_version(catalog, name, at, table=table)
    if version is not None and version != table.version():
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
        total = len(table.file_uris())
        raise MissingFilesError(
            f"cannot read {name} version {table.version()}: {len(gone)} of its {total} file(s) "
            f"are gone (vacuumed or deleted): {list_missing(gone)}. Read a newer version; tag "
            "or release a version to keep vacuum off its files"
        )


def history(lake: Lake, name: str, limit: int | None = None) -> list[Commit]:
    """Versions of ``name``, newest first (the ``limit`` newest, when given)."""
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    table = open_table(lake, name)
    if limit is not None and limit > table.version() + 1:
        limit = None  # more than there are: all of them (delta-rs takes no 64-bit overflow)
    return [_commit(entry) for entry in table.history(limit)]


def _commit(entry: dict[str, Any]) -> Commit:
    metrics = entry.get("operationMetrics") or {}
    return Commit(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC),
        operation=str(entry.get("operation", "")),
        rows_added=metrics.get("num_added_rows", entry.get(ROWS_KEY)),
        rows_removed=metrics.get("num_deleted_rows", entry.get(ROWS_REMOVED_KEY)),
        files_added=metrics.get("num_added_files", entry.get(FILE_COUNT_KEY)),
        files_removed=metrics.get("num_removed_files", metrics.get("numDeletedFiles")),
        user=entry.get(USER_KEY),
        reason=entry.get(REASON_KEY),
    )


def live_files(table: DeltaTable) -> list[dict[str, Any]]:
    """The live files of a table version: path, size, rows and partition values."""
    actions = pa.table(table.get_add_actions(flatten=False))
    partitions = (
        actions["partition"].to_pylist()
        if "partition" in actions.column_names
        else [None] * actions.num_rows
    )
    return [
        {**row, "partition_values": values}
        for row, values in zip(
            actions.select(["path", "size_bytes", "num_records"]).to_pylist(),
            partitions,
            strict=True,
        )
    ]


def stored_files(lake: Lake, dataset: str) -> set[str]:
    """Every file under the table root: one recursive listing, cheap on S3 and on disk alike."""
    listing = lake.table_filesystem(dataset).get_file_info(
        pafs.FileSelector("", recursive=True, allow_not_found=True)
    )
    return {info.path for info in listing if info.type == pafs.FileType.File}


def missing_files(lake: Lake, dataset: str, files: Iterable[str]) -> list[str]:
    """Which of ``files`` (paths under the table root) are not in storage."""
    present = stored_files(lake, dataset)
    return sorted(path for path in files if path not in present)


def list_missing(paths: Sequence[str], shown: int = 20) -> str:
    """Missing file paths for a one-line message: the first ``shown``, then how many more."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
