"""The Dagster code location, built from ``thermocline.yaml``: ``dagster dev`` in the repository
root loads it (``[tool.dagster]`` in pyproject.toml).

Every dataset with a source is an asset whose materialization is one write-audit-publish run
(with ``partition_start``, a daily-partitioned asset whose runs each replace one day):
its quality checks (built-in, history-aware, one per expectation of its Great Expectations
suite) are Dagster asset checks with their numbers as metadata (ERROR ones blocking: a failure
quarantines the batch, fails the run and keeps downstream assets from running; WARN ones
publish and show; :mod:`thermocline.pipelines.asset_checks`), a dataset with a freshness check
gets a freshness policy, and a ``pii`` check puts the column classifications in the metadata
(:mod:`thermocline.pipelines.pii_checks`).
When the source has nothing new, nothing is materialized. A Kafka dataset is a micro-batch
asset (a run consumes until caught up) with a sensor for small topics. Each dataset also gets
a maintenance job (compact, tag-safe vacuum, checkpoint, log retention) on a nightly schedule,
and a tiering job (``tier apply``, the tier report as numeric metadata;
:mod:`thermocline.pipelines.tiering`) on the project's ``tiering.schedule``. Writers of one
dataset share a concurrency pool, and ``dagster.yaml`` limits every pool to one at a time.

A derived dataset is an asset downstream of its inputs (group ``derived``; daily-partitioned
like an input that is, partition by partition) with its column lineage in the metadata.
Datasets run themselves as their ``automation:`` says: a source sensor per batch dataset, an
automation condition on a derived one's inputs (:mod:`thermocline.pipelines.automation`).
What the UI's catalog search finds a dataset by (owners, column schema with PII tags, tags per
PII class and column) is :mod:`thermocline.pipelines.discovery`.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations.
"""

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext, OpExecutionContext

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import DatasetSpec, DerivedSource, Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.maintain import maintain as maintain_dataset
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.pipelines.asset_checks import (
    CHECKS_TABLE,
    asset_check_result,
    check_specs,
    checks_markdown,
    declared_results,
    freshness_policy,
)
from thermocline.pipelines.automation import derived_automation, kafka_sensor, source_sensor
from thermocline.pipelines.discovery import (
    COLUMN_SCHEMA,
    ColumnLineage,
    asset_tags,
    column_lineage_metadata,
    column_schema,
)
from thermocline.pipelines.models import model_assets
from thermocline.pipelines.pii_checks import pii_check_spec, pii_report
from thermocline.pipelines.resource import ThermoclineResource
from thermocline.pipelines.streaming import batch_metadata, check_results
from thermocline.pipelines.tiering import tiering_job, tiering_schedule
from thermocline.quality.results import CheckResult

__all__ = ["ThermoclineResource", "build_definitions", "defs"]

_PREVIEW_ROWS = 5


_log = logging.getLogger(__name__)


def build_definitions(project: Project, project_path: str | None = None) -> dg.Definitions:
    """Assets, checks, maintenance and tiering jobs, schedules and sensors for every dataset of
    ``project``."""
    known = _Known.read(project)
    assets = [
        (_kafka_asset if spec.source.kind == "kafka" else _dataset_asset)(
            project, name, spec, known
        )
        for name, spec in project.datasets.items()
        if spec.source
    ]
    assets += model_assets(project)
    sensors: list[dg.SensorDefinition | None] = []
    for name, spec in project.datasets.items():
        if spec.source is None:
            continue
        if spec.source.kind == "kafka":
            sensors.append(kafka_sensor(name, spec))
        elif spec.source.kind == "derived":
            sensors.append(derived_automation(name, spec)[1])
        else:
            sensors.append(source_sensor(name, spec))
    jobs = [_maintenance_job(name, spec) for name, spec in project.datasets.items()]
    schedules = [
        dg.ScheduleDefinition(job=job, cron_schedule="0 3 * * *", name=f"{job.name}_nightly")
        for job in jobs
    ]
    tier_jobs = [tiering_job(name, spec) for name, spec in project.datasets.items()]
    schedules += [
        s for s in (tiering_schedule(job, project.tiering) for job in tier_jobs) if s is not None
    ]
    return dg.Definitions(
        assets=assets,
        jobs=[*jobs, *tier_jobs],
        schedules=schedules,
        sensors=[s for s in sensors if s is not None],
        resources={"thermocline": ThermoclineResource(project_path=project_path)},
    )


class _Known:
    """What the lake knows of the datasets when the code location loads: each table's columns
    and the PII classifications, for the asset specs' schemas and tags. The UI must load when
    the lake cannot be read (a dev S3 server that is down): then nothing is known, and the
    materializations' metadata still carries both."""

    def __init__(
        self,
        schemas: Mapping[str, pa.Schema],
        classified: Mapping[str, Mapping[str, Classification]],
    ) -> None:
        self.schemas = schemas
        self.classified = classified

    @classmethod
    def read(cls, project: Project) -> "_Known":
        lake = Lake.from_project(project)
        try:
            classified = Catalog(lake).pii.current_all()
        except Exception as error:  # any lake failure: show what the project file says
            _log.warning("PII classifications not read (%s); the asset specs carry none", error)
            return cls({}, {})
        schemas = {}
        for name, spec in project.datasets.items():
            declared = spec.arrow_schema()
            if declared is not None:
                schemas[name] = declared
                continue
            try:
                schemas[name] = pa.schema(open_table(lake, name).schema().to_arrow())
            except Exception:  # noqa: S112 - no table yet, or unreadable: no columns
                continue
        return cls(schemas, classified)


def _check_specs(project: Project, name: str) -> list[dg.AssetCheckSpec]:
    return [pii_check_spec(name), *check_specs(project, name)]


def _check_events(
    context: AssetExecutionContext, project: Project, name: str, results: list[CheckResult]
) -> Iterator[dg.AssetCheckResult]:
    """The asset check results of ``results``; one without a declared asset check (which
    Dagster would refuse) is logged instead, and still shows in the checks table."""
    known, unknown = declared_results(project, name, results)
    for result in unknown:
        context.log.warning(f"{name}: check {result.name} has no asset check: {result.message}")
    for result in known:
        yield asset_check_result(name, result)


def _asset_spec(
    project: Project, name: str, spec: DatasetSpec, source_kind: str, known: _Known
) -> dg.AssetSpec:
    classified = known.classified.get(name, {})
    schema = known.schemas.get(name)
    metadata = {COLUMN_SCHEMA: column_schema(schema, classified)} if schema is not None else {}
    deps: list[dg.AssetDep] = []
    condition = None
    if isinstance(spec.source, DerivedSource):
        deps = [_input_dep(project, spec, i) for i in spec.source.inputs]
        condition = derived_automation(name, spec)[0]
    return dg.AssetSpec(
        name,
        deps=deps,
        group_name="derived" if source_kind == "derived" else f"{source_kind}_sources",
        kinds={"delta", source_kind},
        owners=spec.owners,
        description=spec.description or None,
        tags=asset_tags(source_kind, schema.names if schema is not None else [], classified),
        metadata=metadata,
        automation_condition=condition,
        freshness_policy=freshness_policy(project, name),
    )


def _input_dep(project: Project, spec: DatasetSpec, name: str) -> dg.AssetDep:
    """A derived dataset's dependency on input ``name``: day by day when both are
    daily-partitioned, else on all of it."""
    both = spec.partition_start is not None and project.dataset(name).partition_start is not None
    return dg.AssetDep(name, partition_mapping=dg.IdentityPartitionMapping() if both else None)


def _dataset_asset(
    project: Project, name: str, spec: DatasetSpec, known: _Known
) -> dg.AssetsDefinition:
    source_kind = spec.source.kind if spec.source else "none"
    asset_spec = _asset_spec(project, name, spec, source_kind, known)

    # can_subset makes every output optional: with nothing new, nothing is materialized.
    partitions = (
        dg.DailyPartitionsDefinition(start_date=spec.partition_start.isoformat())
        if spec.partition_start is not None
        else None
    )

    @dg.multi_asset(
        name=name,
        specs=[asset_spec],
        check_specs=_check_specs(project, name),
        can_subset=True,
        pool=f"thermocline_writer_{name}",
        partitions_def=partitions,
    )
    def materialize(
        context: AssetExecutionContext, thermocline: ThermoclineResource
    ) -> Iterator[Any]:
        project, catalog = thermocline.load()
        key = context.partition_key if context.has_partition_key else None
        outcome = ingest(project, catalog, name, partition=key)
        yield from _check_events(context, project, name, outcome.checks)
        checks_table = {CHECKS_TABLE: dg.MetadataValue.md(checks_markdown(outcome.checks))}
        if outcome.status == "quarantined":
            raise dg.Failure(
                description=f"{name}: batch quarantined, nothing published: {outcome.description}",
                metadata={
                    "quarantine": outcome.quarantine_path or "",
                    "rows": outcome.rows,
                    **checks_table,
                },
            )
        if outcome.status == "nothing_new":
            context.log.info(f"{name}: {outcome.description}; nothing to publish")
            return
        pii_check, pii_metadata = pii_report(catalog, name, spec, outcome.version)
        metadata = _metadata(catalog, name, outcome.rows, outcome.description, spec)
        yield dg.MaterializeResult(
            asset_key=name, metadata={**metadata, **checks_table, **pii_metadata}
        )
        yield pii_check

    return materialize


def _kafka_asset(
    project: Project, name: str, spec: DatasetSpec, known: _Known
) -> dg.AssetsDefinition:
    """Micro-batch mode for a topic: a run consumes until caught up, exactly once, and
    materializes when it published (the long-lived service is ``thermocline ingest kafka``).
    Each check reports its first failure over the run's micro-batches. A micro-batch that
    failed a blocking check was quarantined while the stream went on; the run then fails, as a
    batch quarantine does, so that downstream assets wait."""
    asset_spec = _asset_spec(project, name, spec, "kafka", known)

    @dg.multi_asset(
        name=name,
        specs=[asset_spec],
        check_specs=_check_specs(project, name),
        can_subset=True,
        pool=f"thermocline_writer_{name}",
    )
    def consume(context: AssetExecutionContext, thermocline: ThermoclineResource) -> Iterator[Any]:
        project, catalog = thermocline.load()
        reports: list[BatchReport] = []
        KafkaIngester(project, catalog, name, on_batch=reports.append).run(until_caught_up=True)
        if not reports:
            context.log.info(f"{name}: the topic has nothing new")
            return
        rows = sum(r.published for r in reports)
        metadata = _metadata(
            catalog, name, rows, f"{len(reports)} micro-batch(es) from Kafka", spec
        )
        versions = [r.version for r in reports if r.version is not None]
        pii_check, pii_metadata = pii_report(catalog, name, spec, max(versions, default=None))
        yield dg.MaterializeResult(
            asset_key=name, metadata={**metadata, **batch_metadata(reports), **pii_metadata}
        )
        yield from _check_events(context, project, name, check_results(reports))
        yield pii_check

    return consume


def _metadata(
    catalog: Catalog, name: str, rows_published: int, source: str, spec: DatasetSpec
) -> dict[str, Any]:
    lake = catalog.lake
    table = open_table(lake, name)
    schema = pa.schema(table.schema().to_arrow())
    lineage = _column_lineage(catalog, spec)
    actions = pa.table(table.get_add_actions(flatten=True))
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    rows = actions.column("num_records").to_pylist() if actions.num_rows else []
    preview = read_dataset(catalog, name).head(_PREVIEW_ROWS).to_pylist()
    return {
        COLUMN_SCHEMA: column_schema(schema, catalog.pii.current(name), lineage),
        "dagster/row_count": sum(r or 0 for r in rows),
        "delta/version": table.version(),
        "delta/table_uri": lake.table_uri(name),
        "delta/size_bytes": sum(sizes),
        "delta/files": len(sizes),
        "rows_published": rows_published,
        "source": source,
        "preview": dg.MetadataValue.md(_markdown(preview)),
        **column_lineage_metadata(lineage),
    }


def _column_lineage(catalog: Catalog, spec: DatasetSpec) -> ColumnLineage | None:
    """Which input columns each column of a SQL-derived dataset comes from, from the inputs'
    schemas; None when unknown (not derived, a Python function, or SQL the derived reader
    cannot trace)."""
    source = spec.source
    if not isinstance(source, DerivedSource) or source.sql is None:
        return None
    from thermocline.datasets.ingest.derived_columns import column_lineage

    schemas = {i: pa.schema(open_table(catalog.lake, i).schema().to_arrow()) for i in source.inputs}
    return column_lineage(source.sql, schemas)


def _markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(empty)"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in rows]
    return "\n".join(lines)


def _maintenance_job(name: str, spec: DatasetSpec) -> dg.JobDefinition:
    @dg.op(name=f"maintain_{name}", pool=f"thermocline_writer_{name}")
    def maintain(context: OpExecutionContext, thermocline: ThermoclineResource) -> None:
        _, catalog = thermocline.load()
        try:
            open_table(catalog.lake, name)
        except DatasetNotFoundError:
            context.log.info(f"{name} has no table yet; nothing to maintain")
            return
        done = maintain_dataset(catalog, name, spec, reason="nightly maintenance")
        compacted, retained = done.compaction, done.retention
        compaction = (
            "lost a race with the ingester"
            if compacted is None
            else (f"compacted {compacted.files_removed} -> {compacted.files_added} files")
        )
        retention = (
            "log retention lost a race with the ingester"
            if retained is None
            else f"checkpoint at version {retained.checkpoint_version}, log retention "
            f"{retained.retention}: readable from version {retained.readable_from}"
        )
        context.log.info(
            f"{name}: {compaction}, vacuumed {len(done.vacuum.removed)} files, {retention}"
        )

    @dg.job(
        name=f"maintain_{name}_job",
        description=f"Compact, vacuum, checkpoint and trim the log of {name}.",
    )
    def job() -> None:
        maintain()

    return job


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not at import."""
    return build_definitions(load_project())
