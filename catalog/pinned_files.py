"""The file lists of pinned versions, kept so log retention cannot make a tag unreadable.

Log retention (``cleanup_metadata``) deletes the Delta log's commit files older than the
retention and older than the latest checkpoint, and with them every older checkpoint: a
checkpoint kept at a tagged version does not survive (verified with deltalake 1.6.6). So
before cleanup, maintenance records here each tagged or released version's live files (path as
the log spells it, size, modification time, partition values, statistics), its Arrow schema and
partitioning: one row per (dataset, version) in ``_catalog/pinned_files``. Reading a pinned
version past retention builds the same pyarrow dataset delta-rs would from that list, and a
rollback commits it back (:mod:`thermocline.datasets.tables.retention`). Vacuum keeps these
files like any pinned version's.

>>> catalog.pinned_files.find("rides", 3).files[0]["path"]        # doctest: +SKIP
'day=2026-11-21/part-00000-....parquet'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = ["PinnedFiles", "PinnedVersion"]

_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("schema", pa.binary()),
        ("partition_by", pa.string()),
        ("files", pa.string()),
        ("captured_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class PinnedVersion:
    """A version's live files as its log said before retention removed the log.

    Each of ``files`` is ``{"path", "size", "modification_time", "partition_values",
    "stats"}``: ``path`` as the Delta log spells it, ``partition_values`` strings (or None) by
    column, ``stats`` Delta's statistics JSON."""

    dataset: str
    version: int
    schema: pa.Schema
    partition_by: tuple[str, ...]
    files: tuple[dict[str, Any], ...]
    captured_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


class PinnedFiles:
    """The ``_catalog/pinned_files`` table of one lake (``catalog.pinned_files``)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "pinned_files", _SCHEMA)

    def record(self, pinned: PinnedVersion) -> None:
        """Append one version's file list (one commit)."""
        self._table.append(
            [
                {
                    "dataset": pinned.dataset,
                    "version": pinned.version,
                    "schema": pinned.schema.serialize().to_pybytes(),
                    "partition_by": json.dumps(list(pinned.partition_by)),
                    "files": json.dumps(list(pinned.files)),
                    "captured_at": pinned.captured_at.astimezone(UTC),
                }
            ]
        )

    def versions(self, dataset: str) -> set[int]:
        """The versions of ``dataset`` whose file list is recorded."""
        rows = self._table.read(columns=["version"], where=pads.field("dataset") == dataset)
        return set(rows["version"].to_pylist())

    def find(self, dataset: str, version: int) -> PinnedVersion | None:
        """The recorded file list of ``dataset`` at ``version``, or None."""
        where = (pads.field("dataset") == dataset) & (pads.field("version") == version)
        rows = self._table.read(where=where).to_pylist()
        if not rows:
            return None
        row = rows[0]  # every capture of a version holds the same files: the first is enough
        return PinnedVersion(
            dataset,
            version,
            pa.ipc.read_schema(pa.py_buffer(row["schema"])),
            tuple(json.loads(row["partition_by"])),
            tuple(json.loads(row["files"])),
            row["captured_at"],
        )
