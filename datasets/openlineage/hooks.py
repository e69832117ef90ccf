"""Where runs tell the emitter what they did: an ingest or derived run (START, then COMPLETE or
FAIL), a Kafka micro-batch (COMPLETE), a training read (COMPLETE). Each hook costs the caller an
attribute check when lineage is off; when on, building the event and reading what it needs
from the lake (the published version's schema, a derived commit's input versions) happen on the
emitter's thread.

>>> run = ingest_started(project, catalog, "rides")      # doctest: +SKIP
>>> run.finished(outcome)                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from thermocline.catalog.commits import INPUTS_KEY
from thermocline.catalog.config.sources import DerivedSource, FileSource, KafkaSource, SqlSource
from thermocline.datasets.ingest.derived_columns import column_lineage
from thermocline.datasets.openlineage.emitter import Emitter, NullEmitter, emitter_for, emitter_of
from thermocline.datasets.openlineage.events import (
    EventType,
    LineageDataset,
    LineageEvent,
    fields_of,
    files_dataset,
    kafka_dataset,
    lake_dataset,
    run_uuid,
    sql_dataset,
    table_dataset,
)

if TYPE_CHECKING:
    from thermocline.catalog.config import Project
    from thermocline.catalog.lake import Lake

__all__ = [
    "IngestLineage",
    "ingest_started",
    "kafka_published",
    "project_emitter",
    "source_names",
    "training_read",
]


class _Outcome(Protocol):
    """What :meth:`IngestLineage.finished` reads of an ``IngestOutcome``."""

    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def checks(self) -> Sequence[Any]: ...
    @property
    def description(self) -> str: ...


class IngestLineage:
    """One ingest or derived run as OpenLineage sees it: ``<dataset>.ingest`` or
    ``<dataset>.derive`` in the configured namespace, with a fresh run id. Events are built on
    the emitter's thread (naming a SQL query's tables parses it, a publish reads its schema)."""

    def __init__(self, emitter: Emitter, project: Project, lake: Lake, dataset: str) -> None:
        self.emitter, self.project, self.lake, self.dataset = emitter, project, lake, dataset
        self.run_id = str(uuid.uuid4())
        source = project.dataset(dataset).source
        self.derived = isinstance(source, DerivedSource)
        self.sql = source.sql if isinstance(source, DerivedSource) else None
        self.job = f"{dataset}.{'derive' if self.derived else 'ingest'}"

    def started(self) -> IngestLineage:
        self._emit("START")
        return self

    def finished(
        self,
        outcome: _Outcome,
        column_lineage: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        """COMPLETE for a publish (the version, its schema and checks; a derived run's input
        versions and, when known, its column lineage) or a run with nothing new; FAIL for a
        quarantined batch, with its reasons and the checks that judged it."""
        checks = tuple(outcome.checks)
        if outcome.status == "quarantined":
            self._emit("FAIL", error=outcome.description or "quarantined", checks=checks)
        else:
            self._emit("COMPLETE", outcome.version, checks, column_lineage)

    def failed(self, error: BaseException) -> None:
        """FAIL: the run raised ``error`` (a commit conflict, a source that cannot be read)."""
        self._emit("FAIL", error=f"{type(error).__name__}: {error}")

    def _emit(
        self,
        kind: EventType,
        version: int | None = None,
        checks: Sequence[Any] = (),
        column_lineage: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        error: str | None = None,
    ) -> None:
        at = datetime.now(UTC)

        def build() -> list[LineageEvent]:
            fields = () if version is None else fields_of(_schema(self.lake, self.dataset, version))
            columns = column_lineage
            if columns is None and self.sql is not None and version is not None:
                columns = self._query_columns(version)
            output = table_dataset(self.lake.uri, self.dataset, version, fields, checks, columns)
            inputs = self._inputs_of(version)
            return [self.event(kind, at, inputs, (output,), error)]

        self.emitter.emit(build)

    def event(
        self,
        kind: EventType,
        at: datetime,
        inputs: tuple[LineageDataset, ...],
        outputs: tuple[LineageDataset, ...],
        error: str | None = None,
    ) -> LineageEvent:
        return LineageEvent(
            kind,
            at,
            self.run_id,
            self.emitter.config.namespace,
            self.job,
            inputs,
            outputs,
            job_type="DERIVE" if self.derived else "INGEST",
            error=error,
            sql=self.sql,
        )

    def _query_columns(self, version: int) -> Mapping[str, Sequence[tuple[str, str]]] | None:
        """Which input columns feed each output column of the derived query, from the input
        schemas at the versions the commit records (None when the query does not say)."""
        inputs = _commit_inputs(self.lake, self.dataset, version)
        schemas = {name: _schema(self.lake, name, at) for name, at in inputs.items()}
        return column_lineage(self.sql or "", schemas) if schemas else None

    def _inputs_of(self, version: int | None) -> tuple[LineageDataset, ...]:
        """A derived version's inputs at the versions its commit records; else the source."""
        inputs = {}
        if self.derived and version is not None:
            inputs = _commit_inputs(self.lake, self.dataset, version)
        if not inputs:
            names = source_names(self.project, self.dataset, self.lake.uri)
            return tuple(LineageDataset(ns, name) for ns, name in names)
        return tuple(table_dataset(self.lake.uri, name, at) for name, at in inputs.items())


class _NoLineage:
    """A run while lineage export is off."""

    def finished(self, outcome: Any, column_lineage: Any = None) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass


def source_names(project: Project, dataset: str, lake_uri: str) -> list[tuple[str, str]]:
    """(namespace, name) of each place ``dataset``'s source reads: the folder of a file
    source, the topic of a Kafka source, the table(s) of a SQL source, the input tables of a
    derived dataset."""
    source = project.dataset(dataset).source
    if isinstance(source, FileSource):
        return [files_dataset(project.resolve_url(source.url))]
    if isinstance(source, KafkaSource):
        servers = project.kafka.bootstrap_servers if project.kafka is not None else "kafka"
        return [kafka_dataset(servers, source.topic)]
    if isinstance(source, SqlSource):
        tables = [source.table] if source.table else _query_tables(source.query or "")
        return [sql_dataset(source.url, table) for table in tables]
    if isinstance(source, DerivedSource):
        return [lake_dataset(lake_uri, name) for name in source.inputs]
    return []


def ingest_started(project: Project, catalog: Any, dataset: str) -> IngestLineage | _NoLineage:
    """Emit START for a run of ``dataset`` (before it reads) and return the run to finish."""
    emitter = project_emitter(project)
    if not isinstance(emitter, Emitter):
        return _NoLineage()
    return IngestLineage(emitter, project, catalog.lake, dataset).started()


def kafka_published(
    project: Project,
    lake: Lake,
    dataset: str,
    version: int,
    schema: pa.Schema,
    checks: Sequence[Any],
    failed: Sequence[str] = (),
) -> None:
    """COMPLETE for one published Kafka micro-batch (its own run, STREAMING), or FAIL when it
    was quarantined (``failed`` reasons; the version then holds only the positions)."""
    emitter = project_emitter(project)
    if not isinstance(emitter, Emitter):
        return
    run = IngestLineage(emitter, project, lake, dataset)
    at = datetime.now(UTC)

    def build() -> list[LineageEvent]:
        output = table_dataset(
            lake.uri, dataset, None if failed else version, fields_of(schema), checks
        )
        kind: EventType = "FAIL" if failed else "COMPLETE"
        event = run.event(kind, at, run._inputs_of(None), (output,), "; ".join(failed) or None)
        return [replace(event, processing="STREAMING")]

    emitter.emit(build)


def training_read(catalog: Any, run: Any) -> None:
    """COMPLETE for a training run's read of ``dataset@version`` (``run`` a
    :class:`~thermocline.catalog.training_runs.TrainingRun`): job ``<run id>.train``, the
    input with the columns read."""
    emitter = emitter_for(catalog)
    if not isinstance(emitter, Emitter):
        return
    lake = catalog.lake
    at = datetime.now(UTC)

    def read() -> list[LineageEvent]:
        fields = fields_of(_schema(lake, run.dataset, run.version), list(run.columns))
        source = table_dataset(lake.uri, run.dataset, run.version, fields)
        return [
            LineageEvent(
                "COMPLETE",
                at,
                run_uuid(run.run_id),
                emitter.config.namespace,
                f"{run.run_id}.train",
                inputs=(source,),
                job_type="TRAINING",
            )
        ]

    emitter.emit(read)


def project_emitter(project: Project) -> Emitter | NullEmitter:
    """The emitter ``project``'s ``lineage.openlineage`` configures (its path made absolute)."""
    config = project.lineage.openlineage
    if config.transport == "off":
        return emitter_of(None)
    return emitter_of(config.model_copy(update={"path": project.resolve_url(config.path)}))


def _schema(lake: Lake, dataset: str, version: int) -> pa.Schema:
    from thermocline.datasets.tables.versions import open_table

    return pa.schema(open_table(lake, dataset, version).schema().to_arrow())


def _commit_inputs(lake: Lake, dataset: str, version: int) -> dict[str, int]:
    from thermocline.datasets.tables.version_index import commit_actions

    for action in commit_actions(lake, dataset, version) or []:
        info = action.get("commitInfo")
        if info and info.get(INPUTS_KEY):
            value = info[INPUTS_KEY]
            inputs = json.loads(value) if isinstance(value, str) else value
            return {str(name): int(at) for name, at in inputs.items()}
    return {}


def _query_tables(query: str) -> list[str]:
    """The tables a SQL source's query reads (sqlglot; none when it does not parse)."""
    try:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(query)
    except Exception:  # a query sqlglot cannot read names no table
        return []
    names = {".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)}
    return sorted(n for n in names if n)
