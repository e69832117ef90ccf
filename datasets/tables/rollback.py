"""Rollback and release rollback.

Rollback is a Delta restore preceded by a preflight that every file of the target still
exists, so a rollback that cannot complete changes nothing (DESIGN.md > Decision 5). Release
rollbacks (many datasets as one plan, under a journal) are in :mod:`.releases`.

>>> rollback(catalog, "rides", to="golden", reason="bad load")            # doctest: +SKIP
RollbackResult(dataset='rides', from_version=9, target_version=3, new_version=10, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import (
    REASON_KEY,
    ROLLBACK_TO_KEY,
    USER_KEY,
)
from thermocline.catalog.errors import MissingFilesError
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.log_reach import pinned_past_retention
from thermocline.datasets.tables.retention import rollback_to_pinned
from thermocline.datasets.tables.versions import (
    list_missing,
    live_files,
    missing_files,
    open_table,
    resolve_version,
    stored_files,
)

__all__ = [
    "RollbackResult",
    "missing_files",
    "rollback",
]


@dataclass(frozen=True)
class RollbackResult:
    dataset: str
    from_version: int
    target_version: int
    new_version: int | None  # None: a dry run, or already at the target
    files_added: int = 0
    files_removed: int = 0


def rollback(
    catalog: Catalog,
    dataset: str,
    to: int | str | datetime,
    *,
    dry_run: bool = False,
    reason: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> RollbackResult:
    """Restore ``dataset`` to the version ``to`` names (number, tag or time) as a new version.

    The preflight makes sure every file of the target exists, else raises
    :class:`MissingFilesError` listing those that do not, and that tiering archived none of
    them, else raises :class:`ArchivedFilesError` naming them and the restore command; either
    way nothing changes. A rollback is itself a version, so rolling back a rollback works the
    same way.
    """
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    current = table.version()
    target = resolve_version(catalog, dataset, to, table=table, tiers=True)
    pinned = pinned_past_retention(catalog, dataset, target, table)
    if pinned is None and target != current:  # a pin the log still reaches: its list is faster
        pinned = _same_schema(table, catalog.pinned_files.find(dataset, target))
    if pinned is not None:  # the pin's recorded files, in one commit, not a restore
        return _to_pinned(catalog, dataset, table, pinned, dry_run, reason, metadata)
    if dry_run or target == current:
        return _plan(lake, dataset, table, target)
    # The target's files are the current ones it keeps plus the ones it adds back. Here we check
    # the current ones; delta-rs's restore checks the ones it adds back before it commits. So the
    # target version is loaded once (by restore), which matters on tables with long logs.
    stored = stored_files(lake, dataset)
    if any(a["path"] not in stored for a in live_files(table)):
        _plan(lake, dataset, table, target)  # raises if a file the target needs is gone
    custom = {
        USER_KEY: current_user(),
        ROLLBACK_TO_KEY: str(target),
        **dict(metadata or {}),
    }
    if reason:
        custom[REASON_KEY] = reason
    try:
        metrics = table.restore(target, commit_properties=CommitProperties(custom_metadata=custom))
    except DeltaError as error:
        if "missing file" not in str(error).lower():
            raise
        _plan(lake, dataset, table, target)  # names every missing file; nothing was committed
        raise
    table.update_incremental()
    result = RollbackResult(
        dataset,
        current,
        target,
        table.version(),
        files_added=metrics.get("numRestoredFile", 0),
        files_removed=metrics.get("numRemovedFile", 0),
    )
    _record(catalog, result, reason, metadata)
    return result


def _record(
    catalog: Catalog, result: RollbackResult, reason: str | None, metadata: Mapping[str, str] | None
) -> None:
    catalog.record(
        Event(
            "rollback",
            result.dataset,
            result.new_version,
            reason,
            {"from": result.from_version, "to": result.target_version, **dict(metadata or {})},
        )
    )


def _same_schema(table: DeltaTable, pinned: PinnedVersion | None) -> PinnedVersion | None:
    """``pinned`` when its schema is the table's current one, else None: a restore also brings
    back an older schema, which a commit of the pin's files cannot (it keeps the current one),
    so a version the log still reaches with another schema is restored by delta-rs."""
    if pinned is None:
        return None
    current = pa.schema(table.schema().to_arrow())
    return pinned if current.equals(pinned.schema, check_metadata=False) else None


def _to_pinned(
    catalog: Catalog,
    dataset: str,
    table: DeltaTable,
    pinned: PinnedVersion,
    dry_run: bool,
    reason: str | None,
    metadata: Mapping[str, str] | None,
) -> RollbackResult:
    """Roll back to a pinned version from its recorded file list: one commit that removes the
    current files it lacks and adds back those it has, with no log replay at the target (the
    only way once log retention removed it)."""
    current = table.version()
    if dry_run:
        lake = lake_of(catalog)
        target_files = {entry["path"] for entry in pinned.files}
        current_files = {a["path"] for a in live_files(table)}
        missing = missing_files(lake, dataset, target_files)
        if missing:
            raise MissingFilesError(
                f"cannot roll {dataset} back to version {pinned.version}: {len(missing)} of its "
                f"files are gone (vacuumed or deleted); nothing was changed: "
                f"{list_missing(missing)}"
            )
        added, removed = len(target_files - current_files), len(current_files - target_files)
        return RollbackResult(dataset, current, pinned.version, None, added, removed)
    table, added, removed = rollback_to_pinned(
        catalog, dataset, pinned, reason=reason, metadata=metadata, table=table
    )
    result = RollbackResult(dataset, current, pinned.version, table.version(), added, removed)
    _record(catalog, result, reason, metadata)
    return result


def _plan(lake: Lake, dataset: str, table: DeltaTable, target: int) -> RollbackResult:
    """What rolling back to ``target`` would change; raises if any of its files is gone."""
    target_files = {a["path"] for a in live_files(open_table(lake, dataset, target))}
    current_files = {a["path"] for a in live_files(table)}
    missing = missing_files(lake, dataset, target_files)
    if missing:
        raise MissingFilesError(
            f"cannot roll {dataset} back to version {target}: {len(missing)} of its files are "
            f"gone (vacuumed or deleted); nothing was changed. Pick a newer version or restore "
            f"these files: {list_missing(missing)}"
        )
    return RollbackResult(
        dataset,
        table.version(),
        target,
        None,
        files_added=len(target_files - current_files),
        files_removed=len(current_files - target_files),
    )
