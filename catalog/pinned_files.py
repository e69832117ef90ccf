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

Lineage needs the removed commits too, so each row also carries the version's provenance
(``provenance``: JSON, what :mod:`thermocline.datasets.tables.lineage_log` replayed of it; this
module stores it without reading it). The column came after the table: rows written before it
read with no provenance, and the first write to an older table adds the column (nullable)
in a commit of its own; a version pinned before it gets a second row that carries it.

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
from deltalake import DeltaTable, Field
from deltalake.exceptions import CommitFailedError
from deltalake.schema import PrimitiveType

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
        ("provenance", pa.string()),  # added later (last): None in older rows
    ]
)
_PROVENANCE = "provenance"


@dataclass(frozen=True)
class PinnedVersion:
    """A version's live files as its log said before retention removed the log.

    Each of ``files`` is ``{"path", "size", "modification_time", "partition_values",
    "stats"}``: ``path`` as the Delta log spells it, ``partition_values`` strings (or None) by
    column, ``stats`` Delta's statistics JSON. ``provenance``: the version's lineage facts as
    JSON-ready values (:class:`thermocline.datasets.tables.lineage_log.Provenance`), None for a
    version pinned before they were recorded."""

    dataset: str
    version: int
    schema: pa.Schema
    partition_by: tuple[str, ...]
    files: tuple[dict[str, Any], ...]
    captured_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    provenance: dict[str, Any] | None = None


class PinnedFiles:
    """The ``_catalog/pinned_files`` table of one lake (``catalog.pinned_files``)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "pinned_files", _SCHEMA)

    def record(self, pinned: PinnedVersion) -> None:
        """Append one version's file list and provenance (one commit; one more, once, on a
        table from before the provenance column)."""
        table = self._table.open()
        if _PROVENANCE not in _columns(table):
            try:
                table.alter.add_columns(
                    [Field(_PROVENANCE, PrimitiveType("string"), nullable=True)]
                )
            except CommitFailedError:  # another process added it (or changed the table) first
                table.update_incremental()
                if _PROVENANCE not in _columns(table):
                    raise
            else:
                table.update_incremental()
        self._table.append(
            [
                {
                    "dataset": pinned.dataset,
                    "version": pinned.version,
                    "schema": pinned.schema.serialize().to_pybytes(),
                    "partition_by": json.dumps(list(pinned.partition_by)),
                    "files": json.dumps(list(pinned.files)),
                    "captured_at": pinned.captured_at.astimezone(UTC),
                    _PROVENANCE: None
                    if pinned.provenance is None
                    else json.dumps(pinned.provenance),
                }
            ],
            snapshot=table,
        )

    def versions(self, dataset: str, *, with_provenance: bool = False) -> set[int]:
        """The versions of ``dataset`` whose file list is recorded (and, with
        ``with_provenance``, their provenance too)."""
        where = pads.field("dataset") == dataset
        if with_provenance:
            where &= pads.field(_PROVENANCE).is_valid()
        rows = self._rows(["version"], where, provenance=with_provenance)
        return {row["version"] for row in rows}

    def provenance(self, dataset: str, *, before: int | None = None) -> dict[int, dict[str, Any]]:
        """The recorded provenance of ``dataset``'s pinned versions (older than ``before`` when
        given), by version."""
        where = pads.field("dataset") == dataset
        if before is not None:
            where &= pads.field("version") < before
        found: dict[int, dict[str, Any]] = {}
        for row in self._rows(["version", _PROVENANCE], where, provenance=True):
            if row.get(_PROVENANCE) is not None:
                found.setdefault(row["version"], json.loads(row[_PROVENANCE]))
        return found

    def find(
        self, dataset: str, version: int, *, with_provenance: bool = False
    ) -> PinnedVersion | None:
        """The recorded file list of ``dataset`` at ``version``, or None; with its provenance
        when ``with_provenance`` (reads of the version do not need it: it can be large)."""
        where = (pads.field("dataset") == dataset) & (pads.field("version") == version)
        columns = _SCHEMA.names if with_provenance else _SCHEMA.names[:-1]
        rows = self._rows(columns, where)
        if not rows:
            return None
        # every capture of a version holds the same files; a later one may add the provenance
        row = next((r for r in rows if r.get(_PROVENANCE) is not None), rows[0])
        text = row.get(_PROVENANCE)
        return PinnedVersion(
            dataset,
            version,
            pa.ipc.read_schema(pa.py_buffer(row["schema"])),
            tuple(json.loads(row["partition_by"])),
            tuple(json.loads(row["files"])),
            row["captured_at"],
            None if text is None else json.loads(text),
        )

    def _rows(
        self, columns: list[str], where: pads.Expression, *, provenance: bool = False
    ) -> list[dict[str, Any]]:
        """Rows ``where`` holds, of the ``columns`` that the table has. A table from
        before the provenance column reads without it; it has none of the rows that
        ``provenance`` (only rows with a provenance) asks for."""
        snapshot = self._table.existing()
        if snapshot is None:
            return []
        have = _columns(snapshot)
        if provenance and _PROVENANCE not in have:
            return []
        wanted = [c for c in columns if c in have]
        rows: list[dict[str, Any]] = self._table.read(
            snapshot, columns=wanted, where=where
        ).to_pylist()
        return rows


def _columns(table: DeltaTable) -> set[str]:
    return set(pa.schema(table.schema().to_arrow()).names)
