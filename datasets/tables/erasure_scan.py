"""Erasure by key, the storage part: the data-file actions of a table's log, which data files
hold a subject, straight from storage, and the delete that retries a lost race (the deciding
is in :mod:`.erasure_plan`, the acting in :mod:`.erasure`).

>>> commits = read_log(lake, "trips", open_table(lake, "trips"))     # doctest: +SKIP
>>> files = referenced(commits)                                      # doctest: +SKIP
>>> files_holding(lake, "trips", "rider_id", pa.scalar(1), files, stored)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

from thermocline.catalog.errors import ErasureConflictError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.erasure_plan import LogCommit
from thermocline.datasets.tables.version_index import commit_actions
from thermocline.datasets.tables.versions import (
    live_files,
    open_table,
    storage_path,
)

__all__ = ["count_matches", "delete_retrying", "files_holding", "read_log"]

_SCAN_THREADS = 8
_ATTEMPTS = 10  # each lost race means another writer committed; a busy table is not stuck
_COMMIT_FILE = re.compile(r"^_delta_log/(\d{20})\.json$")


def read_log(lake: Lake, dataset: str, table: DeltaTable) -> list[LogCommit]:
    """The data-file actions of every version up to ``table``'s, from the commit files.

    Versions whose commit files log retention removed are summarised by the oldest version
    that can still be loaded (one commit adding its live files); older ones cannot be read
    anyway.
    """
    fs = lake.table_filesystem(dataset)
    listing = fs.get_file_info(pafs.FileSelector("_delta_log", allow_not_found=True))
    found = sorted(
        int(m.group(1)) for i in listing if (m := _COMMIT_FILE.match(i.path.lstrip("/")))
    )
    upto = table.version()
    versions = [v for v in found if v <= upto]
    if not versions:
        return []
    commits: list[LogCommit] = []
    first = versions[0]
    if first > 0:
        seed = open_table(lake, dataset, first)
        commits.append(
            LogCommit(first, {a["path"]: _strings(a["partition_values"]) for a in live_files(seed)})
        )
        versions = versions[1:]
    for version in versions:
        adds: dict[str, Mapping[str, str | None]] = {}
        removes = set()
        actions = commit_actions(lake, dataset, version)
        if actions is None:  # removed since the listing: as reading it would have failed
            raise FileNotFoundError(f"{dataset}: _delta_log/{version:020d}.json")
        for action in actions:
            if "add" in action:
                add = action["add"]
                adds[storage_path(add["path"])] = add.get("partitionValues") or {}
            elif "remove" in action:
                removes.add(storage_path(action["remove"]["path"]))
        commits.append(LogCommit(version, adds, frozenset(removes)))
    return commits


def _strings(values: Mapping[str, Any] | None) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in (values or {}).items()}


def files_holding(
    lake: Lake,
    dataset: str,
    column: str,
    value: pa.Scalar,
    files: Mapping[str, Mapping[str, str | None]],
    stored: set[str],
) -> set[str]:
    """The stored files among ``files`` (path -> partition values) with a row whose
    ``column`` is ``value``: by the partition value when ``column`` partitions the table,
    else by reading the file (row-group statistics first)."""
    fs = lake.table_filesystem(dataset)
    wanted = str(value.as_py())

    def holds(path: str) -> bool:
        partition = files[path]
        if column in partition:
            return partition[column] == wanted
        source = pads.dataset(path, filesystem=fs, format="parquet")
        if column not in source.schema.names:
            return False
        return count_matches(source, column, value) > 0

    candidates = sorted(p for p in files if p in stored)
    with ThreadPoolExecutor(_SCAN_THREADS) as pool:
        return {p for p, hit in zip(candidates, pool.map(holds, candidates), strict=True) if hit}


def count_matches(source: pads.Dataset, column: str, value: pa.Scalar) -> int:
    """Rows of ``source`` whose ``column`` equals ``value``: pushed down to the Parquet
    statistics where pyarrow can, else by reading the column (files delta-rs rewrote may hold
    ``string_view``, which pyarrow 26's scan filter has no kernel for)."""
    try:
        return int(source.to_table(columns=[], filter=pc.field(column) == value).num_rows)
    except pa.ArrowNotImplementedError:
        values = source.to_table(columns=[column])[column]
        if pa.types.is_string_view(values.type):
            values = values.cast(pa.string())
        return int(pc.sum(pc.fill_null(pc.equal(values, value), False)).as_py() or 0)


def delete_retrying(
    table: DeltaTable, predicate: str, metadata: dict[str, str], what: str
) -> tuple[int, int]:
    """Delete the rows ``predicate`` matches in a new version of ``table``; retried from the
    new snapshot when another writer committed first (delta-rs refuses the stale delete, so
    nothing of theirs is lost). Returns the rows deleted and the version before; ``table`` is
    left at the new version. ``what`` names the table in the error after too many lost races.
    """
    for _ in range(_ATTEMPTS):
        before = table.version()
        try:
            metrics = table.delete(
                predicate, commit_properties=CommitProperties(custom_metadata=metadata)
            )
        except CommitFailedError:
            table.update_incremental()
            continue
        table.update_incremental()
        return int(metrics.get("num_deleted_rows", 0)), before
    raise ErasureConflictError(
        f"other writers kept committing to {what} while erasing; nothing of theirs was lost "
        "and the subject's rows are still there: run the erasure again"
    )
