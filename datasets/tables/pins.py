"""Pinned versions: the file list (and lineage provenance) of each tagged or released version,
kept in the catalog so reading, rolling back to or tracing a pin never replays the log at its
version, and log retention cannot make it unreadable (DESIGN.md > Decision 14).

- :func:`pin_version` records one version's file list *before* a tag or release points at it
  (``thermocline tag``, ``release create``, a model's training tag): a few reads, whatever the
  history; once the list exists, a cleanup that races the tag cannot strand it.
- :func:`capture_pinned` (maintenance, before it trims the log) records what the catalog lacks
  for every pin, with the lineage provenance that needs one read of the whole kept log.
- :func:`pinned_paths` is what vacuum keeps for pins the log no longer reaches.

>>> pin_version(catalog, "rides", 3).files[0]["path"]                 # doctest: +SKIP
'day=2026-11-21/part-00000-....parquet'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.lineage_facts import LineageFacts
from thermocline.datasets.tables.log_reach import pinned_past_retention, readable_from
from thermocline.datasets.tables.staging import partition_value
from thermocline.datasets.tables.versions import open_table, storage_path

__all__ = ["capture_pinned", "file_list", "pin_version", "pinned_paths"]


def pin_version(catalog: Catalog, dataset: str, version: int) -> PinnedVersion:
    """The recorded file list of ``dataset@version``, recording it first when the catalog lacks
    it (no provenance: maintenance adds that). Call it before pointing a tag or release at the
    version. Raises :class:`~thermocline.catalog.errors.ExpiredVersionError` when log retention
    removed the version and nothing kept its list."""
    known = catalog.pinned_files.find(dataset, version)
    if known is not None and known.restore_point_at is not None:
        # A restore point's row goes when the point expires: the pin gets a row of its own.
        known = dataclasses.replace(known, restore_point_at=None)
        catalog.pinned_files.record(known)
    if known is not None:
        return known
    pinned_past_retention(catalog, dataset, version)  # raises when retention removed it
    try:
        pinned = file_list(lake_of(catalog), dataset, version, None)
    except DeltaError:
        if version < readable_from(lake_of(catalog), dataset):  # cleanup ran since the check
            pinned_past_retention(catalog, dataset, version)
        raise
    catalog.pinned_files.record(pinned)
    return pinned


def capture_pinned(
    catalog: Catalog,
    dataset: str,
    table: DeltaTable,
    *,
    oldest: int | None = None,
) -> list[int]:
    """Record the live files and lineage provenance of each pinned version of ``dataset`` that
    the catalog lacks and the log still reaches (``oldest`` and newer); returns those versions.
    A pin recorded before provenance was gets it now, while the log still reaches it.

    The provenance is what lineage replays of the version from the log (one read of the log,
    only when something is to be recorded: :meth:`.lineage_facts.LineageFacts.provenance`).
    A list :func:`pin_version` recorded (files only) gets its provenance here too."""
    lake = lake_of(catalog)
    oldest = readable_from(lake, dataset) if oldest is None else oldest
    known = catalog.pinned_files.versions(dataset)
    traced = catalog.pinned_files.versions(dataset, with_provenance=True) if known else set()
    reachable = [
        v for v in sorted(catalog.protected_versions(dataset)) if oldest <= v <= table.version()
    ]
    wanted = [v for v in reachable if v not in known]
    untraced = [v for v in reachable if v in known and v not in traced]
    facts = LineageFacts(catalog)  # reads nothing until asked
    # A restore point's second row (with the provenance) is a restore point's row too, so that
    # forgetting the point (PinnedFiles.forget_restore_points) forgets both.
    points = catalog.pinned_files.restore_points(dataset) if untraced else {}
    for version in wanted + untraced:
        found = facts.provenance(dataset, version)
        provenance = None if found is None else found.to_json()
        listed = file_list(lake, dataset, version, provenance, table=table)
        catalog.pinned_files.record(
            dataclasses.replace(listed, restore_point_at=points.get(version))
        )
    return wanted


def file_list(
    lake: Lake,
    dataset: str,
    version: int,
    provenance: dict[str, Any] | None,
    *,
    table: DeltaTable | None = None,
) -> PinnedVersion:
    """``dataset@version``'s live files, schema and partitioning as the catalog keeps them;
    ``table``, when it is open at that version already, spares opening it."""
    if table is None or table.version() != version:
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
