"""The record of a training read: what the loader writes to the catalog when a run starts
iterating (DESIGN.md > Decision 13).

:func:`record_read` appends one row to ``_catalog/training_runs`` (``catalog.runs``) per run
and dataset version, and the ``training_run`` event (kept for readers of the event log, with
the same details it always had plus the seed and code version). :func:`code_version` is the git
commit of the process's working directory, or None: a training job outside a checkout, or on a
machine without git, still trains. No torch here.

>>> record_read(catalog, plan, "run-7", seed=7, world_size=2)      # doctest: +SKIP
TrainingRun(run_id='run-7', dataset='rides', version=3, ...)
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from thermocline.catalog.catalog import TRAINING_RUN, Catalog, Event, current_user
from thermocline.catalog.training_runs import TrainingRun
from thermocline.datasets.openlineage.hooks import training_read
from thermocline.datasets.training.plans import Plan

__all__ = ["code_version", "new_run_id", "record_read"]

_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256 object names
_GIT_TIMEOUT_S = 5.0


def new_run_id(run: str | None = None) -> str:
    """``run`` when given, else torchrun's ``TORCHELASTIC_RUN_ID`` (the same on every rank of
    a job), else a fresh random id."""
    return run or os.environ.get("TORCHELASTIC_RUN_ID") or uuid.uuid4().hex


def code_version(folder: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit checked out in ``folder`` (default: the working directory), or None
    when it is not in a git checkout, git is missing or slow, or the checkout has no commit
    yet. Never raises: a record without a code version beats a training job that fails."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=folder if folder is not None else os.getcwd(),
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and _COMMIT.match(commit) else None


def record_read(
    catalog: Catalog,
    plan: Plan,
    run_id: str,
    *,
    seed: int,
    world_size: int,
    shuffle: bool = False,
    batch_size: int = 0,
) -> TrainingRun:
    """Record that run ``run_id`` reads ``plan`` (a dataset version, its columns and filter)
    dealt by ``seed`` over ``world_size`` ranks: the row in ``catalog.runs`` (once per run and
    version) and, with it, the ``training_run`` event. Returns the record."""
    run = TrainingRun(
        run_id=run_id,
        dataset=plan.dataset,
        version=plan.version,
        columns=tuple(plan.columns),
        filter=None if plan.filter is None else str(plan.filter),
        seed=seed,
        world_size=world_size,
        shuffle=shuffle,
        batch_size=batch_size,
        rows=plan.rows,
        fingerprint=plan.fingerprint,
        code_version=code_version(),
        user=current_user(),
    )
    if catalog.runs.record(run):
        details = {
            "run_id": run_id,
            "fingerprint": run.fingerprint,
            "columns": list(run.columns),
            "filter": run.filter,
            "rows": run.rows,
            "units": len(plan.units),
            "world_size": world_size,
            "seed": seed,
            "code_version": run.code_version,
        }
        catalog.record(Event(TRAINING_RUN, plan.dataset, plan.version, None, details))
        training_read(catalog, run)
    return run
