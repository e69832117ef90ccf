"""Table upkeep: compaction of small files and checkpoints (vacuum is in ``versions``).

Compaction rewrites many small files into fewer large ones as a ``data_change=False`` commit:
readers and ingestion positions see the same rows, only faster to read. Streaming and frequent
batch loads leave many small files (one per partition per publish); scheduled compaction keeps
reads fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from deltalake import CommitProperties, WriterProperties

from thermocline.catalog.catalog import Catalog, Event, current_user
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import COMMIT_USER_KEY, open_table

__all__ = ["CompactionResult", "checkpoint", "compact"]


@dataclass(frozen=True)
class CompactionResult:
    dataset: str
    files_removed: int
    files_added: int
    version: int | None  # None when there was nothing to compact


def compact(lake: Lake, dataset: str, *, target_file_mb: int = 128) -> CompactionResult:
    """Bin-pack small files into ~``target_file_mb`` zstd files, as one no-data-change commit."""
    table = open_table(lake, dataset)
    before = table.version()
    metrics = table.optimize.compact(
        target_size=target_file_mb * 1024 * 1024,
        writer_properties=WriterProperties(compression="ZSTD"),
        commit_properties=CommitProperties(custom_metadata={COMMIT_USER_KEY: current_user()}),
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
        Catalog(lake).record(
            Event(
                "compact",
                dataset,
                result.version,
                None,
                {"files_removed": result.files_removed, "files_added": result.files_added},
            )
        )
    return result


def checkpoint(lake: Lake, dataset: str) -> int:
    """Write a checkpoint at the current version (opening and time travel stay fast)."""
    table = open_table(lake, dataset)
    table.create_checkpoint()
    return table.version()
