"""Rollback and release rollback.

Rollback is a Delta restore preceded by a preflight that every file of the target still
exists, so a rollback that cannot complete changes nothing (DESIGN.md > Decision 5). Release
rollbacks run under a journal in the catalog and resume after a crash.

>>> rollback(catalog, "rides", to="golden", reason="bad load")            # doctest: +SKIP
RollbackResult(dataset='rides', from_version=9, target_version=3, new_version=10, ...)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, Event, JournalStep, current_user, lake_of
from thermocline.catalog.commits import (
    JOURNAL_KEY,
    REASON_KEY,
    RELEASE_KEY,
    ROLLBACK_TO_KEY,
    USER_KEY,
)
from thermocline.catalog.errors import MissingFilesError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import (
    list_missing,
    live_files,
    missing_files,
    open_table,
    resolve_version,
    stored_files,
)

__all__ = [
    "ReleaseRollbackResult",
    "RollbackResult",
    "missing_files",
    "release_rollback",
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
    :class:`MissingFilesError` listing those that do not, and nothing changes. A rollback is
    itself a version, so rolling back a rollback works the same way.
    """
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    current = table.version()
    target = resolve_version(catalog, dataset, to, table=table)
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
    catalog.record(
        Event(
            "rollback",
            dataset,
            result.new_version,
            reason,
            {"from": current, "to": target, **dict(metadata or {})},
        )
    )
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


@dataclass(frozen=True)
class ReleaseRollbackResult:
    release: str
    journal_id: str
    rolled_back: list[RollbackResult]
    resumed: bool


def release_rollback(
    catalog: Catalog,
    name: str,
    *,
    reason: str | None = None,
    on_restored: Callable[[RollbackResult], None] | None = None,
) -> ReleaseRollbackResult:
    """Restore every dataset of release ``name`` to its version, under a journal.

    The journal (in the catalog) lists the planned datasets and each one restored. Run again
    after a crash, it resumes the open journal: a dataset whose restore committed (its last
    commit carries the journal id) is not restored twice. ``on_restored`` is called after each
    dataset, e.g. to report progress.
    """
    lake = lake_of(catalog)
    release = catalog.release(name)
    steps = catalog.journal(name)
    resumed = bool(steps) and not any(s.step == "finished" for s in steps)
    if resumed:
        journal_id = steps[0].journal_id
    else:
        journal_id = uuid.uuid4().hex
        steps = [
            JournalStep(journal_id, name, d, v, "planned", None)
            for d, v in sorted(release.versions.items())
        ]
        catalog.write_journal(steps)
    done = {s.dataset for s in steps if s.step == "restored"}
    results = []
    for step in (s for s in steps if s.step == "planned" and s.dataset not in done):
        result = _restored_by_journal(lake, step) or rollback(
            catalog,
            step.dataset,
            step.target_version,
            reason=reason or f"release rollback {name}",
            metadata={JOURNAL_KEY: journal_id, RELEASE_KEY: name},
        )
        catalog.write_journal(
            [
                JournalStep(
                    journal_id,
                    name,
                    step.dataset,
                    step.target_version,
                    "restored",
                    result.new_version,
                )
            ]
        )
        results.append(result)
        if on_restored is not None:
            on_restored(result)
    catalog.write_journal([JournalStep(journal_id, name, "", 0, "finished", None)])
    catalog.record(
        Event(
            "release_rollback",
            None,
            None,
            reason,
            {"release": name, "journal": journal_id, "resumed": resumed},
        )
    )
    return ReleaseRollbackResult(name, journal_id, results, resumed)


def _restored_by_journal(lake: Lake, step: JournalStep) -> RollbackResult | None:
    """The restore this journal already committed for ``step`` (crash before the journal
    write), found by the journal id in the table's newest commit."""
    newest = open_table(lake, step.dataset).history(1)[0]
    if newest.get(JOURNAL_KEY) != step.journal_id:
        return None
    version = int(newest["version"])
    return RollbackResult(step.dataset, version - 1, step.target_version, version)
