"""Datasets that Dagster materializes by itself (each dataset's ``automation:``, DESIGN.md >
Decision 8), so that nobody has to click Materialize.

- A **file** dataset gets ``<dataset>_source_sensor``: each ``interval_s`` it lists the source
  and compares it with what the table's commits consumed; files it has not consumed make a
  run request, otherwise it skips with the reason.
- A **SQL** dataset with a ``watermark_column`` gets the same sensor, asking the database for
  the newest watermark past the table's. (Without a watermark column there is nothing to
  compare: no sensor; materialize it by hand or on a schedule.)
- A **derived** dataset gets an eager automation condition (a run when an input has a new
  version and no input is missing or running) and ``<dataset>_automation``, the automation
  condition sensor the daemon evaluates every ``interval_s``.
- A **Kafka** dataset's micro-batch sensor ``<dataset>_kafka_sensor`` is stopped unless
  automation is on for it (the long-lived ``thermocline ingest kafka`` keeps it current).

A sensor never requests a second run while one it requested is queued or running, and keeps
in its cursor what it requested for (the pending files, the watermarks), so it does not ask
again for the same source state (a run that failed leaves that state to a person, as a
quarantine does). ``enabled: false`` gives a dataset no sensor and no condition at all.
Daily-partitioned batch datasets (``partition_start``) get no source sensor yet: which day a
new file holds is unknown before it is read.

>>> decide_files("rides", [SourceFile("file:///in/a.csv", 10)], "").request
True
>>> decide_files("rides", [], "").reason
'rides: every source file is in the table'
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from thermocline.catalog.config import (
    DatasetSpec,
    FileSource,
    Project,
    SqlSource,
    expand_env,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.base import SourceFile, open_or_none
from thermocline.datasets.ingest.consumed import consumed_record, pending_files
from thermocline.datasets.ingest.files import fsspec_options, list_files
from thermocline.datasets.ingest.kafka_topic import pending_records
from thermocline.datasets.ingest.sql import last_watermark, sqlalchemy_url
from thermocline.pipelines.resource import ThermoclineResource

__all__ = [
    "Decision",
    "decide_files",
    "decide_sql",
    "derived_automation",
    "kafka_sensor",
    "source_sensor",
]

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
_SHOWN_FILES = 3


@dataclass(frozen=True)
class Decision:
    """A source sensor's answer: request a run (with the cursor to keep), or skip and why."""

    request: bool
    reason: str
    cursor: str | None = None


def decide_files(name: str, pending: Sequence[SourceFile], cursor: str) -> Decision:
    """Request a run for ``pending`` unless there is none or the last request (``cursor``)
    was for exactly these files."""
    if not pending:
        return Decision(False, f"{name}: every source file is in the table")
    digest = hashlib.sha256(
        "\n".join(
            f"{f.url}\t{f.size}\t{f.etag}" for f in sorted(pending, key=lambda f: f.url)
        ).encode()
    ).hexdigest()[:32]
    shown = ", ".join(f.url.rsplit("/", 1)[-1] for f in pending[:_SHOWN_FILES])
    more = f" and {len(pending) - _SHOWN_FILES} more" if len(pending) > _SHOWN_FILES else ""
    if digest == cursor:
        return Decision(
            False,
            f"{name}: a run was already requested for the {len(pending)} pending file(s) "
            f"({shown}{more}); it did not consume them: see that run, fix the files or "
            "materialize by hand",
        )
    return Decision(True, f"{name}: {len(pending)} new file(s): {shown}{more}", digest)


def decide_sql(name: str, table_watermark: Any, newest: Any, cursor: str) -> Decision:
    """Request a run when the source holds a watermark past the table's (``newest`` is the
    source's highest one past it, None when there is none), unless the last request was for
    this same pair."""
    if newest is None:
        return Decision(False, f"{name}: no source row past the watermark {table_watermark!r}")
    state = f"{table_watermark!r}->{newest!r}"
    if state == cursor:
        return Decision(
            False,
            f"{name}: a run was already requested for rows up to {newest!r}; the table's "
            f"watermark is still {table_watermark!r}: see that run or materialize by hand",
        )
    return Decision(True, f"{name}: source rows up to {newest!r} past {table_watermark!r}", state)


def source_sensor(name: str, spec: DatasetSpec) -> dg.SensorDefinition | None:
    """``<name>_source_sensor`` of a file or SQL dataset whose automation is on; None when
    off, for other sources, a SQL source without a watermark column or a partitioned
    dataset."""
    source = spec.source
    if not isinstance(source, FileSource | SqlSource) or not spec.automation.on(source.kind):
        return None
    if isinstance(source, SqlSource) and source.watermark_column is None:
        return None
    if spec.partition_start is not None:
        return None
    sensor_name = f"{name}_source_sensor"

    @dg.sensor(
        name=sensor_name,
        target=[name],
        minimum_interval_seconds=spec.automation.interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Materializes {name} when its {source.kind} source has data the table "
        f"has not consumed (datasets.{name}.automation in the project file).",
    )
    def sensor(
        context: dg.SensorEvaluationContext, thermocline: ThermoclineResource
    ) -> dg.RunRequest | dg.SkipReason:
        busy = _running(context.instance, sensor_name)
        if busy is not None:
            return dg.SkipReason(f"run {busy} is still materializing {name}")
        project, catalog = thermocline.load()
        if not project.dataset(name).automation.on(source.kind):
            return dg.SkipReason(_switched_off(name))
        now = project.dataset(name).source
        cursor = context.cursor or ""
        if isinstance(now, FileSource):
            decision = decide_files(name, _pending_files(project, catalog.lake, name, now), cursor)
        elif isinstance(now, SqlSource) and now.watermark_column is not None:
            after = last_watermark(catalog.lake, name)
            decision = decide_sql(name, after, _newest_watermark(project, now, after), cursor)
        else:
            return dg.SkipReason(f"{name}: its source is no longer files or SQL with a watermark")
        if not decision.request:
            return dg.SkipReason(decision.reason)
        context.update_cursor(decision.cursor)
        context.log.info(decision.reason)
        return dg.RunRequest(
            run_key=f"{name}:{decision.cursor}", tags={"thermocline/automation": "source"}
        )

    return sensor


def derived_automation(
    name: str, spec: DatasetSpec
) -> tuple[dg.AutomationCondition[Any] | None, dg.AutomationConditionSensorDefinition | None]:
    """A derived dataset's automation condition (eager: its inputs' new versions) and the
    sensor that evaluates it; (None, None) when its automation is off."""
    if spec.source is None or spec.source.kind != "derived" or not spec.automation.on("derived"):
        return None, None
    sensor = dg.AutomationConditionSensorDefinition(
        f"{name}_automation",
        target=[name],
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=spec.automation.interval_s,
        emit_backfills=False,
        description=f"Recomputes {name} when one of its inputs has a new version.",
    )
    condition = dg.AutomationCondition.eager()
    if spec.partition_start is not None:
        # eager() only looks at the latest day; a late file for an older day of an input must
        # recompute that day too.
        condition = condition.without(dg.AutomationCondition.in_latest_time_window())
    return condition, sensor


def kafka_sensor(name: str, spec: DatasetSpec) -> dg.SensorDefinition | None:
    """``<name>_kafka_sensor``: a micro-batch run when the topic has records the table lacks,
    unless a run it requested is still queued or going. Running when automation is on for
    the dataset, stopped by default (the long-lived service is the usual way; start it in the
    UI for small topics), none with ``enabled: false``."""
    if spec.automation.enabled is False:
        return None
    sensor_name = f"{name}_kafka_sensor"
    running = spec.automation.on("kafka")

    @dg.sensor(
        name=sensor_name,
        target=[name],
        minimum_interval_seconds=spec.automation.interval_s,
        default_status=(
            dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
        ),
        description=f"Micro-batch ingestion of {name} when its topic has new records.",
    )
    def sensor(
        context: dg.SensorEvaluationContext, thermocline: ThermoclineResource
    ) -> dg.RunRequest | dg.SkipReason:
        busy = _running(context.instance, sensor_name)
        if busy is not None:
            return dg.SkipReason(f"run {busy} is still ingesting {name}")
        project, catalog = thermocline.load()
        if project.dataset(name).automation.enabled is False:
            return dg.SkipReason(_switched_off(name))
        pending = pending_records(project, catalog.lake, name)
        if not pending:
            return dg.SkipReason(f"{name}: the table has every record of the topic")
        return dg.RunRequest(tags={"thermocline/pending_records": str(pending)})

    return sensor


def _switched_off(name: str) -> str:
    """Why a sensor skips after the project file turned its dataset's automation off: the
    file is read at every tick, the sensor list only when the code location loads."""
    return (
        f"{name}: automation is off in the project file (datasets.{name}.automation); reload "
        "the code location to remove this sensor"
    )


def _running(instance: dg.DagsterInstance, sensor_name: str) -> str | None:
    """The id of a queued or going run that ``sensor_name`` requested, if any."""
    busy = instance.get_runs(
        filters=dg.RunsFilter(statuses=_ACTIVE, tags={"dagster/sensor_name": sensor_name}),
        limit=1,
    )
    return busy[0].run_id if busy else None


def _pending_files(project: Project, lake: Lake, name: str, source: FileSource) -> list[SourceFile]:
    url = project.resolve_url(expand_env(source.url, None, f"datasets.{name}.source.url"))
    listed = list_files(url, fsspec_options(url, source.options))
    return pending_files(listed, consumed_record(open_or_none(lake, name), name))


def _newest_watermark(project: Project, source: SqlSource, after: Any) -> Any:
    """The source's highest watermark past ``after`` (all of them when None); None if none.
    One aggregate query, the watermark a bound parameter as ingest binds it."""
    column = str(source.watermark_column)
    url = sqlalchemy_url(expand_env(source.url, None, "source.url"), project)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            statement: sa.Executable
            if source.table is not None:
                schema_name, _, table_name = source.table.rpartition(".")
                table = sa.Table(
                    table_name, sa.MetaData(), schema=schema_name or None, autoload_with=connection
                )
                watermark = table.c[column]
                statement = sa.select(sa.func.max(watermark))
                if after is not None:
                    statement = statement.where(
                        watermark > sa.bindparam("watermark", after, watermark.type)
                    )
            else:
                query = (source.query or "").strip().rstrip(";")
                quoted = connection.dialect.identifier_preparer.quote(column)
                where = f" WHERE s.{quoted} > :watermark" if after is not None else ""
                # The query is the project's own configuration, the column name quoted, the
                # watermark a bound parameter.
                text = sa.text(f"SELECT MAX(s.{quoted}) FROM ({query}) AS s{where}")  # noqa: S608
                statement = text.bindparams(watermark=after) if after is not None else text
            return connection.execute(statement).scalar()
    finally:
        engine.dispose()
