"""One aggregate DuckDB query per batch: the checks' column expressions side by side over the
Arrow batch (registered without a copy), with named parameters so that no value ever enters the
SQL text. A check that DuckDB cannot evaluate fails alone; the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from thermocline.catalog.config import (
    Check,
)
from thermocline.quality.messages import (
    show_column,
)
from thermocline.quality.results import (
    CheckResult,
    check_result,
)

__all__ = ["CheckPlan", "Query", "all_rows", "evaluate", "first_row", "quote", "readable"]


class Query:
    """The shared parts of the query: the batch's columns under positional aliases.

    Columns are registered as ``c0, c1, ...`` rather than by name because DuckDB matches quoted
    identifiers case-insensitively (``"id"`` and ``"ID"`` would clash) and a batch may even repeat
    a name; aliases are still quoted wherever they enter SQL. Only the columns that checks use
    are registered (zero-copy), so a column DuckDB cannot read troubles only its own checks.
    """

    def __init__(self, batch: pa.Table) -> None:
        self.batch = batch
        self.aliases: dict[int, str] = {}

    def column(self, index: int) -> str:
        alias = self.aliases.setdefault(index, f"c{len(self.aliases)}")
        return quote(alias)

    def connect(self) -> tuple[duckdb.DuckDBPyConnection, dict[int, str]]:
        """A fresh in-memory connection with the batch registered, and the columns it could
        not read (batch index -> reason)."""
        connection = duckdb.connect()
        columns = {i: readable(self.batch.column(i)) for i in self.aliases}
        unreadable: dict[int, str] = {}
        try:
            connection.register("batch", self._table(columns))
        except duckdb.Error:
            for index, data in list(columns.items()):
                try:
                    connection.register("probe", pa.table({"probe": data}))
                    connection.unregister("probe")
                except duckdb.Error:
                    field = self.batch.schema.field(index)
                    unreadable[index] = (
                        f"DuckDB cannot read {show_column(field.name)} ({field.type})"
                    )
                    del columns[index]
            connection.register("batch", self._table(columns))
        return connection, unreadable

    def _table(self, columns: dict[int, pa.ChunkedArray]) -> pa.Table:
        return pa.table({self.aliases[i]: data for i, data in columns.items()})


def readable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` in a type DuckDB reads: it has no float16 nor decimal256 (both widen
    losslessly when they fit)."""
    kind = column.type
    if pa.types.is_float16(kind):
        return column.cast(pa.float32())
    if pa.types.is_decimal256(kind) and kind.precision <= 38:
        return column.cast(pa.decimal128(kind.precision, kind.scale))
    return column


@dataclass
class CheckPlan:
    """One check's share of the aggregate query and how to turn its values into a result."""

    spec: Check
    name: str
    key: int
    indices: list[int]
    expressions: list[str] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)
    finish: Callable[[Sequence[Any], duckdb.DuckDBPyConnection], CheckResult] | None = None

    def param(self, value: object) -> str:
        """A named parameter: values never enter the SQL text."""
        name = f"p{self.key}_{len(self.params)}"
        self.params[name] = value
        return f"${name}"


def evaluate(
    connection: duckdb.DuckDBPyConnection, plans: list[tuple[int, CheckPlan]], rows: int
) -> list[tuple[int, CheckResult]]:
    """Run the plans as one query; if that fails, each alone, so that only the bad one fails."""
    if not plans:
        return []
    select = ", ".join(e for _, plan in plans for e in plan.expressions)
    params = {k: v for _, plan in plans for k, v in plan.params.items()}
    try:
        row = connection.execute(f"SELECT {select} FROM batch", params).fetchone()  # noqa: S608
    except duckdb.Error as error:
        if len(plans) == 1:
            position, plan = plans[0]
            reason = f"could not evaluate the check: {str(error).splitlines()[0]}"
            return [(position, check_result(plan.spec, plan.name, False, reason, {"rows": rows}))]
        return [r for item in plans for r in evaluate(connection, [item], rows)]
    assert row is not None  # an aggregate without GROUP BY returns exactly one row
    results: list[tuple[int, CheckResult]] = []
    start = 0
    for position, plan in plans:
        values = row[start : start + len(plan.expressions)]
        start += len(plan.expressions)
        assert plan.finish is not None
        results.append((position, plan.finish(values, connection)))
    return results


def quote(identifier: str) -> str:
    """An SQL identifier in double quotes, embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def first_row(
    connection: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> tuple[Any, ...] | None:
    rows = all_rows(connection, sql, params)
    return rows[0] if rows else None


def all_rows(
    connection: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of a query that only adds examples to a message (``params``: a plan's named
    parameters, when the query reuses its expressions): if it fails, go without them."""
    try:
        return connection.execute(sql, params or {}).fetchall()
    except duckdb.Error:
        return []
