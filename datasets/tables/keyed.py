"""Primary keys across batches, the IO: look up a batch's keys in the table, then publish what
:mod:`.keys` decided (append, merge, or nothing).

The lookup never reads the whole table: the Delta file statistics (min/max of each key column,
partition values) rule out files that cannot hold the batch's keys, and of the rest only the
key columns are read, with the keys as a Parquet filter (row groups are skipped by their own
statistics). :func:`publish_keyed` makes the one commit: a plain :func:`publish` of the staged
files, or, when ``on_duplicate: update`` found published keys, one merge of the batch; either
way the commit carries the source positions and moves the key epoch compare-and-swap, so two
keyed writers that race lose cleanly (exactly-once holds, and keys stay unique).

>>> plan = plan_keys(lake, "rides", batch, ["ride_id"], "reject")   # doctest: +SKIP
>>> plan.reasons or publish_keyed(catalog, staged, plan)           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.keys import (
    KeyPlan,
    OnDuplicate,
    candidate_files,
    keys_app_id,
    plan_batch,
)
from thermocline.datasets.tables.staging import StagedBatch, discard
from thermocline.datasets.tables.versions import open_table, storage_path
from thermocline.datasets.tables.writes import publish, upsert

__all__ = ["existing_keys", "plan_keys", "publish_keyed"]

_READERS = 8  # key columns of candidate files are read side by side (object stores)
_ATTEMPTS = 3  # lookups against a snapshot whose files a compaction removed meanwhile


def plan_keys(
    lake: Lake, dataset: str, batch: pa.Table, key: Sequence[str], on_duplicate: OnDuplicate
) -> KeyPlan:
    """Look ``batch``'s keys up in the published table and resolve them by ``on_duplicate``."""
    for _ in range(_ATTEMPTS - 1):
        # A compaction or vacuum may remove a file between the snapshot and the read.
        with contextlib.suppress(FileNotFoundError):
            return _lookup(lake, dataset, batch, key, on_duplicate)
    return _lookup(lake, dataset, batch, key, on_duplicate)


def _lookup(
    lake: Lake, dataset: str, batch: pa.Table, key: Sequence[str], on_duplicate: OnDuplicate
) -> KeyPlan:
    try:
        table = open_table(lake, dataset)
    except DatasetNotFoundError:
        empty = pa.table({c: batch[c].slice(0, 0) for c in key})
        return plan_batch(dataset, batch, key, empty, on_duplicate, epoch=None)
    epoch = table.transaction_version(keys_app_id(dataset))
    found = existing_keys(lake, dataset, table, batch, key)
    return plan_batch(dataset, batch, key, found, on_duplicate, epoch=epoch)


def existing_keys(
    lake: Lake, dataset: str, table: DeltaTable, batch: pa.Table, key: Sequence[str]
) -> pa.Table:
    """The key columns of published rows that may share a key with ``batch`` (a superset of
    the matches: only files the statistics cannot rule out are read, and only their keys)."""
    partition_by = list(table.metadata().partition_columns)
    files = pa.table(table.get_add_actions(flatten=True))
    paths = candidate_files(files, batch, key, partition_by)
    partitions = _partition_values(files, paths, partition_by)
    stored = [c for c in key if c not in partition_by]
    first = stored[0] if stored else None
    wanted = pc.unique(batch[first].drop_null()) if first is not None else None
    filesystem = lake.table_filesystem(dataset)
    schema = batch.select(list(key)).schema

    def read(path: str) -> pa.Table:
        if stored:
            keys = pq.read_table(
                storage_path(path),  # the log's path is percent-encoded once more
                columns=stored,
                filesystem=filesystem,
                filters=pc.field(first).isin(wanted),
            )
        else:
            keys = pa.table({_ROWS: pa.nulls(_file_rows(files, path))})
        columns = {
            c: keys[c] if c in stored else pa.array([partitions[path][c]] * keys.num_rows)
            for c in key
        }
        return pa.table(columns).cast(schema)

    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        parts = list(pool.map(read, paths))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def publish_keyed(
    catalog: Catalog,
    staged: StagedBatch,
    plan: KeyPlan | None,
    *,
    mode: Literal["append", "overwrite"] = "append",
    reason: str | None = None,
    app_transactions: Mapping[str, int] | None = None,
    expected_positions: Mapping[str, int | None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    record_event: bool = True,
    replace: Literal["touched", "all"] | Sequence[str | None] = "touched",
) -> int:
    """Publish ``staged`` (``plan.rows`` staged) as :func:`publish` does, or merge
    ``plan.rows`` when the plan says so; with a plan the commit also moves the key epoch from
    the one the lookup saw. ``plan=None`` is a plain :func:`publish`. On a
    :class:`CommitConflictError` nothing is published and ``staged`` is left for the caller to
    discard, as with :func:`publish`."""
    apps = dict(app_transactions or {})
    expected = dict(expected_positions or {})
    custom = dict(metadata or {})
    if plan is not None:
        apps.update(plan.app_transactions)
        expected.update(plan.expected_positions)
        custom.update(plan.metadata())
    if plan is None or not plan.merge:
        return publish(
            catalog,
            staged,
            mode=mode,
            reason=reason,
            app_transactions=apps,
            expected_positions=expected,
            metadata=custom,
            record_event=record_event,
            replace=replace,
        )
    version = upsert(
        catalog,
        staged.dataset,
        plan.rows,
        list(plan.key),
        reason=reason,
        app_transactions=apps,
        expected_positions=expected,
        metadata=custom,
        record_event=record_event,
    )
    discard(lake_of(catalog), staged)  # the merge wrote its own files
    return version


_ROWS = "__thermocline_rows"


def _file_rows(files: pa.Table, path: str) -> int:
    index = files["path"].to_pylist().index(path)
    return int(files["num_records"][index].as_py() or 0)


def _partition_values(
    files: pa.Table, paths: Sequence[str], partition_by: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each candidate file's partition values (Delta's string form), by path."""
    if not partition_by:
        return {}
    wanted = set(paths)
    rows = files.select(["path", *(f"partition.{c}" for c in partition_by)]).to_pylist()
    return {
        row["path"]: {c: row[f"partition.{c}"] for c in partition_by}
        for row in rows
        if row["path"] in wanted
    }
