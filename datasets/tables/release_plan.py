"""Release-rollback planning as plain values: what the preflight found, what the plan is, and
which datasets a resume or an abort still has to change.

No IO here: :mod:`.releases` gathers the facts (versions, missing files, the journal, the
journal's commits) and acts; these functions decide (DESIGN.md > Decision 5).

>>> checks = [DatasetCheck("rides", 9, 3, files_checked=4)]
>>> plan_release_rollback("r1", checks)
ReleasePlan(release='r1', steps=(PlanStep(dataset='rides', from_version=9, target_version=3, files_checked=4),))
>>> remaining(plan_release_rollback("r1", checks).steps, {"rides": UNTOUCHED}, abort=True)
[]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from thermocline.catalog.errors import ReleasePreflightError
from thermocline.datasets.tables.versions import list_missing, restore_command

__all__ = [
    "RESTORED",
    "UNDONE",
    "UNTOUCHED",
    "DatasetCheck",
    "PlanStep",
    "ReleasePlan",
    "dataset_state",
    "plan_release_rollback",
    "preflight_problems",
    "refuse",
    "remaining",
]

UNTOUCHED = "untouched"  # this journal changed nothing in the dataset (yet)
RESTORED = "restored"  # the dataset is at its release version
UNDONE = "undone"  # an abort put it back at the version it had before


@dataclass(frozen=True)
class DatasetCheck:
    """What the preflight found for one dataset before going to ``target_version``.

    ``current_version`` is None when the dataset has no table; ``missing`` are its files that
    are gone, ``archived`` those tiering archived (readable again after ``thermocline tier
    restore``); ``problem`` says what else keeps the target from being restored (a version or
    log that is gone).
    """

    dataset: str
    current_version: int | None
    target_version: int
    files_checked: int = 0
    missing: tuple[str, ...] = ()
    problem: str | None = None
    archived: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanStep:
    """Take ``dataset`` from ``from_version`` to the contents of ``target_version``."""

    dataset: str
    from_version: int
    target_version: int
    files_checked: int


@dataclass(frozen=True)
class ReleasePlan:
    release: str
    steps: tuple[PlanStep, ...]


def preflight_problems(checks: Iterable[DatasetCheck]) -> list[str]:
    """One phrase per dataset that cannot go to its target, in dataset order."""
    problems = []
    for check in sorted(checks, key=lambda c: c.dataset):
        where = f"{check.dataset}@{check.target_version}"
        if check.problem:
            problems.append(f"{where}: {check.problem}")
        elif check.missing:
            problems.append(
                f"{where}: {len(check.missing)} of its {check.files_checked} file(s) are gone "
                f"(vacuumed or deleted): {list_missing(check.missing)}"
            )
        elif check.archived:
            problems.append(
                f"{where}: {len(check.archived)} of its {check.files_checked} file(s) are "
                f"archived: {list_missing(check.archived)}; run "
                f"`{restore_command(check.dataset, check.target_version)}` to make them readable"
            )
    return problems


def refuse(what: str, checks: Sequence[DatasetCheck], fix: str) -> None:
    """Raise :class:`ReleasePreflightError` naming every problem of ``checks``, if any."""
    problems = preflight_problems(checks)
    if problems:
        raise ReleasePreflightError(
            f"{what}: {'; '.join(problems)}. Nothing was changed; {fix}",
            {c.dataset: list(c.missing) for c in checks if c.missing},
        )


def plan_release_rollback(release: str, checks: Sequence[DatasetCheck]) -> ReleasePlan:
    """The plan for rolling back ``release``: every dataset in order, or
    :class:`ReleasePreflightError` naming every dataset that cannot go back."""
    refuse(
        f"cannot roll back release {release}",
        checks,
        "restore the files or the datasets, or create a release of versions that still exist",
    )
    return ReleasePlan(
        release,
        tuple(
            PlanStep(c.dataset, c.current_version or 0, c.target_version, c.files_checked)
            for c in sorted(checks, key=lambda c: c.dataset)
        ),
    )


def dataset_state(
    recorded: Sequence[tuple[str, int | None]], newest_commit: tuple[str, int] | None
) -> str:
    """Where a journal left a dataset: :data:`UNTOUCHED`, :data:`RESTORED` or :data:`UNDONE`.

    ``recorded`` is the journal's (step, new_version) rows for the dataset, in order;
    ``newest_commit`` the (step, version) of the newest commit of the table that carries the
    journal's id. A commit newer than every recorded row is a step whose journal row a crash
    kept from being written: it decides.
    """
    state, version = UNTOUCHED, -1
    for step, new_version in recorded:
        state = step
        version = max(version, new_version if new_version is not None else -1)
    if newest_commit is not None and newest_commit[1] > version:
        state = RESTORED if newest_commit[0] == "restore" else UNDONE
    return state


def remaining(
    steps: Iterable[PlanStep], states: Mapping[str, str], *, abort: bool
) -> list[PlanStep]:
    """What a resume (to the release) or an abort (back to the versions before) still has to
    do, as steps from each dataset's planned version to the version it goes to."""
    if abort:
        return [
            PlanStep(s.dataset, s.target_version, s.from_version, s.files_checked)
            for s in steps
            if states.get(s.dataset, UNTOUCHED) == RESTORED
        ]
    return [s for s in steps if states.get(s.dataset, UNTOUCHED) != RESTORED]
