"""OpenLineage run events as plain values: what a publish, a derived run or a training read
tells a lineage receiver (DESIGN.md > Decision 13). Pure: no IO, no openlineage import; the
emitter (:mod:`.emitter`) turns these into the client's objects in its own thread.

Naming follows OpenLineage's conventions: a table of a local lake is namespace ``file``, name
its absolute path; on S3 namespace ``s3://bucket``, name the key prefix; a Kafka topic is
``kafka://host:port`` / topic; a SQL table ``<dialect>://host:port`` / ``database.table``. A
version is ``dataset@version``, as everywhere in Thermocline.

>>> lake_dataset("s3://lake/prod", "rides")
('s3://lake', 'prod/rides')
>>> files_dataset("s3://landing/rides/2026-*/*.csv")
('s3://landing', 'rides')
>>> kafka_dataset("broker-1:9093,broker-2:9093", "rides")
('kafka://broker-1:9093', 'rides')
>>> run_uuid("ride-model-7") == run_uuid("ride-model-7")
True
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Assertion",
    "EventType",
    "LineageDataset",
    "LineageEvent",
    "assertions",
    "fields_of",
    "files_dataset",
    "kafka_dataset",
    "lake_dataset",
    "run_uuid",
    "sql_dataset",
    "table_dataset",
]

EventType = Literal["START", "COMPLETE", "FAIL", "ABORT"]
# A fixed namespace for run ids that are not UUIDs: the same id maps to the same UUID anywhere.
_RUN_NAMESPACE = uuid.UUID("8f2b7c4e-3a51-4c1f-9a0e-5d6b2e7f1c30")
_GLOB = re.compile(r"[*?\[]")
_SQL_SCHEMES = {"postgresql": "postgres", "mssql": "sqlserver", "mariadb": "mysql"}


@dataclass(frozen=True)
class Assertion:
    """One check's verdict, as a dataQualityAssertions entry."""

    name: str
    check: str
    passed: bool
    severity: str | None = None
    column: str | None = None
    expected: str | None = None
    actual: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class LineageDataset:
    """A dataset an event reads or writes. ``version`` is ``dataset@version`` (the
    datasetVersion facet), ``fields`` its (column, type) pairs (the schema facet),
    ``column_lineage`` per output column the (namespace, name, column) it is computed from."""

    namespace: str
    name: str
    version: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    assertions: tuple[Assertion, ...] = ()
    column_lineage: Mapping[str, tuple[tuple[str, str, str], ...]] | None = None


@dataclass(frozen=True)
class LineageEvent:
    """A RunEvent: ``job_name`` in ``job_namespace`` ran as ``run_id`` (a UUID)."""

    event_type: EventType
    event_time: datetime
    run_id: str
    job_namespace: str
    job_name: str
    inputs: tuple[LineageDataset, ...] = ()
    outputs: tuple[LineageDataset, ...] = ()
    processing: Literal["BATCH", "STREAMING"] = "BATCH"
    job_type: str = "JOB"
    error: str | None = None
    sql: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def run_uuid(run_id: str) -> str:
    """``run_id`` when it is a UUID (canonical form), else a UUID derived from it (v5): the
    OpenLineage spec wants a UUID, Thermocline's run ids may be any text."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def lake_dataset(lake_uri: str, table: str) -> tuple[str, str]:
    """(namespace, name) of table ``table`` in the lake at ``lake_uri``."""
    return _location(f"{lake_uri.rstrip('/')}/{table}")


def files_dataset(url: str) -> tuple[str, str]:
    """(namespace, name) of a file source: the folder its URL or glob reads from."""
    parts = url.split("/")
    cut = next((i for i, part in enumerate(parts) if _GLOB.search(part)), None)
    if cut is None and "." in parts[-1]:  # one file: its folder holds the source
        cut = len(parts) - 1
    folder = "/".join(parts[:cut]) if cut is not None else url
    return _location(folder.rstrip("/") or "/")


def kafka_dataset(bootstrap_servers: str, topic: str) -> tuple[str, str]:
    """(namespace, name) of a Kafka topic: the first bootstrap server names the cluster."""
    server = bootstrap_servers.split(",")[0].strip()
    server = server.split("://", 1)[-1]  # SASL_SSL://host:port and the like
    if ":" not in server:
        server = f"{server}:9092"
    return f"kafka://{server}", topic


def sql_dataset(url: str, table: str) -> tuple[str, str]:
    """(namespace, name) of ``table`` behind a SQLAlchemy ``url`` (no credentials kept)."""
    parts = urlsplit(url)
    dialect = parts.scheme.split("+", 1)[0]
    dialect = _SQL_SCHEMES.get(dialect, dialect)
    database = parts.path.lstrip("/")
    if not parts.hostname:  # sqlite and other file databases: the file names the namespace
        path = parts.path.lstrip("/")
        return f"{dialect}:///{path}" if path else f"{dialect}://memory", table
    port = f":{parts.port}" if parts.port else ""
    return f"{dialect}://{parts.hostname}{port}", f"{database}.{table}" if database else table


def table_dataset(
    lake_uri: str,
    dataset: str,
    version: int | None = None,
    fields: tuple[tuple[str, str], ...] = (),
    checks: Iterable[Any] | Mapping[str, Mapping[str, Any]] = (),
    column_lineage: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> LineageDataset:
    """A table of the lake as an event names it: at ``version`` (``dataset@version``), with its
    ``fields``, the ``checks`` that judged that version, and for a derived table the input
    (dataset, column) pairs of each output column (input datasets are tables of the same lake).

    >>> table_dataset("/lake", "trips", 2, column_lineage={"km": [("rides", "meters")]})
    ... # doctest: +NORMALIZE_WHITESPACE
    LineageDataset(namespace='file', name='/lake/trips', version='trips@2', fields=(),
        assertions=(), column_lineage={'km': (('file', '/lake/rides', 'meters'),)})
    """
    namespace, name = lake_dataset(lake_uri, dataset)
    lineage = None
    if column_lineage is not None:
        lineage = {
            column: tuple((*lake_dataset(lake_uri, source), field) for source, field in sources)
            for column, sources in column_lineage.items()
        }
    return LineageDataset(
        namespace,
        name,
        None if version is None else f"{dataset}@{version}",
        fields,
        assertions(checks),
        lineage,
    )


def assertions(results: Iterable[Any] | Mapping[str, Mapping[str, Any]]) -> tuple[Assertion, ...]:
    """Check results (:class:`~thermocline.quality.results.CheckResult` objects, or the
    commit's check summary ``{name: entry}``) as assertions, in their order."""
    if isinstance(results, Mapping):
        return tuple(
            Assertion(
                name=name,
                check=str(entry.get("check") or name),
                passed=bool(entry.get("passed")),
                severity=_text(entry.get("severity")),
                expected=_text(entry.get("threshold")),
                actual=_text(entry.get("observed")),
                description=_text(entry.get("message")),
            )
            for name, entry in results.items()
        )
    judged: Iterable[Any] = results
    return tuple(
        Assertion(
            name=result.name,
            check=result.check,
            passed=bool(result.passed),
            severity=_text(result.severity),
            column=_column(result.metadata),
            expected=_text(result.threshold),
            actual=_text(result.observed),
            description=_text(result.message),
        )
        for result in judged
    )


def fields_of(
    schema: Iterable[Any], columns: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """(name, type) pairs of a pyarrow schema's fields (only ``columns``, in their order)."""
    types = {f.name: str(f.type) for f in schema}
    names = list(types) if columns is None else [c for c in columns if c in types]
    return tuple((name, types[name]) for name in names)


def _location(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:
        return "file", parts.path if parts.scheme == "file" else url
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _column(metadata: Mapping[str, Any] | None) -> str | None:
    column = (metadata or {}).get("column")
    return column if isinstance(column, str) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN: nothing judged
        return None
    return str(value)
