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
a maintenance job (compact, tag-safe vacuum, checkpoint) on a nightly schedule, and a tiering
job (``tier apply``, the tier report as numeric metadata; :mod:`thermocline.pipelines.tiering`)
on the project's ``tiering.schedule``. Writers of one dataset share a concurrency pool, and
``dagster.yaml`` limits every pool to one at a time.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext, OpExecutionContext

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import pending_records
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.maintenance import checkpoint, compact, vacuum
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.pipelines.asset_checks import (
    CHECKS_TABLE,
    asset_check_result,
    check_specs,
    checks_markdown,
    declared_results,
    freshness_policy,
)
from thermocline.pipelines.pii_checks import pii_check_spec, pii_report
from thermocline.pipelines.streaming import batch_metadata, check_results
from thermocline.pipelines.tiering import tiering_job, tiering_schedule
from thermocline.quality.results import CheckResult

__all__ = ["ThermoclineResource", "build_definitions", "defs"]

_PREVIEW_ROWS = 5


class ThermoclineResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The project file, and through it the lake and its catalog, that assets read and write.

    An asset calls :meth:`load` once per execution and hands the catalog (which carries the
    lake) to every function it calls; nothing below the code location builds its own.
    """

    project_path: str | None = None

    def load(self) -> tuple[Project, Catalog]:
        project = load_project(self.project_path)
        return project, Catalog(Lake.from_project(project))


def build_definitions(project: Project, project_path: str | None = None) -> dg.Definitions:
    """Assets, checks, maintenance and tiering jobs, schedules and sensors for every dataset of
    ``project``."""
    assets = [
        (_kafka_asset if spec.source.kind == "kafka" else _dataset_asset)(project, name, spec)
        for name, spec in project.datasets.items()
        if spec.source
    ]
    sensors = [
        _kafka_sensor(name)
        for name, spec in project.datasets.items()
        if spec.source and spec.source.kind == "kafka"
    ]
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
        sensors=sensors,
        resources={"thermocline": ThermoclineResource(project_path=project_path)},
    )


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


def _asset_spec(project: Project, name: str, spec: DatasetSpec, source_kind: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        group_name=f"{source_kind}_sources",
        kinds={"delta", source_kind},
        owners=spec.owners,
        description=spec.description or None,
        tags={"thermocline/source": source_kind},
        freshness_policy=freshness_policy(project, name),
    )


def _dataset_asset(project: Project, name: str, spec: DatasetSpec) -> dg.AssetsDefinition:
    source_kind = spec.source.kind if spec.source else "none"
    asset_spec = _asset_spec(project, name, spec, source_kind)

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
        metadata = _metadata(catalog, name, outcome.rows, outcome.description)
        yield dg.MaterializeResult(
            asset_key=name, metadata={**metadata, **checks_table, **pii_metadata}
        )
        yield pii_check

    return materialize


def _kafka_asset(project: Project, name: str, spec: DatasetSpec) -> dg.AssetsDefinition:
    """Micro-batch mode for a topic: a run consumes until caught up, exactly once, and
    materializes when it published (the long-lived service is ``thermocline ingest kafka``).
    Each check reports its first failure over the run's micro-batches. A micro-batch that
    failed a blocking check was quarantined while the stream went on; the run then fails, as a
    batch quarantine does, so that downstream assets wait."""
    asset_spec = _asset_spec(project, name, spec, "kafka")

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
        metadata = _metadata(catalog, name, rows, f"{len(reports)} micro-batch(es) from Kafka")
        versions = [r.version for r in reports if r.version is not None]
        pii_check, pii_metadata = pii_report(catalog, name, spec, max(versions, default=None))
        yield dg.MaterializeResult(
            asset_key=name, metadata={**metadata, **batch_metadata(reports), **pii_metadata}
        )
        yield from _check_events(context, project, name, check_results(reports))
        yield pii_check

    return consume


def _kafka_sensor(name: str) -> dg.SensorDefinition:
    """Requests a micro-batch run when the topic has records the table lacks, unless a run it
    requested is still queued or going. Off by default: the long-lived service is the usual
    way; turn the sensor on for small topics."""
    sensor_name = f"{name}_kafka_sensor"

    @dg.sensor(
        name=sensor_name,
        target=[name],
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Micro-batch ingestion of {name} when its topic has new records.",
    )
    def sensor(
        context: dg.SensorEvaluationContext, thermocline: ThermoclineResource
    ) -> dg.RunRequest | dg.SkipReason:
        busy = context.instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                ],
                tags={"dagster/sensor_name": sensor_name},
            ),
            limit=1,
        )
        if busy:
            return dg.SkipReason(f"run {busy[0].run_id} is still ingesting {name}")
        project, catalog = thermocline.load()
        pending = pending_records(project, catalog.lake, name)
        if not pending:
            return dg.SkipReason(f"{name}: the table has every record of the topic")
        return dg.RunRequest(tags={"thermocline/pending_records": str(pending)})

    return sensor


def _metadata(catalog: Catalog, name: str, rows_published: int, source: str) -> dict[str, Any]:
    lake = catalog.lake
    table = open_table(lake, name)
    schema = table.schema().to_arrow()
    actions = pa.table(table.get_add_actions(flatten=True))
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    rows = actions.column("num_records").to_pylist() if actions.num_rows else []
    preview = read_dataset(catalog, name).head(_PREVIEW_ROWS).to_pylist()
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(f.name, str(f.type)) for f in pa.schema(schema)]
        ),
        "dagster/row_count": sum(r or 0 for r in rows),
        "delta/version": table.version(),
        "delta/table_uri": lake.table_uri(name),
        "delta/size_bytes": sum(sizes),
        "delta/files": len(sizes),
        "rows_published": rows_published,
        "source": source,
        "preview": dg.MetadataValue.md(_markdown(preview)),
    }


def _markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(empty)"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in rows]
    return "\n".join(lines)


def _maintenance_job(name: str, spec: DatasetSpec) -> dg.JobDefinition:
    target_mb = spec.tiering.target_file_mb

    @dg.op(name=f"maintain_{name}", pool=f"thermocline_writer_{name}")
    def maintain(context: OpExecutionContext, thermocline: ThermoclineResource) -> None:
        _, catalog = thermocline.load()
        try:
            open_table(catalog.lake, name)
        except DatasetNotFoundError:
            context.log.info(f"{name} has no table yet; nothing to maintain")
            return
        compacted = compact(catalog, name, target_file_mb=target_mb)
        vacuumed = vacuum(catalog, name, reason="nightly maintenance")
        version = checkpoint(catalog.lake, name)
        context.log.info(
            f"{name}: compacted {compacted.files_removed} -> {compacted.files_added} files, "
            f"vacuumed {len(vacuumed.removed)} files, checkpoint at version {version}"
        )

    @dg.job(name=f"maintain_{name}_job", description=f"Compact, vacuum, checkpoint {name}.")
    def job() -> None:
        maintain()

    return job


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not at import."""
    return build_definitions(load_project())
