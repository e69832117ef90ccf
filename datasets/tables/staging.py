"""Staging: Parquet files written under the table root but not into the Delta log.

No reader sees a staged file until :func:`~thermocline.datasets.tables.writes.publish` adds it
(DESIGN.md > Decision 2); :func:`discard` deletes it. Files a crash leaves behind are
unreferenced, and vacuum removes them once past retention. Each file's statistics (min, max,
null count) are computed here, so the publishing commit can carry them for pruning.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thermocline.catalog.errors import DatasetNotFoundError, InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import open_table

__all__ = [
    "StagedBatch",
    "StagedFile",
    "discard",
    "partition_value",
    "stage",
]


_WRITERS = os.cpu_count() or 2
_SLICE_ROWS = 500_000  # a part this big is written as several files, one per writer thread
_STRING_STATS_LIMIT = 64  # longer strings get no min/max: a truncated max would be wrong


@dataclass(frozen=True)
class StagedFile:
    """One staged Parquet file: its path under the table root and its add-action fields."""

    path: str
    size: int
    rows: int
    partition_values: Mapping[str, str | None]
    stats: str


@dataclass(frozen=True)
class StagedBatch:
    """A batch written but not published: what
    :func:`~thermocline.datasets.tables.writes.publish` needs to commit it."""

    dataset: str
    batch_id: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    files: tuple[StagedFile, ...]
    staged_at: float = field(default_factory=time.time)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def stage(
    lake: Lake,
    dataset: str,
    data: pa.Table,
    *,
    partition_by: list[str] | tuple[str, ...] | None = None,
) -> StagedBatch:
    """Write ``data`` as Parquet files under the table root, one per partition, uncommitted.

    ``partition_by`` defaults to the existing table's partition columns (none for a new table).
    """
    if partition_by is None:
        partition_by = _table_partitioning(lake, dataset)
    missing = [c for c in partition_by if c not in data.column_names]
    if missing:
        raise InputError(f"partition columns {missing} are not in the batch of {dataset!r}")
    batch_id = uuid.uuid4().hex
    filesystem = lake.table_filesystem(dataset)
    jobs: list[tuple[str, dict[str, str | None], pa.Table]] = []
    for values, part in _split_by_partition(data, list(partition_by)):
        folder = "/".join(
            f"{quote(k, safe='')}={quote(_partition_dir(v), safe='')}" for k, v in values.items()
        )
        if lake.is_local:  # object stores have no folders to make
            lake.filesystem.create_dir(f"{dataset}/{folder}".rstrip("/"), recursive=True)
        body = part.drop_columns(list(partition_by))
        for piece in _slices(body):
            name = f"part-{batch_id}-{len(jobs):05d}.zstd.parquet"
            jobs.append((f"{folder}/{name}" if folder else name, values, piece))

    def write(job: tuple[str, dict[str, str | None], pa.Table]) -> StagedFile:
        path, values, body = job
        pq.write_table(body, path, filesystem=filesystem, compression="zstd")
        size = filesystem.get_file_info(path).size
        return StagedFile(path, size, body.num_rows, values, _stats_json(body))

    # The Parquet encoder is single-threaded per file and releases the GIL: write in parallel.
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        files = tuple(pool.map(write, jobs))
    return StagedBatch(dataset, batch_id, data.schema, tuple(partition_by), files)


def discard(lake: Lake, staged: StagedBatch) -> None:
    """Delete the staged files (nothing was committed, so nothing else changes)."""
    filesystem = lake.table_filesystem(staged.dataset)
    for staged_file in staged.files:
        filesystem.delete_file(staged_file.path)


def _table_partitioning(lake: Lake, dataset: str) -> list[str]:
    try:
        return list(open_table(lake, dataset).metadata().partition_columns)
    except DatasetNotFoundError:
        return []


def _split_by_partition(
    data: pa.Table, partition_by: list[str]
) -> list[tuple[dict[str, str | None], pa.Table]]:
    """Rows of ``data`` grouped by the values of ``partition_by`` (Delta's string form)."""
    if not partition_by:
        return [({}, data)]
    keys = data.select(partition_by).group_by(partition_by).aggregate([]).to_pylist()
    parts = []
    for key in keys:
        mask = None
        for column, value in key.items():
            test = pc.is_null(data[column]) if value is None else pc.equal(data[column], value)
            mask = test if mask is None else pc.and_(mask, test)
        parts.append(({c: partition_value(v) for c, v in key.items()}, data.filter(mask)))
    return parts


def _slices(body: pa.Table) -> list[pa.Table]:
    """``body`` cut into one slice per writer thread when it is big enough to be worth it."""
    if body.num_rows <= _SLICE_ROWS:
        return [body]
    step = -(-body.num_rows // _WRITERS)
    return [body.slice(start, step) for start in range(0, body.num_rows, step)]


def partition_value(value: object) -> str | None:
    """A partition value as the Delta protocol serializes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _partition_dir(value: str | None) -> str:
    return "__HIVE_DEFAULT_PARTITION__" if value is None else value


def _stats_json(table: pa.Table) -> str:
    """Delta file statistics: row count, and min, max and null count of simple columns."""
    mins: dict[str, Any] = {}
    maxes: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            continue
        nulls[name] = column.null_count
        if column.null_count == len(column) or pa.types.is_boolean(kind):
            continue
        extremes = pc.min_max(column)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        if isinstance(low, float) and (math.isnan(low) or math.isnan(high)):
            continue
        if isinstance(low, str) and max(len(low), len(high)) > _STRING_STATS_LIMIT:
            continue
        mins[name], maxes[name] = _stat_value(low), _stat_value(high)
    return json.dumps(
        {"numRecords": table.num_rows, "minValues": mins, "maxValues": maxes, "nullCount": nulls},
        default=str,
    )


def _stat_value(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat(timespec="microseconds")
        return text.replace("+00:00", "Z") if value.tzinfo is not None else text
    if isinstance(value, date):
        return value.isoformat()
    return value
