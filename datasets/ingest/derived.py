"""Derived datasets: a dataset computed from other datasets of the project, at pinned versions.

A ``kind: derived`` source names its ``inputs`` and either a DuckDB ``sql`` query (each input
is a table named by its dataset name) or a ``function`` (``module:name``, called with
``{dataset: pyarrow.Table}``, returning a ``pyarrow.Table``). Each run resolves every input's
latest version once and reads exactly those versions through the lake's pyarrow datasets
(projection and filters pushed down; archived and erased versions refused as for any read).

The commit records what it was computed from: :data:`INPUTS_KEY` holds ``{input: version}``
and one app transaction per input, ``derived:<input>`` (:func:`derived_app_id`), holds the
version. Those positions are the recompute rule: a run whose inputs are all at their recorded
versions (and whose query is the latest plain run's, :func:`definition_changed`) publishes
nothing. Every derived commit also moves the run count :data:`RUN_APP_ID` by one: a run or a
partition run that planned against a table another one has committed to since is refused
(:class:`CommitConflictError`) and discards its batch. A derived batch that fails a check is
quarantined without any commit, so the next run computes it again. What a
run recomputes (everything, or only the partitions whose input files changed) is planned by
:mod:`.derived_plan`; the result replaces that much of the table (``mode="overwrite"``).

>>> batch = read_new("ride_days", spec, spec.source, None, project, catalog=c)  # doctest: +SKIP
>>> batch.commit_metadata[INPUTS_KEY]                                          # doctest: +SKIP
'{"rides": 7, "zones": 2}'
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.commits import (
    DEFINITION_KEY,
    INPUTS_KEY,
    KIND_KEY,
    PARTITION_KEY,
)
from thermocline.catalog.config import DatasetSpec, DerivedSource, Project
from thermocline.catalog.errors import (
    ConfigError,
    DatasetNotFoundError,
    InputError,
    ThermoclineError,
)
from thermocline.datasets.ingest.base import SourceBatch, arrow_schema, open_or_none
from thermocline.datasets.ingest.derived_plan import InputState, changed_partitions, plan_recompute
from thermocline.datasets.ingest.schema_changes import conform_batch
from thermocline.datasets.tables.staging import partition_value
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset

__all__ = [
    "PLAIN_APP_ID",
    "RUN_APP_ID",
    "definition_app_id",
    "definition_changed",
    "definition_fingerprint",
    "derived_app_id",
    "read_new",
    "read_partition",
    "recorded_inputs",
]


def derived_app_id(input_dataset: str) -> str:
    """App-transaction id holding the version of ``input_dataset`` a derived table read."""
    return f"derived:{input_dataset}"


RUN_APP_ID = "derived-run"
"""App transaction counting a derived table's commits (plain runs, partition runs, replays):
each sets it one past the value it planned against, so of two derived commits planned against
the same table state delta-rs lets one in. (No dataset name has a hyphen, so none of these ids
clashes with :func:`derived_app_id`.)"""
PLAIN_APP_ID = "derived-plain"
"""App transaction holding the run count of the latest plain (whole-table) run."""


def definition_app_id(fingerprint: str) -> str:
    """App transaction holding the run count at which a plain run last used the query or
    function with ``fingerprint``: equal to :data:`PLAIN_APP_ID`'s value when the latest plain
    run used it. One read each, whatever the history's length."""
    return f"derived-definition:{fingerprint}"


def definition_fingerprint(dataset: str, source: DerivedSource, project: Project | None) -> str:
    """A fingerprint of what computes ``dataset``: the SQL text (whitespace folded), or the
    function's reference and source code (its reference alone when the source cannot be
    read). A different fingerprint than the latest plain run's recomputes everything."""
    if source.sql is not None:
        text = "sql:" + " ".join(source.sql.split())
    else:
        reference = source.function or ""
        function = _import_function(dataset, reference, project)
        try:
            code = inspect.getsource(function)
        except (OSError, TypeError):
            code = ""
        text = f"function:{reference}:{code}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def definition_changed(table: DeltaTable | None, fingerprint: str) -> bool:
    """Whether the latest plain run of ``table`` computed with another query or function (a
    table without a plain run yet has nothing to compare: its first one recomputes all)."""
    if table is None:
        return False
    plain = table.transaction_version(PLAIN_APP_ID)
    return plain is not None and table.transaction_version(definition_app_id(fingerprint)) != plain


def _run_positions(table: DeltaTable | None) -> tuple[int, int | None]:
    """(this commit's run count, the count it is planned against)."""
    before = table.transaction_version(RUN_APP_ID) if table is not None else None
    return (before or 0) + 1, before


def recorded_inputs(table: DeltaTable | None, inputs: Sequence[str]) -> dict[str, int | None]:
    """Input -> the version the derived ``table`` was last computed from (None: never)."""
    return {
        name: table.transaction_version(derived_app_id(name)) if table is not None else None
        for name in inputs
    }


@dataclass(frozen=True)
class _Input:
    """One input pinned at a version: its table there and how it is partitioned."""

    name: str
    version: int
    table: DeltaTable

    def partitioned_by(self, column: str | None) -> bool:
        return column is not None and column in self.table.metadata().partition_columns


def read_new(
    dataset: str,
    spec: DatasetSpec,
    source: DerivedSource,
    table: DeltaTable | None,
    project: Project | None,
    *,
    urls: Sequence[str] | None = None,
    max_files: int | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> SourceBatch | None:
    """Recompute what the inputs' new versions change; None when no input has a new version.

    A partitioned derived table whose moved inputs are partitioned by its first partition
    column recomputes just the partitions whose input files changed, reading only those
    partitions of them, and replaces just those (one the result leaves empty is emptied). A
    result with rows outside those partitions means the query does not compute partition by
    partition, so the run recomputes everything instead. Anything else is a full recompute
    that replaces the whole table.
    """
    if urls is not None or max_files is not None:
        raise ConfigError(f"datasets.{dataset}: `urls` and `max_files` are for file sources")
    catalog = _required(catalog, dataset)
    # Partition by partition only where the query promises it (source.partition_wise).
    column = spec.partition_by[0] if spec.partition_by and source.partition_wise else None
    recorded = recorded_inputs(table, source.inputs)
    pinned = _pin(catalog, dataset, source.inputs)
    definition = definition_fingerprint(dataset, source, project)
    for name, given in pinned.items():
        before = recorded[name]
        if before is not None and given.version < before:
            raise InputError(
                f"datasets.{dataset}: input {name} is at version {given.version}, older than "
                f"version {before} that {dataset} was computed from: was {name} deleted and "
                f"created again? Fix: delete the {dataset} table too and ingest it again"
            )
    states = {
        name: _state(catalog, name, recorded[name], given, column) for name, given in pinned.items()
    }
    plan = plan_recompute(
        column,
        states,
        table_exists=table is not None,
        definition_changed=definition_changed(table, definition),
    )
    if plan is None:
        return None
    partitions = plan.partitions
    reason = plan.reason
    data = _compute(catalog, dataset, source, project, pinned, column, partitions)
    if partitions is not None and column is not None and not _within(data, column, partitions):
        reason = (
            f"full recompute: the query returned rows outside the changed partitions of "
            f"{column}, so it does not compute partition by partition ({reason})"
        )
        partitions = None
        data = _compute(catalog, dataset, source, project, pinned, column, None)
    moved = {n for n, s in states.items() if s.moved}
    run, run_before = _run_positions(table)
    return _batch(
        dataset,
        spec,
        table,
        data,
        pinned,
        reason,
        app_transactions={
            **{derived_app_id(n): pinned[n].version for n in sorted(moved)},
            RUN_APP_ID: run,
            PLAIN_APP_ID: run,
            definition_app_id(definition): run,
        },
        expected={
            **{derived_app_id(n): recorded[n] for n in source.inputs},
            RUN_APP_ID: run_before,
        },
        definition=definition,
        replace_partitions="all" if partitions is None else tuple(sorted(partitions, key=str)),
        partition=None,
    )


def read_partition(
    catalog: Catalog, dataset: str, spec: DatasetSpec, project: Project | None, key: str
) -> SourceBatch:
    """Recompute partition ``key`` (a value of the first ``partition_by`` column) from the
    inputs' latest versions, to replace that partition (emptied when the result has no rows).

    Inputs partitioned by that column are read for ``key`` only; the others whole. The commit
    records the input versions it read (:data:`INPUTS_KEY`, with :data:`PARTITION_KEY`) but
    moves no position: the other partitions were not recomputed, so the next plain run still
    recomputes what changed since the recorded versions. It is refused if a plain run moved
    the positions meanwhile.
    """
    source = spec.source
    if not isinstance(source, DerivedSource) or not spec.partition_by:
        raise ConfigError(
            f"datasets.{dataset}: derived partition runs need a `kind: derived` source and "
            "partition_by"
        )
    if not source.partition_wise:
        raise ConfigError(
            f"datasets.{dataset}: a partition run recomputes one partition, which is right "
            "only for a per-partition query; fix: set source.partition_wise: true if each "
            f"partition depends only on the same partition of its inputs, or run `thermocline "
            f"ingest batch {dataset}` without --partition"
        )
    column = spec.partition_by[0]
    lake = lake_of(catalog)
    table = open_or_none(lake, dataset)
    recorded = recorded_inputs(table, source.inputs)
    run, run_before = _run_positions(table)
    pinned = _pin(catalog, dataset, source.inputs)
    data = _compute(catalog, dataset, source, project, pinned, column, frozenset({key}))
    if column not in data.column_names:
        raise ConfigError(
            f"datasets.{dataset}: the derived query returns no {column} column, which "
            f"partition_by names; fix: select {column}"
        )
    value = _delta_value(key, data.schema.field(column).type, dataset, column)
    if not _within(data, column, frozenset({value})):
        raise InputError(
            f"datasets.{dataset}: recomputing {column}={key} returned rows of other {column} "
            "values: the query does not compute partition by partition, so a partition run "
            f"cannot replace one; run `thermocline ingest batch {dataset}` without --partition"
        )
    return _batch(
        dataset,
        spec,
        table,
        data,
        pinned,
        f"partition {column}={key}",
        app_transactions={RUN_APP_ID: run},
        expected={
            **{derived_app_id(n): recorded[n] for n in source.inputs},
            RUN_APP_ID: run_before,
        },
        definition=definition_fingerprint(dataset, source, project),
        replace_partitions=(value,),
        partition=key,
    )


def _compute(
    catalog: Catalog,
    dataset: str,
    source: DerivedSource,
    project: Project | None,
    pinned: Mapping[str, _Input],
    column: str | None,
    partitions: frozenset[str | None] | None,
) -> pa.Table:
    """Run the query or function over the pinned inputs (those partitioned by ``column``
    filtered to ``partitions`` when given) and return its result."""
    inputs: dict[str, pads.Dataset] = {}
    for name, given in pinned.items():
        data = read_dataset(catalog, name, at=given.version)
        if partitions is not None and given.partitioned_by(column):
            data = data.filter(_isin(column or "", data.schema.field(column).type, partitions))
        inputs[name] = data
    if source.sql is not None:
        return _run_sql(dataset, source.sql, inputs)
    return _run_function(dataset, source.function or "", inputs, project)


def _required(catalog: Catalog | None, dataset: str) -> Catalog:
    if catalog is None:
        raise ConfigError(
            f"datasets.{dataset} is derived: reading it needs the catalog (it resolves and "
            "gates input versions); pass catalog=..."
        )
    return catalog


def _pin(catalog: Catalog, dataset: str, inputs: Sequence[str]) -> dict[str, _Input]:
    """Every input at its latest version, resolved once."""
    lake = lake_of(catalog)
    pinned = {}
    for name in inputs:
        try:
            table = open_table(lake, name)
        except DatasetNotFoundError:
            raise InputError(
                f"datasets.{dataset} reads {name}, which has no table yet; fix: ingest {name} "
                f"first (thermocline ingest batch {name})"
            ) from None
        pinned[name] = _Input(name, table.version(), table)
    return pinned


def _state(
    catalog: Catalog, name: str, recorded: int | None, given: _Input, column: str | None
) -> InputState:
    """What changed in ``name`` since ``recorded``: the partitions, when it is partitioned by
    ``column`` and both snapshots' logs are there."""
    partitioned = given.partitioned_by(column)
    changed = None
    if partitioned and column is not None and recorded is not None and recorded != given.version:
        try:
            before = open_table(lake_of(catalog), name, recorded)
        except (DeltaError, DatasetNotFoundError, OSError):
            before = None  # that version's log was cleaned up: changes unknown
        if before is not None:
            changed = changed_partitions(_files(before, column), _files(given.table, column))
    return InputState(recorded, given.version, partitioned, changed)


def _files(table: DeltaTable, column: str) -> list[tuple[str, str | None]]:
    return [
        (f["path"], partition_value((f["partition_values"] or {}).get(column)))
        for f in live_files(table)
    ]


def _isin(column: str, kind: pa.DataType, values: frozenset[str | None]) -> pc.Expression:
    typed = pa.array(sorted(values, key=str), type=pa.string()).cast(kind)
    return pc.field(column).isin(typed)


def _delta_value(key: str, kind: pa.DataType, dataset: str, column: str) -> str:
    """``key`` in Delta's string form for a column of type ``kind`` (2026-11-02 for a date)."""
    try:
        value = partition_value(pa.scalar(key).cast(kind).as_py())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise InputError(
            f"datasets.{dataset}: partition {key!r} is not a {column} value ({column} is "
            f"{kind}); write it as the partition column's values are written"
        ) from error
    return value if value is not None else key


def _within(data: pa.Table, column: str, partitions: frozenset[str | None]) -> bool:
    """Whether every row of ``data`` falls in ``partitions`` (a missing column: no)."""
    if column not in data.column_names:
        return False
    values = pc.unique(data[column]).to_pylist()
    return {partition_value(v) for v in values} <= partitions


def _run_sql(dataset: str, sql: str, inputs: Mapping[str, pads.Dataset]) -> pa.Table:
    import duckdb  # imported here: the CLI starts without it

    connection = duckdb.connect()
    try:
        for name, data in inputs.items():
            connection.register(name, data)  # a dataset: projection and filters push down
        relation = connection.sql(sql)
        if relation is None:
            raise ConfigError(
                f"datasets.{dataset}.source.sql returns no rows (not a query); fix: write one "
                f"SELECT over the inputs ({', '.join(inputs)})",
                field=f"datasets.{dataset}.source.sql",
            )
        return relation.to_arrow_table()
    except duckdb.Error as error:
        text = " ".join(str(error).split())
        raise ConfigError(
            f"datasets.{dataset}.source.sql failed: {text}; fix the query (the inputs are the "
            f"tables {', '.join(inputs)})",
            field=f"datasets.{dataset}.source.sql",
        ) from error
    finally:
        connection.close()


def _run_function(
    dataset: str, reference: str, inputs: Mapping[str, pads.Dataset], project: Project | None
) -> pa.Table:
    function = _import_function(dataset, reference, project)
    tables = {name: data.to_table() for name, data in inputs.items()}
    where = f"datasets.{dataset}.source.function"
    try:
        result = function(tables)
    except ThermoclineError:
        raise
    except Exception as error:
        raise InputError(
            f"{where}: {reference} raised {type(error).__name__}: {error}; fix the function "
            "(it is called with {dataset: pyarrow.Table})",
            field=where,
        ) from error
    if not isinstance(result, pa.Table):
        raise InputError(
            f"{where}: {reference} returned {type(result).__name__}, not a pyarrow.Table; fix: "
            "return one (e.g. pyarrow.Table.from_pandas(frame, preserve_index=False))",
            field=where,
        )
    return result


def _import_function(
    dataset: str, reference: str, project: Project | None
) -> Callable[[dict[str, pa.Table]], Any]:
    """``module:name`` imported; a module next to the project file is found too."""
    where = f"datasets.{dataset}.source.function"
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        root = str(project.root) if project is not None else None
        if root is None or root in sys.path or not module_name.startswith(str(error.name)):
            raise ConfigError(
                f"{where}: cannot import {module_name} ({error}); fix: install it or put it "
                "next to the project file",
                field=where,
            ) from error
        sys.path.insert(0, root)  # the project's own modules, as Dagster's code location does
        return _import_function(dataset, reference, project)
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(
            f"{where}: {module_name} has no function {name!r}; fix: correct `function` "
            "(module:function)",
            field=where,
        )
    return function  # type: ignore[no-any-return]


def _batch(
    dataset: str,
    spec: DatasetSpec,
    table: DeltaTable | None,
    data: pa.Table,
    pinned: Mapping[str, _Input],
    reason: str,
    *,
    app_transactions: dict[str, int],
    expected: dict[str, int | None],
    replace_partitions: Literal["all"] | tuple[str | None, ...],
    partition: str | None,
    definition: str,
) -> SourceBatch:
    versions = {name: given.version for name, given in sorted(pinned.items())}
    metadata = {
        KIND_KEY: "derived",
        INPUTS_KEY: json.dumps(versions, sort_keys=True),
        DEFINITION_KEY: definition,
    }
    if partition is not None:
        metadata[PARTITION_KEY] = partition
    read = ", ".join(f"{n}@{v}" for n, v in versions.items())
    raw = SourceBatch(
        dataset=dataset,
        data=data,
        commit_metadata=metadata,
        app_transactions=app_transactions,
        expected_positions=expected,
        description=f"{data.num_rows:,} row(s) derived from {read}: {reason}",
        mode="overwrite",
        replace=replace_partitions,
    )
    return conform_batch(
        raw, arrow_schema(table) if table is not None else None, spec.arrow_schema()
    )
