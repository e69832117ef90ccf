"""The training loader's plan: the (file, row group) units of one pinned table version.

A plan is made once per job from the Delta log and the Parquet footers (rank 0 makes it and
broadcasts it when ``torch.distributed`` is initialized). Pruning happens here, before any data
is read: files by their partition values and the min/max statistics in the log, row groups by
the statistics in the footers. With a filter, each surviving row group's matching rows are
counted (only the filter's columns are read, and not even those when the statistics decide),
because equal batch counts on every rank need exact row counts up front.

>>> plan = make_plan(lake, "rides", 3, ["fare", "distance"], [("fare", ">", 10)])  # doctest: +SKIP
>>> plan.rows, len(plan.units), plan.fingerprint[:12]                               # doctest: +SKIP
(812000, 14, '5be1f0c3a9d2')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import DeltaTable

from thermocline.catalog.errors import ExpiredVersionError, InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedFiles
from thermocline.datasets.tables.log_reach import pinned_dataset, readable_from
from thermocline.datasets.tables.versions import open_table, require_files

__all__ = ["FilterSpec", "Plan", "Unit", "filter_columns", "make_plan", "parse_filter"]

FilterSpec: TypeAlias = pc.Expression | Sequence[Any] | None
"""A pyarrow expression, or DNF tuples: ``[("fare", ">", 10), ("city", "in", ["a", "b"])]``
(all must hold) or a list of such lists (any may hold). Never a string: no SQL, no eval."""

_FOOTER_THREADS = 8  # footers are small reads; on S3 their latency dominates planning


@dataclass(frozen=True)
class Unit:
    """One row group of one data file, with its row count after the filter."""

    path: str  # relative to the table root, as in the Delta log
    row_group: int
    rows: int


@dataclass(frozen=True)
class Plan:
    """Everything a rank needs to read its share: plain values, picklable for a broadcast."""

    dataset: str
    version: int
    columns: tuple[str, ...]
    filter: pc.Expression | None
    table_schema: pa.Schema  # the whole table's, for reading fragments
    units: tuple[Unit, ...]
    partitions: dict[str, pc.Expression]  # file path -> its partition (and stats) expression

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)

    @property
    def schema(self) -> pa.Schema:
        """The schema of what the loader yields: the projected columns."""
        return pa.schema([self.table_schema.field(c) for c in self.columns])

    @property
    def fingerprint(self) -> str:
        """A digest of what the plan delivers: same table version, columns, filter and units."""
        text = json.dumps(
            [
                self.dataset,
                self.version,
                self.columns,
                str(self.filter),
                [(u.path, u.row_group, u.rows) for u in self.units],
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()


def parse_filter(spec: FilterSpec) -> pc.Expression | None:
    """``spec`` as a pyarrow expression (see :data:`FilterSpec`)."""
    if spec is None or isinstance(spec, pc.Expression):
        return spec
    if isinstance(spec, str | bytes):
        raise InputError(
            "a filter is a pyarrow expression or tuples such as [('fare', '>', 10)], not a string"
        )
    try:
        expression: pc.Expression = pq.filters_to_expression(list(spec))
    except (TypeError, ValueError) as error:
        raise InputError(
            f"malformed filter {spec!r} ({error}); write tuples (column, op, value) with op one "
            "of =, ==, !=, <, >, <=, >=, in, not in"
        ) from None
    return expression


def make_plan(
    lake: Lake,
    dataset: str,
    version: int,
    columns: Sequence[str] | None = None,
    filter: FilterSpec = None,
) -> Plan:
    """Read the log of ``dataset@version`` and the footers of its files into a :class:`Plan`."""
    expression = parse_filter(filter)
    source, table = _source(lake, dataset, version)
    schema = source.schema
    chosen = tuple(columns) if columns is not None else tuple(schema.names)
    unknown = [c for c in chosen if c not in schema.names]
    if unknown:
        raise InputError(
            f"{dataset}@{version} has no column(s) {', '.join(unknown)}; "
            f"its columns are {', '.join(schema.names)}"
        )
    if not chosen:
        raise InputError("columns is empty; name at least one column to read")
    problem = _bind_error(expression, schema) if expression is not None else None
    if problem is not None:
        raise InputError(f"filter {expression} does not fit {dataset}@{version}: {problem}")
    fragments = sorted(
        source.get_fragments(filter=expression)
        if expression is not None
        else source.get_fragments(),
        key=lambda f: f.path,
    )

    def units_of(fragment: pads.ParquetFileFragment) -> list[Unit]:
        found = []
        for piece in fragment.split_by_row_group(expression, schema=schema):
            (group,) = piece.row_groups
            rows = group.num_rows
            if expression is not None and rows:
                # Not Scanner.count_rows: with pyarrow 26 it counts the whole file's rows when
                # statistics decide the filter, even for a one-row-group fragment.
                rows = piece.to_table(schema=schema, columns=[], filter=expression).num_rows
            if rows:
                found.append(Unit(fragment.path, group.id, rows))
        return found

    try:
        with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
            units = [unit for found in pool.map(units_of, fragments) for unit in found]
    except OSError:  # a file of this version is gone: name them all (costs nothing otherwise)
        if table is not None:
            require_files(lake, dataset, table)
        raise
    return Plan(
        dataset=dataset,
        version=version,
        columns=chosen,
        filter=expression,
        table_schema=schema,
        units=tuple(units),
        partitions={f.path: f.partition_expression for f in fragments},
    )


def _source(lake: Lake, dataset: str, version: int) -> tuple[pads.Dataset, DeltaTable | None]:
    """The version's files as a pyarrow dataset, and its table (None for a pinned version that
    log retention took out of the log: read from the file list the catalog kept)."""
    if version < readable_from(lake, dataset):
        pinned = PinnedFiles(lake).find(dataset, version)
        if pinned is None:
            raise ExpiredVersionError(
                f"cannot plan {dataset}@{version}: log retention removed it and no tag or "
                f"release kept it; the oldest readable version is {readable_from(lake, dataset)}"
            )
        return pinned_dataset(lake, pinned), None
    table = open_table(lake, dataset, version)
    return table.to_pyarrow_dataset(filesystem=lake.table_filesystem(dataset)), table


def filter_columns(expression: pc.Expression, schema: pa.Schema) -> list[str]:
    """The columns of ``schema`` that ``expression`` reads (pyarrow has no accessor for them):
    a column is read when the expression no longer binds without it."""
    return [
        name
        for name in schema.names
        if _bind_error(expression, pa.schema([f for f in schema if f.name != name])) is not None
    ]


def _bind_error(expression: pc.Expression, schema: pa.Schema) -> str | None:
    try:
        pads.dataset(schema.empty_table()).scanner(columns=[], filter=expression)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        return str(error).splitlines()[0]
    return None
