"""Judging a staged batch before it is published: one list of results from every judge of a
dataset (the built-in and history-aware checks, its Great Expectations suite), under the one
severity rule (a failed ``error`` result blocks: :func:`~thermocline.quality.results.blocking`).

Every path that publishes or quarantines (batch runs, Kafka micro-batches, quarantine replay)
judges through :func:`judge`, so a check behaves the same wherever the data comes from.

>>> context = context_for(project, catalog, "rides", now=now, schema=declared)  # doctest: +SKIP
>>> results = judge(project, "rides", batch, context)                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.datasets.ingest.suites import suite_check, suite_expectations
from thermocline.datasets.tables.baselines import BaselineCache, check_context
from thermocline.quality.builtin import run_checks
from thermocline.quality.results import (
    CheckContext,
    CheckResult,
    Engine,
    SchemaChanges,
    Severity,
    check_names,
    engine_of,
)

__all__ = ["DeclaredCheck", "context_for", "declared_checks", "judge", "part_judge"]

# Checks that judge a batch as a whole: a part of a batch (one file, one Kafka partition) would
# fail or pass them by its size alone, so a quarantine's per-part reasons leave them out.
_WHOLE_BATCH = {"row_count", "volume", "schema_drift", "distribution_drift"}


@dataclass(frozen=True)
class DeclaredCheck:
    """A result a dataset's batches will carry, known before any batch arrives (Dagster
    declares its asset checks from these)."""

    name: str
    check: str
    severity: Severity
    engine: Engine
    description: str


def judge(
    project: Project, dataset: str, batch: pa.Table, context: CheckContext
) -> list[CheckResult]:
    """Every check of ``dataset`` on ``batch``: the built-in and history-aware checks in the
    order the project file lists them, then the suite's expectations in the suite's order."""
    results = run_checks(batch, project.checks(dataset), context)
    suite = suite_check(project, dataset)
    if suite is not None:
        results += suite(batch, context)
    return results


def part_judge(
    project: Project, dataset: str, context: CheckContext
) -> Callable[[pa.Table], list[CheckResult]]:
    """What a quarantine runs on each part of a batch (a source file, a Kafka partition) to say
    which checks that part's own rows fail: the row-level built-in checks (not the suite, which
    would run once per part)."""
    checks = [c for c in project.checks(dataset) if c.check not in _WHOLE_BATCH]

    def judge_part(rows: pa.Table) -> list[CheckResult]:
        return run_checks(rows, checks, context)

    return judge_part


def context_for(
    project: Project,
    catalog: Catalog,
    dataset: str,
    *,
    now: datetime,
    schema: pa.Schema | None,
    schema_changes: SchemaChanges | None = None,
    cache: BaselineCache | None = None,
    row_counts: bool = True,
) -> CheckContext:
    """What the checks of ``dataset`` need besides the batch, read from the lake now (or
    kept in ``cache``; ``row_counts=False`` for streams, see :func:`check_context`)."""
    return check_context(
        catalog,
        dataset,
        project.checks(dataset),
        now=now,
        schema=schema,
        schema_changes=schema_changes,
        cache=cache,
        row_counts=row_counts,
    )


def declared_checks(project: Project, dataset: str) -> list[DeclaredCheck]:
    """The results :func:`judge` gives for ``dataset``, by name, in order."""
    checks = project.checks(dataset)
    declared = [
        DeclaredCheck(name, check.check, check.severity, engine_of(check.check), check.check)
        for name, check in zip(check_names(checks), checks, strict=True)
    ]
    return declared + suite_expectations(project, dataset)
