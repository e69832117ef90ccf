"""Kafka payloads -> Arrow: JSON, Avro, and Avro in the Confluent wire format.

Decoding is pure apart from the schema registry lookup: payloads in, an Arrow table and the
failures (payload index, reason) out. JSON payloads are joined as JSON lines and parsed by
pyarrow, in pieces on parallel threads, with no Python object per record. When a chunk fails
it is halved until the bad payloads stand alone, so a few poison records cost a few extra
parses, not one per record.

Schema evolution is :mod:`.evolution`'s, the same rules as for files and SQL: the schema
handed in (the table's, or the declared one before the table exists) is the parser's explicit
hint and fields it lacks are inferred; :func:`.evolution.evolve_records` then conforms the
parsed records to it, grows it by their new fields, and rejects the records that break a rule,
each with the error that names its column. A run of records that does not parse with the hint
is parsed again with looser hints (:func:`.evolution.json_read_schemas`) and judged by the cast
rules, so ``"7"`` for an integer column is 7 here as in a file; a record that still fails, or
that does not fit, is a failure of its own (a dead letter), never its batch's.

A JSON record is one object: poison of every kind is a failure with its reason, found by the
vectorized checks of :mod:`.poison`; the parser's block holds the largest record, so a large
field is read.

>>> schema = pa.schema([("id", pa.int64())])
>>> table, failures, grown = decode_json([b'{"id": 1}', b'{"id": "x"}'], schema)
>>> table.num_rows, failures[0][0]
(1, 1)
"""

from __future__ import annotations

import io
import json
import os
import struct
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from thermocline.catalog.errors import ConfigError, SourceReadError
from thermocline.datasets.ingest.evolution import evolve_records, json_read_schemas
from thermocline.datasets.ingest.poison import MAX_RECORD_BYTES, non_finite, screen_json, too_big

__all__ = [
    "CONFLUENT_MAGIC",
    "MAX_RECORD_BYTES",
    "Decoded",
    "SchemaRegistry",
    "avro_schema",
    "decode_avro",
    "decode_json",
]

CONFLUENT_MAGIC = 0  # first byte of the Confluent wire format, then a 4-byte schema id
_PIECE_RECORDS = 25_000  # JSON payloads parsed per thread at a time
_PARSERS = os.cpu_count() or 2
_BLOCK_BYTES = 1 << 20  # pyarrow's JSON block, unless a record needs more
Decoded = tuple[pa.Table, list[tuple[int, str]], pa.Schema | None]
_Parse = Callable[[Sequence[Any], pa.Schema | None], pa.Table]


class _Undecodable(ValueError):
    """One payload cannot be decoded (its reason goes to the dead letters)."""


def decode_json(
    payloads: Sequence[bytes],
    schema: pa.Schema | None,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Decoded:
    """Parse JSON object payloads; return (rows conformed to ``schema``, failures, the schema
    grown by new fields). Poison (see the module's docstring) is a failure with its reason."""
    payloads = list(payloads)
    lines = _as_lines(payloads)
    failures = screen_json(payloads, lines, max_record_bytes)
    keep = None
    if failures:
        bad = {index for index, _ in failures}
        keep = [i for i in range(len(payloads)) if i not in bad]
        lines = _as_lines([payloads[i] for i in keep])
    table, more, grown = _decode(
        lines, _parse_json, json_read_schemas(schema), schema, reject=non_finite
    )
    if keep is not None:
        more = [(keep[i], reason) for i, reason in more]
    return table, sorted(failures + more), grown


def decode_avro(
    payloads: Sequence[bytes],
    schema: pa.Schema | None,
    registry: SchemaRegistry | None,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Decoded:
    """Decode Avro payloads: Confluent wire format with ``registry``, else plain Avro datums
    written with :func:`avro_schema` of ``schema`` (the dataset's declared columns). A payload
    over ``max_record_bytes`` is a failure."""
    read: Callable[[bytes], Any]
    if registry is not None:
        read = partial(_read_confluent, registry=registry)
    elif schema is not None:
        read = partial(_read_plain, writer=fastavro.parse_schema(avro_schema(schema)))
    else:
        raise SourceReadError("avro without a schema registry needs the dataset's `schema`")
    records: list[Any] = []
    failures: list[tuple[int, str]] = []
    for index, payload in enumerate(payloads):
        if len(payload) > max_record_bytes:
            failures.append((index, too_big(len(payload), max_record_bytes)))
            records.append(None)
            continue
        try:
            records.append(read(payload))
        except SourceReadError:
            raise  # the registry is unreachable: not the record's fault
        except Exception as error:  # any payload that does not decode is a dead letter
            failures.append((index, f"avro: {error or type(error).__name__}"))
            records.append(None)
    keep = [i for i, record in enumerate(records) if record is not None]
    hints = [schema, None] if schema is not None else [None]
    table, more, grown = _decode([records[i] for i in keep], _parse_records, hints, schema)
    failures += [(keep[i], reason) for i, reason in more]
    return table, sorted(failures), grown


def avro_schema(schema: pa.Schema, name: str = "record") -> dict[str, Any]:
    """The Avro record schema producers use for plain (registry-less) Avro payloads: every
    column nullable, with a null default."""
    return {
        "type": "record",
        "name": name,
        "fields": [
            {"name": f.name, "type": ["null", _avro_type(f.type)], "default": None} for f in schema
        ],
    }


class SchemaRegistry:
    """Writer schemas by id from a Confluent-compatible schema registry (cached forever: an id
    never changes its schema). ``auth`` is ``user:password`` for HTTP basic auth."""

    def __init__(self, url: str, auth: str | None = None, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"kafka.schema_registry_url: {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/vnd.schemaregistry.v1+json"}
        if auth:
            self._headers["Authorization"] = "Basic " + b64encode(auth.encode()).decode()
        self._timeout = timeout_s
        self.schema = lru_cache(maxsize=1024)(self._fetch)

    def _fetch(self, schema_id: int) -> Any:
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            f"{self.url}/schemas/ids/{schema_id}", headers=self._headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (http(s) only)
                body = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise _Undecodable(f"schema id {schema_id} is not in the registry") from error
            raise SourceReadError(f"schema registry {self.url}: HTTP {error.code}") from error
        except (urllib.error.URLError, TimeoutError) as error:
            raise SourceReadError(
                f"schema registry {self.url} unreachable ({error}); check kafka.schema_registry_url"
            ) from error
        if body.get("schemaType", "AVRO") != "AVRO":
            raise _Undecodable(f"schema id {schema_id} is {body['schemaType']}, not AVRO")
        return fastavro.parse_schema(json.loads(body["schema"]))


# --- the bisecting decode --------------------------------------------------------------------


def _decode(
    items: Sequence[Any],
    parse: _Parse,
    hints: Sequence[pa.Schema | None],
    schema: pa.Schema | None,
    reject: Callable[[pa.Table], list[tuple[int, str]]] | None = None,
) -> Decoded:
    """Parse ``items`` in runs, halving a run that fails until the bad items stand alone, then
    conform the runs with :func:`.evolution.evolve_records`.

    The whole batch and a lone item try every hint (a producer that changed a type for every
    record costs one more parse, not one per record); runs between try the first only. A run
    parses to one row per item, or it fails. ``reject`` names rows of a parsed run that are
    failures all the same (row in the run, reason); the rows between them go on.
    """
    pieces: list[tuple[int, pa.Table]] = []
    failures: list[tuple[int, str]] = []

    def visit(start: int, stop: int) -> None:
        alone = stop - start == 1
        first: Exception | None = None
        for hint in hints if alone or (start, stop) == (0, len(items)) else hints[:1]:
            try:
                table = parse(items[start:stop], hint)
                if table.num_rows != stop - start:
                    found = table.num_rows
                    raise pa.ArrowInvalid(
                        f"{found} values in one record; a record holds one object"
                        if alone
                        else f"expected {stop - start} records, found {found}"
                    )
            except (pa.ArrowInvalid, pa.ArrowTypeError, _Undecodable) as error:
                first = first or error
                continue
            rejected = reject(table) if reject is not None else []
            failures.extend((start + row, reason) for row, reason in rejected)
            run = 0  # the first row of the run of good rows being cut
            for row in [*sorted({row for row, _ in rejected}), table.num_rows]:
                if row > run:
                    pieces.append((start + run, table.slice(run, row - run)))
                run = row + 1
            return
        if alone:
            failures.append((start, str(first).splitlines()[0]))
            return
        middle = (start + stop) // 2
        visit(start, middle)
        visit(middle, stop)

    if items:
        visit(0, len(items))
    evolved = evolve_records(schema, pieces)
    failures += [(at, str(error)) for at, error in evolved.rejected]
    grown = evolved.schema if pieces or schema is not None else None
    return evolved.data, sorted(failures), grown


def _parse_json(payloads: pa.LargeBinaryArray, schema: pa.Schema | None) -> pa.Table:
    """Parse JSON payloads as one table, in pieces on parallel threads.

    Pieces of ``_PIECE_RECORDS`` parsed single-threaded side by side took about 30% less CPU
    and 40% less time than one multi-threaded ``read_json`` (benchmarks/RESULTS.md). When a
    piece finds a field the schema lacks, the whole is parsed again at once, so that a new
    field's type is inferred over every record, as a single parse would.
    """
    if schema is not None and len(payloads) > _PIECE_RECORDS:
        starts = range(0, len(payloads), _PIECE_RECORDS)
        with ThreadPoolExecutor(max_workers=_PARSERS) as pool:
            pieces = list(
                pool.map(lambda s: _parse_lines(payloads[s : s + _PIECE_RECORDS], schema), starts)
            )
        if all(piece.schema == schema for piece in pieces):
            return pa.concat_tables(pieces)
    return _parse_lines(payloads, schema)


def _parse_lines(lines: pa.LargeBinaryArray, schema: pa.Schema | None) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    # One block must hold the largest record (a line): pyarrow fails a line over its block.
    largest = pc.max(pc.binary_length(lines)).as_py() or 0
    read = pajson.ReadOptions(
        use_threads=False,  # the caller runs pieces in parallel
        block_size=max(_BLOCK_BYTES, 2 * largest + 1),
    )
    try:
        return pajson.read_json(_joined(lines), read_options=read, parse_options=options)
    except pa.ArrowInvalid:
        # The reader cuts its input into blocks at newlines, so a pretty-printed payload can
        # fail where it spans a cut. Put each on one line and try again (outside strings a
        # newline is whitespace). Checking up front would scan every batch for them.
        if pc.max(pc.count_substring(lines, "\n")).as_py() < 2:
            raise
        one_line = [p.rstrip(b"\n").replace(b"\n", b" ") for p in lines.to_pylist()]
        return pajson.read_json(
            _joined(_as_lines(one_line)), read_options=read, parse_options=options
        )


def _as_lines(payloads: Sequence[bytes]) -> pa.LargeBinaryArray:
    """The payloads as JSON lines, one Arrow value each (the payload and the newline after it,
    none after the last) over a single join of them: any run of values is a run of lines in
    one buffer, which the JSON reader reads without a copy."""
    joined = b"\n".join(payloads)
    ends = np.cumsum(np.fromiter(map(len, payloads), np.int64, len(payloads)) + 1)
    offsets = np.concatenate([[0], np.minimum(ends, len(joined))]).astype(np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(payloads), [None, pa.py_buffer(offsets), pa.py_buffer(joined)]
    )


def _joined(lines: pa.LargeBinaryArray) -> pa.BufferReader:
    """The buffer holding a run of :func:`_as_lines` values, as a stream (no copy)."""
    if len(lines) == 0:
        return pa.BufferReader(b"")
    offsets = np.frombuffer(lines.buffers()[1], np.int64)
    start, stop = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return pa.BufferReader(lines.buffers()[2].slice(start, stop - start))


def _parse_records(records: Sequence[Mapping[str, Any]], schema: pa.Schema | None) -> pa.Table:
    if schema is None:
        return pa.Table.from_pylist(list(records))
    extra = sorted({k for record in records for k in record} - set(schema.names))
    if not extra:
        return pa.Table.from_pylist(list(records), schema=schema)
    inferred = pa.Table.from_pylist([{k: r.get(k) for k in extra} for r in records])
    known = pa.Table.from_pylist(list(records), schema=schema)
    for name in extra:
        known = known.append_column(name, inferred[name])
    return known


def _read_plain(payload: bytes, writer: Any) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(payload), writer, None)


def _read_confluent(payload: bytes, registry: SchemaRegistry) -> Any:
    if len(payload) < 5 or payload[0] != CONFLUENT_MAGIC:
        raise _Undecodable("not in the Confluent wire format (magic byte 0, 4-byte schema id)")
    (schema_id,) = struct.unpack(">I", payload[1:5])
    return fastavro.schemaless_reader(io.BytesIO(payload[5:]), registry.schema(schema_id), None)


_AVRO_PRIMITIVES = {
    pa.bool_(): "boolean",
    pa.int8(): "int",
    pa.int16(): "int",
    pa.int32(): "int",
    pa.int64(): "long",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.string(): "string",
    pa.large_string(): "string",
    pa.binary(): "bytes",
}


def _avro_type(arrow: pa.DataType) -> Any:
    if arrow in _AVRO_PRIMITIVES:
        return _AVRO_PRIMITIVES[arrow]
    if pa.types.is_timestamp(arrow):
        return {
            "type": "long",
            "logicalType": f"timestamp-{'micros' if arrow.unit in ('us', 'ns') else 'millis'}",
        }
    if pa.types.is_date32(arrow):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return {"type": "array", "items": _avro_type(arrow.value_type)}
    raise SourceReadError(f"no Avro type for the Arrow type {arrow}; declare another type")
