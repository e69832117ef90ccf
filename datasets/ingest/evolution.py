"""Schema evolution, one implementation for every ingestion path (files, SQL, Kafka).

:func:`evolve_schema` is a pure function: new columns are added, missing ones become nulls,
safe widenings are cast, anything else raises :class:`SchemaEvolutionError` naming the column,
both types and the fix. Batch sources call it once per batch and quarantine a batch that breaks
a rule. A stream of records (Kafka) calls :func:`evolve_records`, the same rules applied so
that a record breaking one is rejected alone (a dead letter) instead of its batch.

Readers hand their parsers explicit types as a hint (:func:`json_read_schemas`); whatever a
parser makes of the data, these functions decide what it becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import Schema as DeltaSchema

from thermocline.catalog.arrow_types import is_binary_type, is_list_type, is_string_type
from thermocline.catalog.errors import (
    SchemaEvolutionError,
)

__all__ = [
    "EvolvedBatch",
    "EvolvedRecords",
    "evolve_records",
    "evolve_schema",
    "json_read_schemas",
]


@dataclass(frozen=True)
class EvolvedBatch:
    """A batch conformed to a table's schema by :func:`evolve_schema`.

    ``data`` has the table's columns in the table's order (cast where needed, nulls where the
    batch lacked them) followed by the ``added`` columns; ``data.schema`` is the merged schema
    to publish with. ``deferred`` columns were all-null of Arrow's null type: they are left
    out until a batch brings a value that gives them a type.
    """

    data: pa.Table
    added: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return self.data.schema


# Cross-family conversions that never invent or drop information when the cast succeeds
# (casts run with safe=True, so overflow, truncation and unparsable text still fail).
_SAFE_ACROSS = {
    ("integer", "floating"),
    ("integer", "decimal"),
    ("floating", "integer"),  # whole numbers only: a fraction fails the safe cast
    ("date", "timestamp"),
    ("binary", "string"),  # valid UTF-8 only
    ("string", "binary"),
    *((kind, "string") for kind in ("integer", "floating", "decimal", "boolean", "date")),
    *(("string", kind) for kind in ("integer", "floating", "decimal", "boolean", "date")),
    ("string", "timestamp"),
}


def evolve_schema(table_schema: pa.Schema | None, batch: pa.Table) -> EvolvedBatch:
    """Conform ``batch`` to ``table_schema`` (None: a new table), adding what is new.

    - a column the table lacks is *added* (kept, after the table's columns); Arrow null-type
      columns (all null, inferred) are *deferred*: left out until a batch types them;
    - a table column the batch lacks is *filled* with nulls (an error if the table says
      non-nullable);
    - a different type is *cast* when no value changes meaning: the same family (int32 ->
      int64, float32 -> float64, timestamp units, string/large_string), integer -> float,
      date -> timestamp, text that parses as the table's type, values -> text; overflow,
      truncation and unparsable text fail the cast;
    - anything else (int64 -> timestamp, text that is not a number, ...) raises
      :class:`SchemaEvolutionError` naming the column, both types and the fix.

    Timestamps in seconds or milliseconds become microseconds (Delta stores no coarser unit).
    """
    columns: dict[str, pa.ChunkedArray] = {}
    extra: list[str] = []  # batch columns the table lacks, in batch order
    added: list[str] = []
    filled: list[str] = []
    cast: list[str] = []
    deferred: list[str] = []
    batch_names = set(batch.column_names)
    if len(batch_names) != batch.num_columns:
        raise SchemaEvolutionError(
            f"the batch repeats column name(s) {_repeated(batch.column_names)}; rename them "
            "at the source",
            column=_repeated(batch.column_names)[0],
            table_type=None,
            batch_type=None,
        )
    # A declared or inferred target may name a unit Delta cannot store; a table's never does.
    table_fields = [f.with_type(_storable_type(f.type)) for f in (table_schema or [])]
    lowered = {f.name.lower(): f.name for f in table_fields}
    for target in table_fields:
        if target.name not in batch_names:
            if not target.nullable:
                raise SchemaEvolutionError(
                    f"column {target.name!r}: the table has {target.type} NOT NULL and the batch "
                    f"has no such column; add it at the source or make the column nullable",
                    column=target.name,
                    table_type=target.type,
                    batch_type=None,
                )
            columns[target.name] = pa.chunked_array([pa.nulls(batch.num_rows, target.type)])
            filled.append(target.name)
            continue
        column = batch[target.name]
        converted = _conform_column(target.name, column, target.type)
        if not target.nullable and converted.null_count:
            raise SchemaEvolutionError(
                f"column {target.name!r}: the table has {target.type} NOT NULL and the batch has "
                f"{converted.null_count} null(s); fill them at the source or make the column "
                "nullable",
                column=target.name,
                table_type=target.type,
                batch_type=column.type,
            )
        if converted is not column:
            cast.append(target.name)
        columns[target.name] = converted
    for name in batch.column_names:
        if table_schema is not None and name in table_schema.names:
            continue
        column = batch[name]
        if pa.types.is_null(column.type):
            deferred.append(name)  # no value yet, so no type and no name to clash
            continue
        if name.lower() in lowered:
            other = lowered[name.lower()]
            holder = "the batch also" if other in extra else "the table"
            raise SchemaEvolutionError(
                f"column {name!r}: {holder} has {other!r}, which differs only in case (Delta "
                "column names are case-insensitive); rename it at the source",
                column=name,
                table_type=None,
                batch_type=column.type,
            )
        storable = _storable(name, column)
        if storable is not column:
            cast.append(name)
        columns[name] = storable
        extra.append(name)
        lowered[name.lower()] = name
        if table_schema is not None:
            added.append(name)
    fields = [
        *(pa.field(f.name, columns[f.name].type, f.nullable, f.metadata) for f in table_fields),
        *(batch.schema.field(n).with_type(columns[n].type) for n in extra),
    ]
    data = pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))
    return EvolvedBatch(data, tuple(added), tuple(filled), tuple(cast), tuple(deferred))


@dataclass(frozen=True)
class EvolvedRecords:
    """Records conformed by :func:`evolve_records`: ``data`` holds those that fit, in order, in
    the grown schema; ``rejected`` the position of each other one and the error naming its
    column."""

    data: pa.Table
    rejected: tuple[tuple[int, SchemaEvolutionError], ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return self.data.schema


def evolve_records(
    table_schema: pa.Schema | None, pieces: Sequence[tuple[int, pa.Table]]
) -> EvolvedRecords:
    """Conform a stream's records to ``table_schema`` by the rules of :func:`evolve_schema`,
    rejecting the records that break a rule instead of the whole batch.

    ``pieces`` are runs of consecutive records (a row each) with the position of their first.
    They are conformed in order, the schema growing as they go (the first piece that types a
    new field decides its type). The records at fault for a broken rule are found without a
    Python step per record:

    - a new field the table cannot take (its name differs only in case from a column's, or
      Delta cannot store its type): exactly the records that carry a value in it; the others
      go on without the field;
    - a NOT NULL column the piece lacks: every record of the piece;
    - anything else (a value that does not fit its column): the piece is halved until the
      record stands alone.

    >>> table = pa.schema([("id", pa.int64())])
    >>> piece = pa.table({"id": ["1", "x"], "ID": [None, 5]})
    >>> evolved = evolve_records(table, [(10, piece)])
    >>> evolved.data.to_pylist(), [(at, e.column) for at, e in evolved.rejected]
    ([{'id': 1}], [(11, 'id')])
    """
    schema = table_schema
    accepted: list[pa.Table] = []
    rejected: list[tuple[int, SchemaEvolutionError]] = []
    # A stack of (record positions, records), the next piece on top, so order is kept.
    todo: list[tuple[np.ndarray, pa.Table]] = [
        (np.arange(start, start + piece.num_rows), piece) for start, piece in reversed(pieces)
    ]
    while todo:
        positions, piece = todo.pop()
        if piece.num_rows == 0:  # nothing to judge (and an empty rest must not loop)
            continue
        try:
            evolved = evolve_schema(schema, piece)
        except SchemaEvolutionError as error:
            fault = _at_fault(error, schema, piece)
            if fault is None and piece.num_rows == 1:
                fault = np.ones(1, dtype=bool)
            if fault is None:
                middle = piece.num_rows // 2
                todo.append((positions[middle:], piece.slice(middle)))
                todo.append((positions[:middle], piece.slice(0, middle)))
                continue
            rejected += [(int(at), error) for at in positions[fault]]
            rest = piece.filter(pa.array(~fault))
            if error.column in rest.column_names:  # only nulls left in it: as if absent
                rest = rest.drop_columns([error.column])
            todo.append((positions[~fault], rest))
            continue
        if not evolved.schema.names:  # a new table and only null fields: nothing to keep them in
            untyped = SchemaEvolutionError(
                "no field has a value yet and the table has no columns, so nothing types these "
                "records; fix: declare the dataset's schema",
                column=piece.column_names[0] if piece.column_names else "",
            )
            rejected += [(int(at), untyped) for at in positions]
            continue
        schema = evolved.schema
        accepted.append(evolved.data)
    rejected.sort(key=lambda r: r[0])
    if schema is None:
        return EvolvedRecords(pa.table({}), tuple(rejected))
    # Pieces before a new field lack it: conform them to the final schema (nulls).
    data = [t if t.schema == schema else evolve_schema(schema, t).data for t in accepted]
    return EvolvedRecords(pa.concat_tables(data) if data else schema.empty_table(), tuple(rejected))


def json_read_schemas(schema: pa.Schema | None) -> list[pa.Schema | None]:
    """The explicit schemas a JSON reader tries on records for a table of ``schema``, in order,
    until one parses (None: every type inferred); :func:`evolve_schema` or
    :func:`evolve_records` then decides what the parsed values become.

    First the table's types, with dates and times as text (pyarrow's JSON reader parses those
    only from numbers); then only the text columns, so that text stays text (inference would
    turn ``"2026-01-02"`` into a timestamp) while a number sent as text, or an integer too wide
    for its column, is parsed as it is and judged by the cast rules; last, all inferred.

    >>> tries = json_read_schemas(pa.schema([("id", pa.int32()), ("day", pa.date32())]))
    >>> [None if s is None else [str(t) for t in s.types] for s in tries]
    [['int32', 'string'], ['string'], None]
    """
    if schema is None:
        return [None]
    typed = pa.schema([f.with_type(pa.string()) if _is_date_or_time(f.type) else f for f in schema])
    text = pa.schema([f for f in typed if is_string_type(f.type)])
    tries: list[pa.Schema | None] = [typed]
    if text != typed:
        tries.append(text if len(text) else None)
    if tries[-1] is not None:
        tries.append(None)
    return tries


def _at_fault(
    error: SchemaEvolutionError, schema: pa.Schema | None, piece: pa.Table
) -> np.ndarray | None:
    """Which records of ``piece`` break the rule ``error`` reports, when that does not depend
    on their values; None when it does (a value that does not fit: halve and look again)."""
    names = piece.column_names
    if error.column not in names or names.count(error.column) > 1:
        return np.ones(piece.num_rows, dtype=bool)  # a NOT NULL column lacking; a repeated name
    if error.table_type is None and (schema is None or error.column not in schema.names):
        # A new field the table cannot take: the records that carry a value in it.
        return np.asarray(pc.is_valid(piece[error.column]).to_numpy(), dtype=bool)
    return None


def _conform_column(name: str, column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    source = column.type
    if source == target or _same_storage(source, target):
        return column
    if pa.types.is_null(source):
        return pa.chunked_array([pa.nulls(len(column), target)])
    source_family, target_family = _family(source), _family(target)
    if source_family != target_family and (source_family, target_family) not in _SAFE_ACROSS:
        raise SchemaEvolutionError(
            f"column {name!r}: the table has {target}, the batch has {source}, and {source} "
            f"cannot become {target} without changing what the values mean; fix: declare "
            f"{name!r} as {target} in the dataset's schema so the source is read as such, "
            "correct the source, or load the column under a new name",
            column=name,
            table_type=target,
            batch_type=source,
        )
    try:
        return column.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise SchemaEvolutionError(
            f"column {name!r}: the table has {target}, the batch has {source}, and some values "
            f"do not fit ({error}); fix: correct those rows at the source, or declare {name!r} "
            f"with a type that holds them and rewrite the table",
            column=name,
            table_type=target,
            batch_type=source,
        ) from None


def _storable(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A new column in a type Delta can store; an error naming it when there is none."""
    kind = _storable_type(column.type)
    if kind != column.type:
        return column.cast(kind)
    try:
        DeltaSchema.from_arrow(pa.schema([pa.field(name, kind)]))
    except Exception as error:  # delta-rs raises a bare Exception for unsupported types
        raise SchemaEvolutionError(
            f"column {name!r}: a Delta table cannot store {kind} ({str(error).splitlines()[0]}); "
            "fix: declare the column as string, int64 or timestamp[us] in the dataset's schema",
            column=name,
            table_type=None,
            batch_type=kind,
        ) from None
    return column


def _storable_type(kind: pa.DataType) -> pa.DataType:
    """Timestamps in seconds or milliseconds as microseconds: Delta has no coarser unit."""
    if pa.types.is_timestamp(kind) and kind.unit in ("s", "ms"):
        return pa.timestamp("us", tz=kind.tz)
    return kind


def _family(kind: pa.DataType) -> str:
    checks = (
        ("integer", pa.types.is_integer),
        ("floating", pa.types.is_floating),
        ("decimal", pa.types.is_decimal),
        ("boolean", pa.types.is_boolean),
        ("string", is_string_type),
        ("binary", is_binary_type),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("time", pa.types.is_time),
        ("duration", pa.types.is_duration),
        ("list", is_list_type),
        ("struct", pa.types.is_struct),
        ("map", pa.types.is_map),
    )
    for family, check in checks:
        if check(kind):
            return family
    return str(kind)


def _same_storage(source: pa.DataType, target: pa.DataType) -> bool:
    """Types Delta stores alike (string vs large_string): no cast needed, the file reads back."""
    if is_string_type(source) and is_string_type(target):
        return True
    return (
        is_binary_type(source)
        and is_binary_type(target)
        and not pa.types.is_fixed_size_binary(target)
    )


def _is_date_or_time(kind: pa.DataType) -> bool:
    return bool(pa.types.is_date(kind) or pa.types.is_time(kind))


def _repeated(names: Sequence[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})
