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

Restore points (``history.restore_points``: past the log retention, a version every 15 minutes
stays readable for a day) are rows here too, with the version's commit time in
``restore_point_at`` (a later column, like ``provenance``; None for a tag's or release's row).
They are the one kind of row that is ever deleted: :meth:`PinnedFiles.forget_restore_points`
removes expired ones, so their files can be vacuumed.

>>> catalog.pinned_files.find("rides", 3).files[0]["path"]        # doctest: +SKIP
'day=2026-11-21/part-00000-....parquet'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
        ("provenance", pa.string()),  # added later: None in older rows
        ("restore_point_at", pa.timestamp("us", tz="UTC")),  # added later still: None in older
    ]
)
_PROVENANCE = "provenance"
_RESTORE_POINT_AT = "restore_point_at"
# Columns added after the table, in order, with their Delta types: an older table gains them
# (nullable) in a commit of its own on the first write that needs them.
_LATER_COLUMNS = {_PROVENANCE: "string", _RESTORE_POINT_AT: "timestamp"}


@dataclass(frozen=True)
class PinnedVersion:
    """A version's live files as its log said before retention removed the log.

    Each of ``files`` is ``{"path", "size", "modification_time", "partition_values",
    "stats"}``: ``path`` as the Delta log spells it, ``partition_values`` strings (or None) by
    column, ``stats`` Delta's statistics JSON. ``provenance``: the version's lineage facts as
    JSON-ready values (:class:`thermocline.datasets.tables.lineage_log.Provenance`), None for a
    version pinned before they were recorded. ``restore_point_at``: the version's commit time
    when only a restore point (``history.restore_points``) keeps its list, else None."""

    dataset: str
    version: int
    schema: pa.Schema
    partition_by: tuple[str, ...]
    files: tuple[dict[str, Any], ...]
    captured_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))
    provenance: dict[str, Any] | None = None
    restore_point_at: datetime | None = None


class PinnedFiles:
    """The ``_catalog/pinned_files`` table of one lake (``catalog.pinned_files``)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "pinned_files", _SCHEMA)

    def record(self, pinned: PinnedVersion) -> None:
        """Append one version's file list and provenance (one commit; one more, once, on a
        table from before the later columns)."""
        table = self._table.open()
        missing = [name for name in _LATER_COLUMNS if name not in _columns(table)]
        if missing:
            try:
                table.alter.add_columns(
                    [Field(n, PrimitiveType(_LATER_COLUMNS[n]), nullable=True) for n in missing]
                )
            except CommitFailedError:  # another process added them (or changed the table) first
                table.update_incremental()
                if any(name not in _columns(table) for name in missing):
                    raise
            else:
                table.update_incremental()
        at = pinned.restore_point_at
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
                    _RESTORE_POINT_AT: None if at is None else at.astimezone(UTC),
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
        rows = self._rows(["version"], where, needs=_PROVENANCE if with_provenance else None)
        return {row["version"] for row in rows}

    def provenance(self, dataset: str, *, before: int | None = None) -> dict[int, dict[str, Any]]:
        """The recorded provenance of ``dataset``'s pinned versions (older than ``before`` when
        given), by version."""
        where = pads.field("dataset") == dataset
        if before is not None:
            where &= pads.field("version") < before
        found: dict[int, dict[str, Any]] = {}
        for row in self._rows(["version", _PROVENANCE], where, needs=_PROVENANCE):
            if row.get(_PROVENANCE) is not None:
                found.setdefault(row["version"], json.loads(row[_PROVENANCE]))
        return found

    def find(
        self, dataset: str, version: int, *, with_provenance: bool = False
    ) -> PinnedVersion | None:
        """The recorded file list of ``dataset`` at ``version``, or None; with its provenance
        when ``with_provenance`` (reads of the version do not need it: it can be large)."""
        return self.find_many(dataset, {version}, with_provenance=with_provenance).get(version)

    def find_many(
        self, dataset: str, versions: Iterable[int], *, with_provenance: bool = False
    ) -> dict[int, PinnedVersion]:
        """:meth:`find` for each of ``versions`` that has a list, in one read, by version."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        where = (pads.field("dataset") == dataset) & pads.field("version").isin(wanted)
        columns = [n for n in _SCHEMA.names if with_provenance or n != _PROVENANCE]
        rows: dict[int, list[dict[str, Any]]] = {}
        for row in self._rows(columns, where):
            rows.setdefault(row["version"], []).append(row)
        return {version: _pinned(dataset, version, found) for version, found in rows.items()}

    def restore_points(self, dataset: str) -> dict[int, datetime]:
        """``dataset``'s restore points: the commit time of each, by version."""
        where = (pads.field("dataset") == dataset) & pads.field(_RESTORE_POINT_AT).is_valid()
        rows = self._rows(["version", _RESTORE_POINT_AT], where, needs=_RESTORE_POINT_AT)
        return {row["version"]: row[_RESTORE_POINT_AT] for row in rows}

    def restore_point_at(
        self, dataset: str, moment: datetime, *, below: int | None = None
    ) -> tuple[int, datetime] | None:
        """The newest restore point of ``dataset`` committed at or before ``moment`` (and at a
        version under ``below``, when given), as ``(version, commit time)``; None when there
        is none."""
        earlier = [
            (at, v)
            for v, at in self.restore_points(dataset).items()
            if at <= moment and (below is None or v < below)
        ]
        if not earlier:
            return None
        at, version = max(earlier)
        return version, at

    def forget_restore_points(self, dataset: str, versions: set[int]) -> bool:
        """Delete the restore-point rows of ``dataset`` at ``versions`` (one commit; a tag's or
        release's row of the same version stays). Their files are then vacuum's to remove.
        False when the delete lost a race with another commit to this table: the points stay
        until the next retention turn, which is only later than asked, never a loss."""
        table = self._table.existing()
        if not versions or table is None or _RESTORE_POINT_AT not in _columns(table):
            return True
        listed = ", ".join(str(int(v)) for v in sorted(versions))
        try:
            table.delete(
                f"dataset = '{_quoted(dataset)}' AND version IN ({listed}) "
                f"AND {_RESTORE_POINT_AT} IS NOT NULL"
            )
        except CommitFailedError:
            return False
        return True

    def _rows(
        self,
        columns: list[str],
        where: pads.Expression,
        *,
        needs: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows ``where`` holds, of the ``columns`` that the table has. A table from
        before a later column reads without it; it has none of the rows that ``needs`` (only
        rows with that column set) asks for."""
        snapshot = self._table.existing()
        if snapshot is None:
            return []
        have = _columns(snapshot)
        if needs is not None and needs not in have:
            return []
        wanted = [c for c in columns if c in have]
        rows: list[dict[str, Any]] = self._table.read(
            snapshot, columns=wanted, where=where
        ).to_pylist()
        return rows


def _pinned(dataset: str, version: int, rows: list[dict[str, Any]]) -> PinnedVersion:
    """One version's :class:`PinnedVersion` from its rows."""
    # every capture of a version holds the same files; a later one may add the provenance
    row = next((r for r in rows if r.get(_PROVENANCE) is not None), rows[0])
    text = row.get(_PROVENANCE)
    # a restore point's only while no tag's or release's row holds the version too
    kept_only_as_point = all(r.get(_RESTORE_POINT_AT) is not None for r in rows)
    return PinnedVersion(
        dataset,
        version,
        pa.ipc.read_schema(pa.py_buffer(row["schema"])),
        tuple(json.loads(row["partition_by"])),
        tuple(json.loads(row["files"])),
        row["captured_at"],
        None if text is None else json.loads(text),
        row.get(_RESTORE_POINT_AT) if kept_only_as_point else None,
    )


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _columns(table: DeltaTable) -> set[str]:
    return set(pa.schema(table.schema().to_arrow()).names)
