"""Rollback and release rollback.

Rollback is a Delta restore preceded by a preflight that every file of the target still
exists, so a rollback that cannot complete changes nothing (DESIGN.md > Decision 5). To a
tagged or released version it is one commit of the difference from the pin's recorded file
list (:func:`rollback_to_pinned`): no log replay at the target, and the only way once log
retention removed it. Release rollbacks (many datasets as one plan, under a journal) are in
:mod:`.releases`.

>>> rollback(catalog, "rides", to="golden", reason="bad load")            # doctest: +SKIP
RollbackResult(dataset='rides', from_version=9, target_version=3, new_version=10, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, RemoveAction

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import (
    REASON_KEY,
    ROLLBACK_TO_KEY,
    USER_KEY,
)
from thermocline.catalog.errors import CommitConflictError, MissingFilesError
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.staging import partition_value
from thermocline.datasets.tables.versions import (
    list_missing,
    live_files,
    missing_files,
    open_table,
    resolve_pinned,
    storage_path,
    stored_files,
)

__all__ = [
    "PIN_COMMIT_ATTEMPTS",
    "RollbackResult",
    "missing_files",
    "rollback",
    "rollback_to_pinned",
]

PIN_COMMIT_ATTEMPTS = 3
"""Snapshots a rollback to a pin's file list tries before it gives up to concurrent writers."""


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
    target, pinned = resolve_pinned(catalog, dataset, to, table=table, tiers=True)
    if target == current:
        pinned = None  # nothing to commit
    elif pinned is not None and target >= readable_from(lake, dataset):
        pinned = _same_schema(table, pinned)  # the log reaches it: restore brings back a schema
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
        _require_pinned_files(lake_of(catalog), dataset, pinned)
        target_files = {entry["path"] for entry in pinned.files}
        current_files = {a["path"] for a in live_files(table)}
        added, removed = len(target_files - current_files), len(current_files - target_files)
        return RollbackResult(dataset, current, pinned.version, None, added, removed)
    table, added, removed = rollback_to_pinned(
        catalog, dataset, pinned, reason=reason, metadata=metadata, table=table
    )
    result = RollbackResult(dataset, current, pinned.version, table.version(), added, removed)
    _record(catalog, result, reason, metadata)
    return result


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
    file is gone. ``table`` is the latest table when the caller has it open. Returns the table
    and how many files were added and removed.

    The difference is taken against one snapshot and committed with no automatic retry: a
    rebased commit would keep what a concurrent writer added since (a Kafka micro-batch, a
    compaction's new files) and still call itself a rollback to ``pinned``. A lost race takes
    a fresh snapshot, up to :data:`PIN_COMMIT_ATTEMPTS` times."""
    lake = lake_of(catalog)
    _require_pinned_files(lake, dataset, pinned)
    table = open_table(lake, dataset) if table is None else table
    custom = {USER_KEY: current_user(), ROLLBACK_TO_KEY: str(pinned.version)}
    custom.update(metadata or {})
    if reason:
        custom[REASON_KEY] = reason
    target = {entry["path"]: entry for entry in pinned.files}
    for attempt in range(PIN_COMMIT_ATTEMPTS):
        if attempt:
            table.update_incremental()
        live = pa.table(table.get_add_actions(flatten=False)).to_pylist()
        current = {storage_path(row["path"]): row for row in live}
        try:
            table.create_write_transaction(
                _difference(current, target),
                "append",
                table.schema(),
                partition_by=list(table.metadata().partition_columns) or None,
                commit_properties=CommitProperties(custom_metadata=custom, max_commit_retries=0),
            )
        except CommitFailedError:
            continue  # another writer committed since the snapshot: take the difference again
        table.update_incremental()
        return table, len(target.keys() - current.keys()), len(current.keys() - target.keys())
    raise CommitConflictError(
        f"cannot roll {dataset} back to version {pinned.version}: other writers committed "
        f"during each of {PIN_COMMIT_ATTEMPTS} attempts; nothing was changed; run it again "
        "(or stop the writers first)",
        fix="run the rollback again",
    )


def _require_pinned_files(lake: Lake, dataset: str, pinned: PinnedVersion) -> None:
    """Raise :class:`MissingFilesError` naming the files of ``pinned`` that are gone."""
    gone = missing_files(lake, dataset, (entry["path"] for entry in pinned.files))
    if gone:
        raise MissingFilesError(
            f"cannot roll {dataset} back to version {pinned.version}: {len(gone)} of its files "
            f"are gone (vacuumed or deleted); nothing was changed: {list_missing(gone)}"
        )


def _difference(
    current: Mapping[str, Mapping[str, Any]], target: Mapping[str, Mapping[str, Any]]
) -> list[AddAction | RemoveAction]:
    """The actions that turn ``current`` (live files by path) into ``target`` (a pin's files):
    only the difference, as a restore writes it; the Delta protocol forbids adding and removing
    one path in the same commit (an overwrite of every file would do both)."""
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
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
    return actions


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
