"""One write-audit-publish run of a dataset: read what is new, stage it, check it, publish it.

The source's position (files consumed, a watermark) rides in the publishing commit, so a batch
is either published with its position or not at all. A batch that fails an ERROR check is
quarantined per source file with the failing checks as reasons, and only its positions are
published (so the next run reads on; ``thermocline quarantine replay`` publishes the rows);
WARN failures publish and are reported. Every result is recorded in the catalog against the
version it published or the quarantine it made (``catalog.checks``); the check summary is part
of the commit's metadata too.
Between reading and checking, the dataset's PII policy applies (:mod:`.pii`): the checks judge
the batch as it will be stored, a ``block`` quarantines it with the PII reason, and after the
publish the columns' classifications are recorded in the catalog against the new version.

>>> outcome = ingest(project, catalog, "rides")   # doctest: +SKIP
>>> outcome.status, outcome.version               # doctest: +SKIP
('published', 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.commits import CHECKS_KEY
from thermocline.catalog.config import DerivedSource, Project
from thermocline.catalog.errors import (
    CommitConflictError,
    SchemaEvolutionError,
)
from thermocline.datasets.ingest import derived
from thermocline.datasets.ingest.files import read_partition
from thermocline.datasets.ingest.judge import context_for, judge, part_judge
from thermocline.datasets.ingest.pii import enforce, record_scan, redactions
from thermocline.datasets.ingest.quarantine import quarantine_batch
from thermocline.datasets.ingest.sources import read_new
from thermocline.datasets.openlineage.hooks import ingest_started
from thermocline.datasets.tables.keyed import plan_keys, publish_keyed
from thermocline.datasets.tables.quarantine import quarantine_id_of
from thermocline.datasets.tables.staging import discard, stage
from thermocline.quality.pii.policy import transformed_schema
from thermocline.quality.results import CheckResult, blocking, check_summary

__all__ = ["CONFLICT_RETRIES", "IngestOutcome", "ingest"]

CONFLICT_RETRIES = 2
"""Reads again after losing a publish race; past that, :class:`CommitConflictError` (many
writers of one dataset at once: Dagster's pool for the dataset keeps it to one)."""


@dataclass(frozen=True)
class IngestOutcome:
    dataset: str
    status: Literal["published", "quarantined", "nothing_new"]
    rows: int = 0
    version: int | None = None
    checks: list[CheckResult] = field(default_factory=list)
    quarantine_path: str | None = None
    description: str = ""


def ingest(
    project: Project,
    catalog: Catalog,
    dataset: str,
    *,
    partition: str | None = None,
    now: datetime | None = None,
) -> IngestOutcome:
    """Run write-audit-publish once for ``dataset`` from its source in the project file.

    With ``partition`` (a value of the first partition column), the run recomputes that
    partition from the source and replaces it; otherwise it appends what is new (a derived
    dataset replaces what its inputs' new versions change, see :mod:`.derived`). The run's
    OpenLineage events (START, then COMPLETE or FAIL) go out when the project enables them.

    A run that loses a publish race to another run (:class:`CommitConflictError`: a sensor's
    run and a person's on the same new file) discards its batch and reads the source again,
    up to :data:`CONFLICT_RETRIES` times: what the other run left is loaded, or nothing is new.
    """
    lineage = ingest_started(project, catalog, dataset)
    try:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                outcome = _ingest(project, catalog, dataset, partition=partition, now=now)
                break
            except CommitConflictError:
                if attempt == CONFLICT_RETRIES:
                    raise
    except Exception as error:
        lineage.failed(error)
        raise
    lineage.finished(outcome)
    return outcome


def _ingest(
    project: Project,
    catalog: Catalog,
    dataset: str,
    *,
    partition: str | None,
    now: datetime | None,
) -> IngestOutcome:
    lake = lake_of(catalog)
    spec = project.dataset(dataset)
    try:
        if partition is None:
            batch = read_new(lake, dataset, spec, project, catalog=catalog)
        elif isinstance(spec.source, DerivedSource):
            batch = derived.read_partition(catalog, dataset, spec, project, partition)
        else:
            batch = read_partition(lake, dataset, spec, project, partition)
    except SchemaEvolutionError as conflict:
        if conflict.batch is None:
            raise
        # Kept as read (the policy applies on replay); its samples show no PII it may hold.
        hidden = redactions(project, catalog, dataset, conflict.batch.data)
        path = quarantine_batch(
            catalog, spec, conflict.batch, [str(conflict)], None, pii="clear", redact=hidden
        )
        rows = conflict.batch.data.num_rows
        return IngestOutcome(dataset, "quarantined", rows, None, [], path, str(conflict))
    if batch is None:
        return IngestOutcome(dataset, "nothing_new", description="no new data in the source")
    if batch.data.num_rows == 0 and batch.replace == "touched":  # no rows, nothing to replace
        return IngestOutcome(dataset, "nothing_new", description=batch.description)
    # PII before anything is staged: the checks judge the batch as it will be stored.
    pii = enforce(project, catalog, dataset, batch.data)
    declared = spec.arrow_schema()
    if declared is not None:
        declared = transformed_schema(declared, pii.decisions)
    if pii.blocked:  # kept in clear, by necessity; replay applies the policy then in force
        path = quarantine_batch(
            catalog, spec, batch, pii.reasons, None, pii="clear", redact=pii.redact, schema=declared
        )
        record_scan(catalog, pii.rows(None))
        rows = batch.data.num_rows
        return IngestOutcome(dataset, "quarantined", rows, None, [], path, "; ".join(pii.reasons))
    batch = replace(batch, data=pii.table)
    # Keys across batches (a partition run replaces its partition: its keys are not looked up).
    keys = None
    if spec.primary_key and batch.mode == "append":
        keys = plan_keys(lake, dataset, batch.data, spec.primary_key, spec.on_duplicate)
    context = context_for(
        project,
        catalog,
        dataset,
        now=now or datetime.now(tz=UTC),
        schema=declared,
        schema_changes=batch.schema_changes,
    )
    results = judge(project, dataset, batch.data, context)
    failed = blocking(results)
    reasons = [r.message for r in failed] + list(keys.reasons if keys is not None else ())
    summary = check_summary(results)
    if reasons:
        # Kept per source file; its positions are published (with the check summary), so the
        # next run reads on.
        judge_part = part_judge(project, dataset, context)
        judged = replace(batch, commit_metadata={**batch.commit_metadata, CHECKS_KEY: summary})
        path = quarantine_batch(
            catalog, spec, judged, reasons, judge_part, pii="applied", schema=declared
        )
        catalog.checks.record(
            dataset, results, quarantine_id=quarantine_id_of(path), at=context.now
        )
        rows = batch.data.num_rows
        return IngestOutcome(dataset, "quarantined", rows, None, results, path, batch.description)
    data = keys.rows if keys is not None else batch.data
    staged = stage(lake, dataset, data, partition_by=spec.partition_by or None)
    keys_done = keys.summary() if keys is not None else ""
    description = f"{batch.description}; {keys_done}" if keys_done else batch.description
    try:
        version = publish_keyed(
            catalog,
            staged,
            keys,
            mode=batch.mode,
            reason=batch.description,
            app_transactions=batch.app_transactions,
            expected_positions=batch.expected_positions,
            metadata={**batch.commit_metadata, CHECKS_KEY: summary},
            replace=batch.replace,
        )
    except CommitConflictError:
        # Another run published some of this input first: publish nothing, leave nothing
        # staged, and let the caller run again to load what is left.
        discard(lake, staged)
        raise
    catalog.register(dataset, spec.model_dump(mode="json", by_alias=True))
    record_scan(catalog, pii.rows(version))
    # Last: a crash (or a failed append) before it loses no result, the commit carries them.
    catalog.checks.record(dataset, results, version=version, at=context.now)
    return IngestOutcome(dataset, "published", staged.rows, version, results, None, description)
