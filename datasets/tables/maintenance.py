"""Table upkeep: compaction of small files, checkpoints, and vacuum.

Compaction rewrites many small files into fewer large ones as a ``data_change=False`` commit:
readers and ingestion positions see the same rows, only faster to read. Streaming and frequent
batch loads leave many small files (one per partition per publish); scheduled compaction keeps
reads fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from deltalake import CommitProperties, DeltaTable, WriterProperties

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import REASON_KEY, USER_KEY
from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.pins import pinned_paths
from thermocline.datasets.tables.tier_plan import folder_values
from thermocline.datasets.tables.versions import open_table, stored_files

__all__ = [
    "CompactionResult",
    "VacuumResult",
    "checkpoint",
    "compact",
    "vacuum",
    "vacuum_ledgers",
]

_LONGEST_RETENTION_HOURS = 24 * 365 * 10_000  # ten thousand years: keeps every file


@dataclass(frozen=True)
class CompactionResult:
    dataset: str
    files_removed: int
    files_added: int
    version: int | None  # None when there was nothing to compact


def compact(catalog: Catalog, dataset: str, *, target_file_mb: int = 128) -> CompactionResult:
    """Bin-pack small files into ~``target_file_mb`` zstd files, as one no-data-change commit.

    Partitions that tiering moved out of hot are left alone: rewriting a warm or cold file pays
    its class's retrieval charge and, inside its minimum days, the early-deletion charge, and
    ``tier apply`` compacted them on their way out. (delta-rs selects partitions by one
    column's values: a table partitioned by several columns, or none, is compacted whole.)"""
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    before = table.version()
    metrics = table.optimize.compact(
        partition_filters=_hot_partitions(catalog, dataset, table),
        target_size=target_file_mb * 1024 * 1024,
        writer_properties=WriterProperties(compression="ZSTD"),
        commit_properties=CommitProperties(custom_metadata={USER_KEY: current_user()}),
    )
    table.update_incremental()
    changed = table.version() != before
    result = CompactionResult(
        dataset,
        int(metrics.get("numFilesRemoved", 0)),
        int(metrics.get("numFilesAdded", 0)),
        table.version() if changed else None,
    )
    if changed:
        catalog.record(
            Event(
                "compact",
                dataset,
                result.version,
                None,
                {"files_removed": result.files_removed, "files_added": result.files_added},
            )
        )
    return result


def _hot_partitions(
    catalog: Catalog, dataset: str, table: DeltaTable
) -> list[tuple[str, str, Any]] | None:
    """A filter leaving out the partitions that hold files tiering moved out of hot (or is
    moving), when the table has one partition column; None: every partition."""
    columns = table.metadata().partition_columns
    if len(columns) != 1:
        return None
    out = {
        value
        for path, placed in catalog.tiers.placements(dataset).items()
        if "/" in path and (placed.tier != "hot" or placed.pending is not None)
        for name, value in folder_values(path.rsplit("/", 1)[0])
        if name == columns[0]
    }
    return [(columns[0], "not in", sorted(out))] if out else None


def checkpoint(lake: Lake, dataset: str) -> int:
    """Write a checkpoint at the current version (opening and time travel stay fast)."""
    table = open_table(lake, dataset)
    table.create_checkpoint()
    return table.version()


@dataclass(frozen=True)
class VacuumResult:
    dataset: str
    removed: list[str]
    kept_versions: list[int]
    dry_run: bool


def vacuum(
    catalog: Catalog,
    dataset: str,
    *,
    retention_hours: float = 168,
    dry_run: bool = False,
    reason: str | None = None,
) -> VacuumResult:
    """Delete files no version within ``retention_hours`` needs, except those of tagged or
    released versions; the removed files are logged as a ``vacuum`` event (the ledger), and
    the tier inventory records those it placed as ``gone``, whatever their tier.

    Unreferenced files younger than the retention are kept: a writer may have staged them a
    moment ago and not published yet. Zero retention is for tests and emergencies.
    """
    if not math.isfinite(retention_hours) or retention_hours < 0:
        raise InputError(
            f"retention must be 0 hours or more, not {retention_hours}; the default, 168 (a "
            "week), keeps what a reader that started recently may still need"
        )
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    kept = sorted(catalog.protected_versions(dataset))
    # Pins that log retention took out of the log: delta-rs cannot load them, so their files
    # (recorded in the catalog) are kept here, and vacuum only lists what it would remove.
    reach = readable_from(lake, dataset)
    expired = {v for v in kept if v < reach}
    keep_paths = pinned_paths(catalog, dataset, expired)
    custom = {USER_KEY: current_user(), **({REASON_KEY: reason} if reason else {})}
    stored = stored_files(lake, dataset)
    listed = table.vacuum(
        # Past any table's age the retention keeps everything; delta-rs takes 64-bit hours.
        retention_hours=min(int(retention_hours), _LONGEST_RETENTION_HOURS),
        dry_run=dry_run or bool(expired),
        enforce_retention_duration=False,
        full=True,  # also unreferenced files, such as those a crash left staged
        keep_versions=[v for v in kept if v >= reach] or None,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    # delta-rs lists old tombstones again after their files are gone: report real removals.
    removed = sorted(path for path in listed if path in stored and path not in keep_paths)
    if expired and not dry_run:
        filesystem = lake.table_filesystem(dataset)
        for path in removed:
            filesystem.delete_file(path)
    if not dry_run:
        ledger = {"files": removed, "retention_hours": retention_hours, "kept_versions": kept}
        if removed:  # the tier inventory forgets them, whatever their tier
            catalog.tiers.forget(dataset, removed, run_id=f"vacuum:{table.version()}")
        catalog.record(Event("vacuum", dataset, table.version(), reason, ledger))
    return VacuumResult(dataset, removed, kept, dry_run)


def vacuum_ledgers(catalog: Catalog, dataset: str) -> dict[int | None, list[str]]:
    """The files each vacuum of ``dataset`` removed, by the version its VACUUM commit made.

    A vacuum that removed nothing made no commit of its own, so it has no ledger here.
    """
    return {
        event.version: list(event.details.get("files", []))
        for event in catalog.events(dataset, kinds=["vacuum"])
        if event.details.get("files")
    }
