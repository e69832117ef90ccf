"""Log retention: checkpoint, then trim the Delta log, keeping tagged and released versions
readable (DESIGN.md > Decision 14).

:func:`apply_retention` (run by ``thermocline maintain``, the Dagster maintenance job, and a
Kafka ingester between its own commits, :mod:`thermocline.datasets.ingest.stream_upkeep`):

1. sets the table's ``delta.logRetentionDuration`` and ``delta.checkpointInterval`` from the
   dataset's ``history:`` policy, and ``delta.enableExpiredLogCleanup=false`` so that writers'
   own checkpoints never trim the log: only this function does, after step 2;
2. records each pinned (tagged or released) version's live files that the catalog lacks
   (:class:`~thermocline.catalog.pinned_files.PinnedFiles`): paths, sizes, partition values,
   statistics, the schema;
3. writes a checkpoint at the latest version and runs ``cleanup_metadata``.

What delta-rs 1.6.6 keeps (checked on a real table, see tests/datasets/test_retention.py):
cleanup deletes log files (commits *and* checkpoints) older than the retention by storage
modification time, up to the newest checkpoint at or before the oldest version it keeps: that
checkpoint and everything after it stay, so every version within the retention (and up to
``checkpoint_interval`` older ones) stays readable. A checkpoint written at a tagged version
is deleted like any other once older, so the pinned file list lives in the catalog instead:
one row per pin, written once. Measured on the local lake (a 200-version table, a tag at version
150 with 151 files): the list is 50 KB of JSON (~335 B a file); ``read_dataset`` at the tag
took 173 ms from the list after cleanup against 259 ms through the log before it (both mostly
catalog reads: tags, erasures, tiers). Reading a pinned version past retention builds the same
pyarrow dataset from that list (:func:`~.log_reach.pinned_dataset`); a rollback to it commits
the list back (:func:`rollback_to_pinned`); vacuum keeps its files (:func:`pinned_paths`).

>>> apply_retention(catalog, "rides", retention_s=30 * 86400)      # doctest: +SKIP
RetentionResult(dataset='rides', retention='30d', readable_from_before=0, readable_from=4200, ...)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import REASON_KEY, ROLLBACK_TO_KEY, USER_KEY
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import InputError, MissingFilesError
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.lineage_facts import LineageFacts
from thermocline.datasets.tables.log_reach import readable_from, retention_text
from thermocline.datasets.tables.staging import partition_value
from thermocline.datasets.tables.versions import (
    list_missing,
    missing_files,
    open_table,
    storage_path,
)

__all__ = [
    "RetentionResult",
    "apply_policy",
    "apply_retention",
    "capture_pinned",
    "pinned_paths",
    "record_pins",
    "retention_properties",
    "rollback_to_pinned",
]


@dataclass(frozen=True)
class RetentionResult:
    dataset: str
    retention: str
    readable_from_before: int
    readable_from: int  # the oldest version the log still reaches
    checkpoint_version: int
    pinned_recorded: list[int]  # pinned versions whose file list was recorded now
    pinned_past_retention: list[int]  # pinned versions older than readable_from


def retention_properties(retention_s: float, checkpoint_interval: int) -> dict[str, str]:
    """The Delta table properties that carry a ``history:`` policy."""
    if not math.isfinite(retention_s) or retention_s < 1:
        raise InputError(
            f"log retention must be at least one second, not {retention_s}; fix: set "
            "history.log_retention such as 7d"
        )
    if checkpoint_interval < 1:
        raise InputError(f"checkpoint_interval must be at least 1, not {checkpoint_interval}")
    return {
        "delta.logRetentionDuration": f"interval {int(retention_s)} seconds",
        "delta.checkpointInterval": str(checkpoint_interval),
        "delta.enableExpiredLogCleanup": "false",
    }


def apply_retention(
    catalog: Catalog,
    dataset: str,
    *,
    retention_s: float,
    checkpoint_interval: int = 100,
) -> RetentionResult:
    """Set the retention properties, record pinned versions' files, checkpoint and trim the
    log of ``dataset``; recorded as a ``log_retention`` event.

    The properties commit is the only table commit, made only when they differ, and it comes
    first: a ``CommitFailedError`` (the catalog's commits are blind appends, which do not
    conflict) means it lost a race with another writer that changed the table's metadata (a Kafka
    ingester adding a column), and nothing was changed. A concurrent append does not fail it
    (delta-rs rebases it), but the *append* then fails ("Metadata changed since last
    commit"): a Kafka ingester re-reads its batch, so its own turn sets them first."""
    lake = lake_of(catalog)
    wanted = retention_properties(retention_s, checkpoint_interval)
    table = open_table(lake, dataset)
    configuration = table.metadata().configuration
    if any(configuration.get(key) != value for key, value in wanted.items()):
        table.alter.set_table_properties(
            wanted,
            commit_properties=CommitProperties(custom_metadata={USER_KEY: current_user()}),
        )
        table.update_incremental()
    before = readable_from(lake, dataset)
    recorded = capture_pinned(catalog, dataset, table, oldest=before)
    table.create_checkpoint()
    table.cleanup_metadata()
    after = readable_from(lake, dataset)
    pins = sorted(catalog.protected_versions(dataset))
    result = RetentionResult(
        dataset,
        retention_text(table),
        before,
        after,
        table.version(),
        recorded,
        [v for v in pins if v < after],
    )
    catalog.record(
        Event(
            "log_retention",
            dataset,
            table.version(),
            None,
            {
                "retention": result.retention,
                "readable_from_before": before,
                "readable_from": after,
                "pinned_recorded": recorded,
            },
        )
    )
    return result


def apply_policy(catalog: Catalog, dataset: str, spec: DatasetSpec) -> RetentionResult:
    """:func:`apply_retention` with the dataset's ``history:`` policy (its default by source
    kind when it sets none: 1d for Kafka, 30d for others)."""
    kind = spec.source.kind if spec.source is not None else None
    return apply_retention(
        catalog,
        dataset,
        retention_s=spec.history.retention_seconds(kind),
        checkpoint_interval=spec.history.checkpoint_interval,
    )


def capture_pinned(
    catalog: Catalog,
    dataset: str,
    table: DeltaTable,
    *,
    oldest: int | None = None,
    provenance: bool = True,
) -> list[int]:
    """Record the live files and lineage provenance of each pinned version of ``dataset`` that
    the catalog lacks and the log still reaches (``oldest`` and newer); returns those versions.
    A pin recorded before provenance was gets it now, while the log still reaches it.

    The provenance is what lineage replays of the version from the log (one read of the log,
    only when something is to be recorded: :meth:`.lineage_facts.LineageFacts.provenance`).
    ``provenance=False`` records file lists only (a few reads, not the whole log): the next
    call with it adds the provenance, as for a pin recorded before provenance was."""
    lake = lake_of(catalog)
    oldest = readable_from(lake, dataset) if oldest is None else oldest
    known = catalog.pinned_files.versions(dataset)
    traced = catalog.pinned_files.versions(dataset, with_provenance=True) if known else set()
    reachable = [
        v for v in sorted(catalog.protected_versions(dataset)) if oldest <= v <= table.version()
    ]
    wanted = [v for v in reachable if v not in known]
    untraced = [v for v in reachable if v in known and v not in traced] if provenance else []
    facts = LineageFacts(catalog)  # reads nothing until asked
    for version in wanted + untraced:
        found = facts.provenance(dataset, version) if provenance else None
        catalog.pinned_files.record(
            _pinned(lake, dataset, version, None if found is None else found.to_json())
        )
    return wanted


def _pinned(
    lake: Lake, dataset: str, version: int, provenance: dict[str, Any] | None
) -> PinnedVersion:
    table = open_table(lake, dataset, version)
    schema = table.to_pyarrow_dataset(filesystem=lake.table_filesystem(dataset)).schema
    rows = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    files = tuple(
        {
            "path": storage_path(row["path"]),
            "size": int(row["size_bytes"]),
            "modification_time": int(row["modification_time"]),
            "partition_values": {
                k: partition_value(v) for k, v in (row.get("partition") or {}).items()
            },
            "stats": _stats(row),
        }
        for row in rows
    )
    partition_by = tuple(table.metadata().partition_columns)
    return PinnedVersion(dataset, version, schema, partition_by, files, provenance=provenance)


def _stats(row: Mapping[str, Any]) -> str:
    """Delta statistics JSON from a row of ``get_add_actions(flatten=False)``."""

    def clean(values: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: _stat(v) for k, v in (values or {}).items() if v is not None}

    return json.dumps(
        {
            "numRecords": row.get("num_records"),
            "minValues": clean(row.get("min")),
            "maxValues": clean(row.get("max")),
            "nullCount": clean(row.get("null_count")),
        },
        default=str,
    )


def _stat(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat(timespec="microseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def pinned_paths(catalog: Catalog, dataset: str, versions: set[int]) -> set[str]:
    """The files (paths under the table root) that the recorded pinned ``versions`` need:
    what vacuum must keep for pins the log no longer reaches."""
    paths: set[str] = set()
    for version in versions:
        pinned = catalog.pinned_files.find(dataset, version)
        if pinned is not None:
            paths.update(entry["path"] for entry in pinned.files)
    return paths


def rollback_to_pinned(
    catalog: Catalog,
    dataset: str,
    pinned: PinnedVersion,
    *,
    reason: str | None = None,
    metadata: Mapping[str, str] | None = None,
    table: DeltaTable | None = None,
) -> tuple[DeltaTable, int, int]:
    """Make ``pinned``'s files the live ones in one commit (what a restore does, without a log
    replay at the pinned version); raises :class:`MissingFilesError` before committing when a
    file is gone. ``table`` is the latest table when the caller has it open: the difference is
    taken against it, and delta-rs's conflict checks judge any commit that landed since, as
    for any commit. Returns the table and how many files were added and removed."""
    lake = lake_of(catalog)
    gone = missing_files(lake, dataset, (entry["path"] for entry in pinned.files))
    if gone:
        raise MissingFilesError(
            f"cannot roll {dataset} back to version {pinned.version}: {len(gone)} of its files "
            f"are gone (vacuumed or deleted); nothing was changed: {list_missing(gone)}"
        )
    table = open_table(lake, dataset) if table is None else table
    live = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    current = {storage_path(row["path"]): row for row in live}
    target = {entry["path"]: entry for entry in pinned.files}
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    # Only the difference, as a restore writes it: the Delta protocol forbids adding and
    # removing one path in the same commit (an overwrite of every file would do both).
    actions: list[AddAction | RemoveAction] = [
        AddAction(path, entry["size"], dict(entry["partition_values"]), now, True, entry["stats"])
        for path, entry in target.items()
        if path not in current
    ]
    actions += [
        RemoveAction(
            path,
            True,
            now,
            int(row["size_bytes"]),
            {k: partition_value(v) for k, v in (row.get("partition") or {}).items()},
        )
        for path, row in current.items()
        if path not in target
    ]
    custom = {USER_KEY: current_user(), ROLLBACK_TO_KEY: str(pinned.version)}
    custom.update(metadata or {})
    if reason:
        custom[REASON_KEY] = reason
    table.create_write_transaction(
        actions,
        "append",
        table.schema(),
        partition_by=list(table.metadata().partition_columns) or None,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    table.update_incremental()
    return table, len(target.keys() - current.keys()), len(current.keys() - target.keys())


def record_pins(catalog: Catalog, dataset: str) -> list[int]:
    """Record the file lists of ``dataset``'s pins that the catalog lacks; returns their
    versions. Run as a tag or release is made, so reading or rolling back to a pin never
    replays the log at its version (the cost would grow with history), and a pin made while
    maintenance trims the log cannot miss its list. Lineage provenance, which reads the whole
    log, is left to maintenance (:func:`apply_retention`), before it trims anything."""
    table = open_table(lake_of(catalog), dataset)
    return capture_pinned(catalog, dataset, table, provenance=False)
