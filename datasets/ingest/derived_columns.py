"""Column lineage of a derived dataset's SQL: which input columns each output column comes from.

Pure: the query text and the inputs' Arrow schemas in, a mapping out; sqlglot (dialect
``duckdb``) qualifies the query against the schemas (``*`` expands, aliases resolve) and
walks each output column back to the input tables' columns, through joins, CTEs, subqueries
and expressions. An output column built from no input column (``count(*)``, a literal) maps to
``[]``. None when it cannot be known: a function source, a query sqlglot cannot parse or
resolve, or more than one statement. Dagster's column lineage metadata and the OpenLineage
``columnLineage`` facet are built from it.

>>> import pyarrow as pa
>>> schemas = {"trips": pa.schema([("day", pa.date32()), ("fare", pa.float64())])}
>>> column_lineage("SELECT day, sum(fare) * 100 AS cents FROM trips GROUP BY day", schemas)
{'day': [('trips', 'day')], 'cents': [('trips', 'fare')]}
>>> column_lineage("SELEC oops", schemas) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

__all__ = ["column_lineage"]


def column_lineage(
    sql: str | None, input_schemas: Mapping[str, pa.Schema]
) -> dict[str, list[tuple[str, str]]] | None:
    """Output column -> [(input dataset, input column)] sorted, in the output's column order;
    None when the lineage cannot be known (no SQL, or SQL sqlglot cannot parse or resolve)."""
    if not sql:
        return None
    import sqlglot  # imported here: only lineage needs it
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, object] = {
        name: {field.name: _sql_type(field.type) for field in fields}
        for name, fields in input_schemas.items()
    }
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            return None
        query = qualify(statements[0], schema=schema, dialect="duckdb")
        result: dict[str, list[tuple[str, str]]] = {}
        for output in query.named_selects:
            node = lineage(output, query, schema=schema, dialect="duckdb", copy=True)
            found: list[tuple[str, str]] = []
            for leaf in node.walk():
                if leaf.downstream or not isinstance(leaf.expression, exp.Table):
                    continue
                table = leaf.expression.name
                column = sqlglot.parse_one(leaf.name, dialect="duckdb")
                pair = (table, column.name if isinstance(column, exp.Column) else leaf.name)
                if table in input_schemas and pair not in found:
                    found.append(pair)
            result[output] = sorted(found)
    except (SqlglotError, KeyError, ValueError):
        return None
    return result


def _sql_type(kind: pa.DataType) -> str:
    """A SQL type name sqlglot reads for an Arrow type (lineage needs names, not exact types)."""
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind):
        return "DOUBLE"
    if pa.types.is_decimal(kind):
        return "DECIMAL"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BLOB"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"{_sql_type(kind.value_type)}[]"
    if pa.types.is_struct(kind):
        return "STRUCT(" + ", ".join(f'"{f.name}" {_sql_type(f.type)}' for f in kind) + ")"
    return "VARCHAR"
