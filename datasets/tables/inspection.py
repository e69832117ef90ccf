"""Looking at tables: describe one, list them all, diff two versions."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from thermocline.catalog.catalog import Catalog, Tag, lake_of
from thermocline.catalog.errors import DatasetNotFoundError, InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.log_reach import pinned_past_retention, readable_from
from thermocline.datasets.tables.version_index import commit_info
from thermocline.datasets.tables.versions import (
    commit_of,
    live_files,
    open_table,
    resolve_version,
)

__all__ = [
    "DatasetSummary",
    "Description",
    "Diff",
    "PartitionChange",
    "describe",
    "diff",
    "list_datasets",
]


@dataclass(frozen=True)
class PartitionChange:
    partition: str
    rows_added: int
    rows_removed: int
    files_added: int
    files_removed: int


@dataclass(frozen=True)
class Diff:
    dataset: str
    from_version: int
    to_version: int
    columns_added: list[str]
    columns_removed: list[str]
    columns_changed: list[str]  # "name: old type -> new type"
    partitions: list[PartitionChange]
    files_from: int
    files_to: int
    rows_added_sample: list[dict[str, Any]] = field(default_factory=list)
    rows_removed_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def backwards(self) -> bool:
        """B is older than A (like ``git diff NEW OLD``): the rows and files going back from A
        to B adds and removes, which is what a rollback from A to B would change."""
        return self.to_version < self.from_version

    @property
    def rows_added(self) -> int:
        return sum(p.rows_added for p in self.partitions)

    @property
    def rows_removed(self) -> int:
        return sum(p.rows_removed for p in self.partitions)


def diff(
    catalog: Catalog,
    dataset: str,
    a: int | str | datetime,
    b: int | str | datetime,
    *,
    sample_rows: int = 0,
) -> Diff:
    """What changed from version ``a`` to ``b``: schema, and rows and files per partition.

    Rows are counted per file from the log's statistics: a rewritten file counts as its rows
    removed and added again. ``sample_rows`` > 0 reads that many rows of each side's files.
    ``b`` may be older than ``a`` (:attr:`Diff.backwards`): the change going back, as
    ``git diff`` shows it; ``a`` and ``b`` naming the same version is an :class:`InputError`.
    """
    if sample_rows < 0:
        raise InputError(f"rows must be 0 or more, not {sample_rows}")
    lake = lake_of(catalog)
    # Counts come from the log, which an erasure leaves; only sampling rows reads data files.
    reads = sample_rows > 0
    version_a = resolve_version(catalog, dataset, a, readable=reads, tiers=reads)
    version_b = resolve_version(catalog, dataset, b, readable=reads, tiers=reads)
    if version_a == version_b:
        raise InputError(
            f"{a!r} and {b!r} are both version {version_a} of {dataset}: there is nothing to "
            "compare; fix: name two different versions",
            fix="name two different versions",
        )
    first = readable_from(lake, dataset)
    fields_a, files_a = _side(catalog, dataset, version_a, first)
    fields_b, files_b = _side(catalog, dataset, version_b, first)
    added = [files_b[p] for p in files_b.keys() - files_a.keys()]
    removed = [files_a[p] for p in files_a.keys() - files_b.keys()]
    return Diff(
        dataset,
        version_a,
        version_b,
        columns_added=sorted(fields_b.keys() - fields_a.keys()),
        columns_removed=sorted(fields_a.keys() - fields_b.keys()),
        columns_changed=sorted(
            f"{n}: {fields_a[n]} -> {fields_b[n]}"
            for n in fields_a.keys() & fields_b.keys()
            if fields_a[n] != fields_b[n]
        ),
        partitions=_partition_changes(added, removed),
        files_from=len(files_a),
        files_to=len(files_b),
        rows_added_sample=_sample(lake, dataset, added, sample_rows),
        rows_removed_sample=_sample(lake, dataset, removed, sample_rows),
    )


def _side(
    catalog: Catalog, dataset: str, version: int, first: int
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """One side of a diff: column types by name and live files by path, from the log, or
    from the recorded list of a pin or restore point past it (refused when there is none)."""
    pinned = pinned_past_retention(catalog, dataset, version) if version < first else None
    if pinned is None:
        table = open_table(lake_of(catalog), dataset, version)
        schema = pa.schema(table.schema().to_arrow())
        files = {x["path"]: x for x in live_files(table)}
    else:
        schema = pinned.schema
        files = {
            entry["path"]: {
                "path": entry["path"],
                "size_bytes": entry["size"],
                "num_records": json.loads(entry.get("stats") or "{}").get("numRecords"),
                "partition_values": entry.get("partition_values") or {},
            }
            for entry in pinned.files
        }
    return {f.name: str(f.type) for f in schema}, files


def _partition_changes(
    added: list[dict[str, Any]], removed: list[dict[str, Any]]
) -> list[PartitionChange]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for action in added:
        entry = totals[_partition_label(action)]
        entry[0] += action["num_records"] or 0
        entry[2] += 1
    for action in removed:
        entry = totals[_partition_label(action)]
        entry[1] += action["num_records"] or 0
        entry[3] += 1
    return [PartitionChange(k, *v) for k, v in sorted(totals.items())]


def _partition_label(action: Mapping[str, Any]) -> str:
    values = action.get("partition_values") or {}
    return "/".join(f"{k}={v}" for k, v in sorted(values.items())) or "(table)"


def _sample(
    lake: Lake, dataset: str, actions: list[dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    filesystem = lake.table_filesystem(dataset)
    for action in sorted(actions, key=lambda a: a["path"]):
        if len(rows) >= limit:
            break
        try:
            part = pq.read_table(action["path"], filesystem=filesystem)
        except (FileNotFoundError, OSError):
            continue  # vacuumed: a sample is best effort, the counts above are exact
        for row in part.slice(0, limit - len(rows)).to_pylist():
            rows.append({**(action.get("partition_values") or {}), **row})
    return rows


@dataclass(frozen=True)
class Description:
    dataset: str
    uri: str
    version: int
    schema: list[tuple[str, str]]
    partition_by: list[str]
    partitions: int
    files: int
    size_bytes: int
    rows: int
    last_modified: datetime | None
    tags: list[Tag]
    properties: Mapping[str, str]


def describe(catalog: Catalog, dataset: str) -> Description:
    """Schema, partitioning, size, file and row counts, current version and tags."""
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    actions = live_files(table)
    metadata = table.metadata()
    newest = commit_info(lake, dataset, table.version())  # one small read, not a log replay
    return Description(
        dataset=dataset,
        uri=lake.table_uri(dataset),
        version=table.version(),
        schema=[(f.name, str(f.type)) for f in pa.schema(table.schema().to_arrow())],
        partition_by=list(metadata.partition_columns),
        partitions=len({_partition_label(a) for a in actions}),
        files=len(actions),
        size_bytes=sum(a["size_bytes"] for a in actions),
        rows=sum(a["num_records"] or 0 for a in actions),
        last_modified=(
            commit_of({**newest, "version": table.version()}).timestamp if newest else None
        ),
        tags=catalog.tags(dataset),
        properties=dict(metadata.configuration),
    )


@dataclass(frozen=True)
class DatasetSummary:
    dataset: str
    exists: bool
    version: int | None
    files: int
    size_bytes: int
    rows: int


def list_datasets(catalog: Catalog, names: Iterable[str]) -> list[DatasetSummary]:
    """A line per dataset of ``names`` and of the catalog's registry, in name order."""
    lake = lake_of(catalog)
    summaries = []
    for name in sorted(set(names) | set(catalog.registered())):
        try:
            table = open_table(lake, name)
        except DatasetNotFoundError:
            summaries.append(DatasetSummary(name, False, None, 0, 0, 0))
            continue
        actions = live_files(table)
        summaries.append(
            DatasetSummary(
                name,
                True,
                table.version(),
                len(actions),
                sum(a["size_bytes"] for a in actions),
                sum(a["num_records"] or 0 for a in actions),
            )
        )
    return summaries
