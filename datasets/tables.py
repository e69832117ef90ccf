"""Delta table operations on a lake: write, open, read, history.

Every call takes a :class:`~thermocline.catalog.lake.Lake`, so the same code runs on a local
folder and on S3. Each commit records who made it and why, which ``history`` shows.

>>> write(lake, "rides", arrow_table, reason="initial load")      # doctest: +SKIP
0
>>> read_dataset(lake, "rides").to_table(columns=["ride_id"])     # doctest: +SKIP
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake

__all__ = ["Commit", "history", "open_table", "read_dataset", "write"]

_USER_KEY = "thermocline.user"
_REASON_KEY = "thermocline.reason"


@dataclass(frozen=True)
class Commit:
    """One version of a table, as ``thermocline history`` shows it."""

    version: int
    timestamp: datetime
    operation: str
    rows_added: int | None
    files_added: int | None
    files_removed: int | None
    user: str | None
    reason: str | None


def write(
    lake: Lake,
    name: str,
    data: pa.Table,
    *,
    mode: Literal["append", "overwrite"] = "append",
    partition_by: list[str] | None = None,
    reason: str | None = None,
) -> int:
    """Commit ``data`` to table ``name`` (created on first write); return the new version."""
    metadata = {_USER_KEY: getpass.getuser()}
    if reason:
        metadata[_REASON_KEY] = reason
    write_deltalake(
        lake.table_uri(name),
        data,
        mode=mode,
        partition_by=partition_by or None,
        storage_options=lake.delta_storage_options(),
        commit_properties=CommitProperties(custom_metadata=metadata),
    )
    return open_table(lake, name).version()


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


def read_dataset(lake: Lake, name: str, version: int | None = None) -> pads.Dataset:
    """A pyarrow dataset of ``name`` over the lake's native filesystem: project and filter
    with ``to_table(columns=..., filter=...)`` and only those bytes are read."""
    table = open_table(lake, name, version)
    return table.to_pyarrow_dataset(filesystem=lake.table_filesystem(name))


def history(lake: Lake, name: str, limit: int | None = None) -> list[Commit]:
    """Versions of ``name``, newest first."""
    return [_commit(entry) for entry in open_table(lake, name).history(limit)]


def _commit(entry: dict[str, Any]) -> Commit:
    metrics = entry.get("operationMetrics") or {}
    return Commit(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC),
        operation=str(entry.get("operation", "")),
        rows_added=metrics.get("num_added_rows"),
        files_added=metrics.get("num_added_files"),
        files_removed=metrics.get("num_removed_files"),
        user=entry.get(_USER_KEY),
        reason=entry.get(_REASON_KEY),
    )
