"""SQL sources: a table or a query, read incrementally by a watermark column, exactly once.

Rows with ``watermark_column >`` the last published watermark (a bound parameter) are read; the
new watermark rides in the publishing commit as :data:`WATERMARK_KEY` and an app transaction
``sql:<dataset>`` counts batches. A commit with a lower watermark moves the source back (replay).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import (
    KIND_KEY,
    WATERMARK_KEY,
    decode_watermark,
    encode_watermark,
)
from thermocline.catalog.config import (
    DatasetSpec,
    Project,
    SqlSource,
    expand_env,
)
from thermocline.catalog.errors import (
    ConfigError,
    SourceHistoryError,
    SourceReadError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.base import SourceBatch, arrow_schema, open_or_none
from thermocline.datasets.ingest.schema_changes import conform_batch

__all__ = [
    "last_watermark",
    "read_new",
    "read_sql",
    "sql_app_id",
    "sqlalchemy_url",
]


_SQL_CHUNK_ROWS = 65_536


def sql_app_id(dataset: str) -> str:
    """App-transaction id counting the SQL batches published into ``dataset``."""
    return f"sql:{dataset}"


def last_watermark(lake: Lake, dataset: str) -> Any:
    """The watermark of the newest commit that carries one, as a Python value; None if none."""
    return _last_watermark(open_or_none(lake, dataset), dataset)


def read_sql(
    source: SqlSource,
    after: Any = None,
    schema: pa.Schema | None = None,
    *,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> pa.Table:
    """Rows of the source's table or query (with ``watermark_column > after`` when given).

    The watermark is a bound parameter, never formatted into the SQL. Rows come from the
    DBAPI cursor in chunks and become Arrow column by column (no dict per row); the types are
    ``schema``'s, else the reflected table's, else inferred from the values.
    """
    engine = sa.create_engine(url or expand_env(source.url, environ, "source.url"))
    try:
        with engine.connect() as connection:
            statement, types = _sql_statement(source, after, connection)
            if schema is not None:
                types.update({f.name: f.type for f in schema})
            result = connection.execution_options(stream_results=True).execute(statement)
            names = list(result.keys())
            chunks = []
            while rows := result.fetchmany(_SQL_CHUNK_ROWS):
                columns = list(zip(*rows, strict=True))
                arrays = [
                    _arrow_array(n, c, types.get(n)) for n, c in zip(names, columns, strict=True)
                ]
                chunks.append(pa.table(arrays, names=names))
    except sa.exc.SQLAlchemyError as error:
        raise SourceReadError(
            f"reading {source.table or 'the query'} failed: {error}; check source.url, "
            "source.table/query and the database"
        ) from error
    finally:
        engine.dispose()
    if chunks:
        return pa.concat_tables(chunks, promote_options="permissive")
    known = {n: types.get(n) or pa.null() for n in names}
    return pa.schema(list(known.items())).empty_table()


def read_new(
    dataset: str,
    spec: DatasetSpec,
    source: SqlSource,
    table: DeltaTable | None,
    project: Project | None,
    *,
    urls: Sequence[str] | None = None,
    max_files: int | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> SourceBatch | None:
    """New rows of a SQL source past the table's watermark; None if there are none."""
    if urls is not None or max_files is not None:
        raise ConfigError(f"datasets.{dataset}: `urls` and `max_files` are for file sources")
    url = sqlalchemy_url(expand_env(source.url, environ, f"datasets.{dataset}.source.url"), project)
    column = source.watermark_column
    after = _last_watermark(table, dataset) if column else None
    data = read_sql(source, after, spec.arrow_schema(), url=url)
    if data.num_rows == 0:
        return None
    metadata = {KIND_KEY: "sql"}
    watermark = None
    if column is not None:
        if column not in data.column_names:
            raise ConfigError(
                f"datasets.{dataset}.source.watermark_column: {column!r} is not among the "
                f"columns the source returns ({', '.join(data.column_names)})"
            )
        watermark = pc.max(data[column]).as_py()
        metadata[WATERMARK_KEY] = encode_watermark(watermark)
    previous = table.transaction_version(sql_app_id(dataset)) if table is not None else None
    table_schema = arrow_schema(table) if table is not None else None
    if column is None:
        description = f"{data.num_rows:,} row(s) from {source.table or 'the query'} (snapshot)"
    else:
        description = (
            f"{data.num_rows:,} row(s) from {source.table or 'the query'} with {column} > "
            f"{after!r} (up to {watermark!r})"
        )
    raw = SourceBatch(
        dataset=dataset,
        data=data,
        commit_metadata=metadata,
        app_transactions={sql_app_id(dataset): (previous or 0) + 1},
        expected_positions={sql_app_id(dataset): previous},
        description=description,
        mode="append" if column else "overwrite",
        watermark=watermark,
    )
    return conform_batch(raw, table_schema, spec.arrow_schema())


def sqlalchemy_url(url: str, project: Project | None) -> str:
    """A relative SQLite file resolves against the project folder, like every project path."""
    parsed = sa.engine.make_url(url)
    database = parsed.database
    if (
        project is not None
        and parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ):
        return parsed.set(database=project.resolve_url(database)).render_as_string(
            hide_password=False
        )
    return url


def _sql_statement(
    source: SqlSource, after: Any, connection: sa.Connection
) -> tuple[sa.Executable, dict[str, pa.DataType]]:
    column = source.watermark_column
    if source.table is not None:
        schema_name, _, name = source.table.rpartition(".")
        reflected = sa.Table(
            name, sa.MetaData(), schema=schema_name or None, autoload_with=connection
        )
        types = {c.name: t for c in reflected.columns if (t := _arrow_type(c.type)) is not None}
        statement = sa.select(reflected)
        if column is not None and after is not None:
            if column not in reflected.c:
                raise ConfigError(
                    f"source.watermark_column: {column!r} is not a column of {source.table}"
                )
            watermark = reflected.c[column]
            statement = statement.where(
                watermark > sa.bindparam("watermark", after, watermark.type)
            )
        return statement, types
    query = (source.query or "").strip().rstrip(";")
    if column is None or after is None:
        return sa.text(query), {}
    quoted = connection.dialect.identifier_preparer.quote(column)
    # The query is the project's own configuration and the column name is quoted; the
    # watermark value is a bound parameter.
    text = f"SELECT * FROM ({query}) AS thermocline_source WHERE thermocline_source.{quoted} > :watermark"  # noqa: S608, E501
    return sa.text(text).bindparams(sa.bindparam("watermark", after, _sa_type(after))), {}


def _last_watermark(table: DeltaTable | None, dataset: str) -> Any:
    if table is None or table.transaction_version(sql_app_id(dataset)) is None:
        return None
    limit = 16
    while True:  # newest first, in growing pages: usually the newest commit has it
        entries = table.history(limit)
        for entry in entries:
            if WATERMARK_KEY in entry:
                return decode_watermark(entry[WATERMARK_KEY])
        if len(entries) < limit:
            raise SourceHistoryError(
                f"{dataset}: its source counter ({sql_app_id(dataset)}) says batches were "
                f"published but no commit in its log carries {WATERMARK_KEY}: old commit files "
                "were cleaned from the Delta log, so the watermark is lost. Fix: publish an empty "
                f"batch with metadata {WATERMARK_KEY} set to the last loaded value"
            )
        limit *= 4


def _sa_type(value: Any) -> sa.types.TypeEngine[Any]:
    """The SQL type a watermark binds as, so drivers format it as they stored it."""
    if isinstance(value, dt.datetime):
        return sa.DateTime(timezone=value.tzinfo is not None)
    if isinstance(value, dt.date):
        return sa.Date()
    if isinstance(value, decimal.Decimal):
        return sa.Numeric()
    if isinstance(value, int):
        return sa.BigInteger()
    if isinstance(value, float):
        return sa.Float()
    return sa.String()


def _arrow_type(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType | None:
    """Arrow type of a reflected column, so empty and all-null columns still get a type."""
    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.Integer):
        return pa.int64()
    if isinstance(sql_type, sa.Float):
        return pa.float64()
    if isinstance(sql_type, sa.Numeric):
        precision, scale = sql_type.precision, sql_type.scale
        if precision and sql_type.asdecimal:
            return pa.decimal128(precision, scale or 0)
        return pa.float64()
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    if isinstance(sql_type, sa.String):
        return pa.string()
    if isinstance(sql_type, sa.LargeBinary):
        return pa.binary()
    return None


def _arrow_array(name: str, values: Sequence[Any], kind: pa.DataType | None) -> pa.Array:
    try:
        if kind is None:
            return pa.array(values)
        try:
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array(values).cast(kind)  # e.g. SQLite's text timestamps
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise SourceReadError(
            f"column {name!r}: the database returned values Arrow cannot hold as "
            f"{kind or 'one type'}: {error}; declare its type in the dataset's schema"
        ) from error
