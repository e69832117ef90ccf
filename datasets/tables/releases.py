"""Releases: create one over versions whose files exist, and roll one back as one plan.

A release rollback first preflights every dataset (its table exists, its target version's log
and schema read, every file of that version is in storage) and changes nothing unless all
pass. It then writes its plan to the journal (``catalog.journal``: each dataset's version
before and its target) and restores the datasets one by one, journaling each. A failure or
crash part-way leaves the journal unfinished: ``resume=True`` takes every dataset to the release
state, ``abort=True`` puts every dataset it restored back to the version it had before, and no
other release rollback starts meanwhile (DESIGN.md > Decision 5). The deciding is in
:mod:`.release_plan`; this module does the IO.

>>> release_rollback(catalog, "2026-11", dry_run=True).actions           # doctest: +SKIP
[PlanStep(dataset='rides', from_version=9, target_version=3, files_checked=4)]
>>> release_rollback(catalog, "2026-11", reason="bad week")              # doctest: +SKIP
>>> release_rollback(catalog, "2026-11", resume=True)  # after a crash   # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, Event, Release, lake_of
from thermocline.catalog.commits import JOURNAL_KEY, JOURNAL_STEP_KEY, RELEASE_KEY
from thermocline.catalog.errors import (
    DatasetNotFoundError,
    ExpiredVersionError,
    InputError,
    NoRollbackInProgressError,
    ReleasePreflightError,
)
from thermocline.catalog.journal import (
    ABORTED,
    FINISHED,
    PLANNED,
    JournalStep,
    in_progress,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.faults import fault_point
from thermocline.datasets.tables.log_reach import pinned_past_retention
from thermocline.datasets.tables.pins import pin_version
from thermocline.datasets.tables.release_plan import (
    RESTORED,
    UNDONE,
    DatasetCheck,
    PlanStep,
    dataset_state,
    plan_release_rollback,
    refuse,
    remaining,
)
from thermocline.datasets.tables.rollback import RollbackResult, rollback
from thermocline.datasets.tables.versions import (
    archived_of,
    erased_by,
    erasures,
    live_files,
    missing_files,
    open_table,
    ranges_text,
)

__all__ = ["ReleaseRollbackResult", "create_release", "preflight", "release_rollback"]


@dataclass(frozen=True)
class ReleaseRollbackResult:
    """What a release rollback did (or, on a dry run, would do).

    ``actions`` are the datasets it changes, each from its current version to the version it
    goes to (the release's, or on an abort the one it had before); ``rolled_back`` the
    restores it committed.
    """

    release: str
    journal_id: str | None
    actions: list[PlanStep]
    rolled_back: list[RollbackResult]
    resumed: bool = False
    aborted: bool = False
    dry_run: bool = False


def preflight(
    catalog: Catalog, targets: Mapping[str, int], *, tiers: bool = True
) -> list[DatasetCheck]:
    """Check every ``{dataset: version}`` can be restored, changing nothing: no erasure made
    the version unreadable, the table exists, the version exists and its log and schema read,
    every file it needs is in storage and, with ``tiers``, none is archived (a release may
    pin an archived version; rolling back to it needs ``thermocline tier restore`` first)."""
    return [
        _erased(catalog, dataset, version) or _check(catalog, dataset, version, tiers)
        for dataset, version in sorted(targets.items())
    ]


def _erased(catalog: Catalog, dataset: str, target: int) -> DatasetCheck | None:
    """A failed check when an erasure made ``target`` unreadable (it names the erasure)."""
    erasure = erased_by(erasures(catalog, dataset), target)
    if erasure is None:
        return None
    problem = (
        f"{erasure.describe()} made versions {ranges_text(erasure.broken)} unreadable "
        "(right to be forgotten)"
    )
    return DatasetCheck(dataset, None, target, problem=problem)


def _check(catalog: Catalog, dataset: str, target: int, tiers: bool) -> DatasetCheck:
    lake = lake_of(catalog)
    try:
        latest = open_table(lake, dataset)
    except DatasetNotFoundError:
        return DatasetCheck(dataset, None, target, problem="the dataset has no table any more")
    current = latest.version()
    if not 0 <= target <= current:
        problem = f"no such version (its versions are 0..{current})"
        return DatasetCheck(dataset, current, target, problem=problem)
    try:  # past log retention: a pin's recorded files, else refused
        pinned = pinned_past_retention(catalog, dataset, target, latest)
    except ExpiredVersionError as error:
        return DatasetCheck(dataset, current, target, problem=str(error))
    if pinned is not None:
        files = [entry["path"] for entry in pinned.files]
        gone = missing_files(lake, dataset, files)
        return DatasetCheck(dataset, current, target, len(files), tuple(gone), None, ())
    try:
        table = open_table(lake, dataset, target)
        table.schema().to_arrow()
        files = [a["path"] for a in live_files(table)]
    except (DeltaError, OSError) as error:
        problem = f"its log or schema cannot be read ({error})"
        return DatasetCheck(dataset, current, target, problem=problem)
    gone = missing_files(lake, dataset, files)
    archived = archived_of(catalog, dataset, target, table=table) if tiers else []
    return DatasetCheck(dataset, current, target, len(files), tuple(gone), None, tuple(archived))


def create_release(
    catalog: Catalog, name: str, versions: Mapping[str, int], reason: str | None = None
) -> Release:
    """Record release ``name`` = ``versions`` after checking every file of every version is
    still in storage; a release over a vacuumed version could never be rolled back to, so it
    is refused (:class:`ReleasePreflightError` listing the missing files). A version whose
    files tiering archived is accepted: they exist, and a restore makes them readable."""
    refuse(
        f"cannot create release {name}",
        preflight(catalog, versions, tiers=False),
        "pick versions whose files all exist (see `thermocline history DATASET`)",
    )
    for dataset, version in versions.items():  # file lists first: reads skip the log, and
        pin_version(catalog, dataset, version)  # a cleanup racing the release cannot strand it
    return catalog.create_release(name, versions, reason)


def release_rollback(
    catalog: Catalog,
    name: str,
    *,
    resume: bool = False,
    abort: bool = False,
    dry_run: bool = False,
    reason: str | None = None,
    on_restored: Callable[[RollbackResult], None] | None = None,
) -> ReleaseRollbackResult:
    """Roll every dataset of release ``name`` back to its version, as one plan.

    Refused while a release rollback is unfinished; ``resume=True`` finishes that one and
    ``abort=True`` undoes it. ``dry_run`` preflights and returns the actions, changing nothing.
    ``on_restored`` is called after each dataset, e.g. to report progress.
    """
    if resume and abort:
        raise InputError("pick one of --resume (finish the rollback) and --abort (undo it)")
    if resume or abort:
        return _continue(catalog, name, abort, dry_run, reason, on_restored)
    if busy := catalog.journal.unfinished():
        raise in_progress(busy[0])
    release = catalog.release(name)
    plan = plan_release_rollback(name, preflight(catalog, release.versions))
    if dry_run:
        return ReleaseRollbackResult(name, None, list(plan.steps), [], dry_run=True)
    journal_id = uuid.uuid4().hex
    catalog.journal.open(
        JournalStep(journal_id, name, s.dataset, PLANNED, s.from_version, s.target_version)
        for s in plan.steps
    )
    fault_point("release-rollback:after-plan")
    steps = list(plan.steps)
    done = _apply(catalog, name, journal_id, steps, "restore", reason, on_restored)
    return _close(catalog, name, journal_id, steps, done, resumed=False, aborted=False, why=reason)


def _continue(
    catalog: Catalog,
    name: str,
    abort: bool,
    dry_run: bool,
    reason: str | None,
    on_restored: Callable[[RollbackResult], None] | None,
) -> ReleaseRollbackResult:
    """Resume or abort the unfinished journal of release ``name``."""
    journal = catalog.journal.unfinished()
    if not journal or journal[0].release != name:
        other = f" (the unfinished one is of release {journal[0].release})" if journal else ""
        raise NoRollbackInProgressError(
            f"release {name} has no unfinished rollback to "
            f"{'abort' if abort else 'resume'}{other}; "
            f"start one with `thermocline release rollback {name}`"
        )
    journal_id = journal[0].journal_id
    planned = [
        PlanStep(s.dataset, s.from_version or 0, s.target_version or 0, 0)
        for s in journal
        if s.step == PLANNED
    ]
    states = _states(lake_of(catalog), journal, planned)
    todo = remaining(planned, states, abort=abort)
    checks = preflight(catalog, {s.dataset: s.target_version for s in todo})
    verb = "abort" if abort else "resume"
    refuse(
        f"cannot {verb} the rollback of release {name}",
        checks,
        "restore the files or the datasets and run it again"
        + ("" if abort else ", or undo the rollback with --abort"),
    )
    actions = [
        PlanStep(c.dataset, c.current_version or 0, c.target_version, c.files_checked)
        for c in checks
    ]
    if dry_run:
        return ReleaseRollbackResult(name, journal_id, actions, [], True, abort, True)
    step = "undo" if abort else "restore"
    done = _apply(catalog, name, journal_id, actions, step, reason, on_restored)
    return _close(catalog, name, journal_id, actions, done, resumed=True, aborted=abort, why=reason)


def _states(
    lake: Lake, journal: Sequence[JournalStep], planned: Sequence[PlanStep]
) -> dict[str, str]:
    """Where the journal left each planned dataset, from its rows and the table's commits."""
    states = {}
    for step in planned:
        recorded = [
            (s.step, s.new_version)
            for s in journal
            if s.dataset == step.dataset and s.step in (RESTORED, UNDONE)
        ]
        try:
            newest = _journal_commit(lake, step.dataset, journal[0].journal_id, step.from_version)
        except DatasetNotFoundError:
            raise ReleasePreflightError(
                f"cannot continue the rollback of release {journal[0].release}: {step.dataset} "
                "has no table any more; restore it and run again"
            ) from None
        states[step.dataset] = dataset_state(recorded, newest)
    return states


def _journal_commit(
    lake: Lake, dataset: str, journal_id: str, since: int
) -> tuple[str, int] | None:
    """The (step, version) of the newest commit after ``since`` that this journal made."""
    table = open_table(lake, dataset)
    newer = table.version() - since
    for entry in table.history(newer) if newer > 0 else []:
        if entry.get(JOURNAL_KEY) == journal_id:
            return str(entry.get(JOURNAL_STEP_KEY, "restore")), int(entry["version"])
    return None


def _apply(
    catalog: Catalog,
    name: str,
    journal_id: str,
    actions: Sequence[PlanStep],
    step: str,
    reason: str | None,
    on_restored: Callable[[RollbackResult], None] | None,
) -> list[RollbackResult]:
    """Restore each dataset of ``actions`` to its target and journal it, one by one."""
    phase = "release-abort" if step == "undo" else "release-rollback"
    row = UNDONE if step == "undo" else RESTORED
    why = reason or f"release {'rollback abort' if step == 'undo' else 'rollback'} {name}"
    results = []
    for number, action in enumerate(actions, start=1):
        result = rollback(
            catalog,
            action.dataset,
            action.target_version,
            reason=why,
            metadata={JOURNAL_KEY: journal_id, JOURNAL_STEP_KEY: step, RELEASE_KEY: name},
        )
        fault_point(f"{phase}:after-restore:{number}")
        catalog.journal.write(
            [
                JournalStep(
                    journal_id,
                    name,
                    action.dataset,
                    row,
                    result.from_version,
                    action.target_version,
                    result.new_version,
                )
            ]
        )
        fault_point(f"{phase}:after-journal:{number}")
        results.append(result)
        if on_restored is not None:
            on_restored(result)
    return results


def _close(
    catalog: Catalog,
    name: str,
    journal_id: str,
    actions: list[PlanStep],
    done: list[RollbackResult],
    *,
    resumed: bool,
    aborted: bool,
    why: str | None,
) -> ReleaseRollbackResult:
    """Close the journal (finished or aborted) and log the release rollback."""
    catalog.journal.write([JournalStep(journal_id, name, "", ABORTED if aborted else FINISHED)])
    kind = "release_rollback_abort" if aborted else "release_rollback"
    details = {"release": name, "journal": journal_id, "resumed": resumed}
    catalog.record(Event(kind, None, None, why, details))
    return ReleaseRollbackResult(name, journal_id, actions, done, resumed, aborted)
