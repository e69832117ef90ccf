"""File sources (CSV, JSON lines, Parquet by fsspec URL or glob), read incrementally, exactly once.

The URLs consumed by a batch go into the commit's metadata (:data:`FILES_KEY`, with sizes and
ETags beside it) and the app transaction ``files:<dataset>`` counts them (:mod:`.consumed` reads
that record back). A plain run (:func:`read_new`) reads the files the table has not consumed,
and of a file that partition runs took some days of, the other days. A partition run
(:func:`read_partition`) recomputes one partition from every file and consumes just that
partition of each. Nothing published means nothing consumed: a crash between staging and
publishing makes the next run read the same files. A file that holds no rows (zero bytes, or a
CSV header alone) is not consumed: the run publishes nothing and says so, and the file is read
again once it has rows (it may still be being written).

``restore()`` keeps app transactions and the commits it undoes stay in the history, so a
rollback never makes ingestion read again what it removed; a commit whose :data:`REPLAY_KEY`
lists URLs makes them unconsumed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from deltalake import DeltaTable
from fsspec.core import url_to_fs

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import (
    ADDED_COLUMNS_KEY,
    ETAGS_KEY,
    FILES_KEY,
    KIND_KEY,
    PARTITION_KEY,
    SIZES_KEY,
)
from thermocline.catalog.config import (
    DatasetSpec,
    FileSource,
    Project,
    expand_env,
)
from thermocline.catalog.errors import (
    ConfigError,
    InputError,
    SchemaEvolutionError,
    SourceReadError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.base import SourceBatch, SourceFile, arrow_schema, open_or_none
from thermocline.datasets.ingest.consumed import (
    Consumed,
    consumed_record,
    files_app_id,
    pending_files,
)
from thermocline.datasets.ingest.evolution import EvolvedBatch, evolve_schema, json_read_schemas
from thermocline.datasets.ingest.schema_changes import evolved_changes
from thermocline.quality.results import SchemaChanges

__all__ = [
    "SourceFile",
    "consumed_files",
    "files_app_id",
    "fsspec_options",
    "list_files",
    "read_new",
    "read_partition",
]


_log = logging.getLogger(__name__)
FileFormat = Literal["csv", "jsonl", "parquet"]
_GLOB_CHARS = frozenset("*?[")
_DESCRIBE_FILES = 3


def _warn_changed(seen: Consumed, now: SourceFile) -> None:
    _log.warning(
        "%s changed since it was consumed (size %s -> %s); it is not read again. "
        "Publish it under a new name to load it.",
        now.url,
        seen.file.size,
        now.size,
    )


def read_partition(
    lake: Lake,
    dataset: str,
    spec: DatasetSpec,
    project: Project | None,
    key: str,
    *,
    environ: Mapping[str, str] | None = None,
) -> SourceBatch | None:
    """Every source row of partition ``key`` (a value of the first ``partition_by`` column),
    to replace that Delta partition; None when the source has no such rows.

    A partition run recomputes its partition from the whole source, consumed or not, so
    re-running it is idempotent. ``{partition}`` in the source URL is replaced by ``key`` to
    read only that partition's files (e.g. ``landing/{partition}/*.csv``).
    """
    source = spec.source
    if not isinstance(source, FileSource) or not spec.partition_by:
        raise ConfigError(
            f"datasets.{dataset}: partition runs read `kind: files` sources of datasets with "
            "partition_by"
        )
    where = f"datasets.{dataset}.source.url"
    source_url = expand_env(source.url, environ, where).replace("{partition}", key)
    source_url = project.resolve_url(source_url) if project is not None else source_url
    options = fsspec_options(source_url, source.options, environ)
    files = list_files(source_url, options)
    table = open_or_none(lake, dataset)
    declared = spec.arrow_schema()
    table_schema = arrow_schema(table) if table is not None else None
    raw = [(f, _read_one(f, source.format, declared, options)) for f in files]
    readable = [(f, t) for f, t in raw if t is not None]
    if not readable:
        return None
    data, added, changes = _conform_files(
        readable, table_schema if table_schema is not None else declared, table_schema
    )
    column = spec.partition_by[0]
    if column not in data.column_names:
        raise ConfigError(f"datasets.{dataset}: partition column {column!r} is not in the source")
    kind = data.schema.field(column).type
    try:
        wanted = pa.scalar(key).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise InputError(
            f"datasets.{dataset}: partition {key!r} is not a {column} value ({column} is {kind}); "
            "write it as the partition column's values are written, e.g. 2026-11-02 for a date"
        ) from error
    mask = pc.fill_null(pc.equal(data[column], wanted), False)
    rows = data.filter(mask)
    if rows.num_rows == 0:
        return None
    file_rows, start = [], 0
    for _, part in readable:
        file_rows.append(int(pc.sum(mask.slice(start, part.num_rows)).as_py() or 0))
        start += part.num_rows
    consumed = [f for f, _ in readable]
    previous = table.transaction_version(files_app_id(dataset)) if table is not None else None
    metadata = {**_files_metadata(consumed), PARTITION_KEY: key}
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    return SourceBatch(
        dataset=dataset,
        data=rows,
        commit_metadata=metadata,
        # (file, partition) for every file read: a plain run loads the other partitions later.
        # The counter makes this publish a compare-and-swap with every other consuming run.
        app_transactions={files_app_id(dataset): (previous or 0) + len(consumed)},
        expected_positions={files_app_id(dataset): previous},
        description=f"partition {column}={key} from {len(readable)} file(s) of {source.url}",
        mode="overwrite",
        files=tuple(consumed),
        added_columns=added,
        file_rows=tuple(file_rows),
        schema_changes=changes,
    )


def fsspec_options(
    url: str, options: Mapping[str, str] | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """fsspec keyword arguments for ``url`` from a file source's ``options``.

    ``${ENV}`` references are resolved here, at use. For ``s3://`` the delta-rs spellings the
    lake uses (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) are mapped to s3fs's, so one
    set of options serves both; ``"true"``/``"false"`` become booleans.
    """
    resolved: dict[str, Any] = {}
    for key, value in (options or {}).items():
        text = expand_env(value, environ, f"source.options.{key}")
        resolved[key] = {"true": True, "false": False}.get(text.lower(), text)
    if not url.startswith(("s3://", "s3a://")):
        return resolved
    result: dict[str, Any] = {}
    client_kwargs: dict[str, Any] = dict(resolved.pop("client_kwargs", None) or {})
    for key, value in resolved.items():
        upper = key.upper()
        if upper in ("AWS_ACCESS_KEY_ID", "ACCESS_KEY_ID"):
            result["key"] = value
        elif upper in ("AWS_SECRET_ACCESS_KEY", "SECRET_ACCESS_KEY"):
            result["secret"] = value
        elif upper in ("AWS_SESSION_TOKEN", "SESSION_TOKEN"):
            result["token"] = value
        elif upper in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT", "ENDPOINT_URL", "ENDPOINT"):
            client_kwargs["endpoint_url"] = value
        elif upper in ("AWS_REGION", "AWS_DEFAULT_REGION", "REGION"):
            client_kwargs["region_name"] = value
        elif upper == "AWS_ALLOW_HTTP":
            continue  # s3fs takes http from the endpoint URL itself
        else:
            result[key] = value
    if client_kwargs:
        result["client_kwargs"] = client_kwargs
    return result


def list_files(url: str, storage_options: Mapping[str, Any] | None = None) -> list[SourceFile]:
    """Files at ``url``, sorted by URL: a file, a folder (recursively) or a glob.

    HTTP(S) URLs name one file each (a web server cannot be listed; ``?`` starts a query).
    Names starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc``) are skipped, as Spark does.
    Listing caches are dropped first, so a file that appeared since the last call is seen.
    """
    filesystem, path = url_to_fs(url, **dict(storage_options or {}))
    is_http = url.startswith(("http://", "https://"))
    filesystem.invalidate_cache()
    if is_http:
        entries: Iterable[dict[str, Any]] = [filesystem.info(path)]
    elif _GLOB_CHARS & set(path):
        entries = filesystem.glob(path, detail=True).values()
    elif filesystem.isdir(path):
        entries = filesystem.find(path, detail=True).values()
    else:
        entries = [filesystem.info(path)]
    files = []
    for entry in entries:
        name = str(entry["name"])
        if entry.get("type") != "file" or name.rstrip("/").rsplit("/", 1)[-1][:1] in (".", "_"):
            continue
        files.append(
            SourceFile(
                url if is_http else filesystem.unstrip_protocol(name),
                entry.get("size"),
                _etag(entry),
            )
        )
    return sorted(files, key=lambda f: f.url)


def consumed_files(lake: Lake, dataset: str) -> dict[str, SourceFile]:
    """URL -> file for every file the table's commits consumed, wholly or some partitions of
    it (and no replay undid)."""
    return {url: c.file for url, c in consumed_record(open_or_none(lake, dataset), dataset).items()}


def read_new(
    dataset: str,
    spec: DatasetSpec,
    source: FileSource,
    table: DeltaTable | None,
    project: Project | None,
    *,
    urls: Sequence[str] | None = None,
    max_files: int | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> SourceBatch | None:
    """New files of a file source (those the table's history has not consumed); None if none.

    ``urls`` replaces the listing (HTTP servers cannot be globbed); ``max_files`` caps one batch.
    """
    where = f"datasets.{dataset}.source.url"
    source_url = expand_env(source.url, environ, where)
    source_url = project.resolve_url(source_url) if project is not None else source_url
    options = fsspec_options(source_url, source.options, environ)
    if urls is None:
        listed = list_files(source_url, options)
    else:
        listed = []
        for given in urls:
            text = expand_env(given, environ, "urls")
            listed += list_files(project.resolve_url(text) if project else text, options)
    consumed = consumed_record(table, dataset)
    new = pending_files(listed, consumed, on_changed=_warn_changed)
    taken: dict[str, frozenset[str]] = {  # URL -> partitions that partition runs loaded
        f.url: partitions
        for f in new
        if f.url in consumed and (partitions := consumed[f.url].partitions) is not None
    }
    if max_files is not None:
        new = new[:max_files]
    if not new:
        return None

    declared = spec.arrow_schema()
    table_schema = arrow_schema(table) if table is not None else None
    column = spec.partition_by[0] if spec.partition_by else None
    raw = [(f, _read_one(f, source.format, declared, options)) for f in new]
    parsed = [(f, t) for f, t in raw if t is not None]
    read = [(f, _without(t, column, taken.get(f.url, frozenset()))) for f, t in parsed]
    readable = [(f, t) for f, t in read if t.num_rows]
    counts = {f.url: t.num_rows for f, t in readable}
    empty = [f for f in new if f.url not in counts]
    new = [f for f in new if f.url in counts]  # a file without rows is not consumed
    if not new:
        return _no_rows(dataset, empty)
    base = table_schema if table_schema is not None else declared
    previous = table.transaction_version(files_app_id(dataset)) if table is not None else None
    names = ", ".join(f.url.rsplit("/", 1)[-1] for f in new[:_DESCRIBE_FILES])
    more = f" and {len(new) - _DESCRIBE_FILES} more" if len(new) > _DESCRIBE_FILES else ""
    megabytes = sum(f.size or 0 for f in new) / 1e6
    metadata = _files_metadata(new)
    later = f"; {len(empty)} file(s) without rows left for later" if empty else ""
    what = f"{len(new)} new file(s) from {source.url}: {names}{more} ({megabytes:.1f} MB)"
    batch = SourceBatch(
        dataset=dataset,
        data=pa.table({}),
        commit_metadata=metadata,
        app_transactions={files_app_id(dataset): (previous or 0) + len(new)},
        expected_positions={files_app_id(dataset): previous},
        description=what + later,
        files=tuple(new),
        file_rows=tuple(counts.get(f.url, 0) for f in new),
    )
    try:
        data, added, changes = _conform_files(readable, base, table_schema)
    except SchemaEvolutionError as error:
        error.batch = replace(batch, data=_raw_concat([t for _, t in readable]))
        raise
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    return replace(batch, data=data, added_columns=added, schema_changes=changes)


def _no_rows(dataset: str, files: Sequence[SourceFile]) -> SourceBatch:
    """The batch of a run whose new files hold no rows (zero bytes, a CSV header alone): no
    data and no position, so nothing is published and the files are read again next time."""
    names = ", ".join(f.url.rsplit("/", 1)[-1] for f in files[:_DESCRIBE_FILES])
    more = f" and {len(files) - _DESCRIBE_FILES} more" if len(files) > _DESCRIBE_FILES else ""
    return SourceBatch(
        dataset=dataset,
        data=pa.table({}),
        commit_metadata={},
        app_transactions={},
        description=(
            f"{len(files)} new file(s) hold no rows ({names}{more}: empty or a header alone): "
            "nothing published; they are read again once they have rows"
        ),
    )


def _files_metadata(files: Sequence[SourceFile]) -> dict[str, str]:
    """The commit metadata that records ``files`` as consumed (see :mod:`.consumed`)."""
    return {
        KIND_KEY: "files",
        FILES_KEY: json.dumps([f.url for f in files]),
        SIZES_KEY: json.dumps([f.size for f in files]),
        ETAGS_KEY: json.dumps([f.etag for f in files]),
    }


def _without(data: pa.Table, column: str | None, partitions: frozenset[str]) -> pa.Table:
    """``data`` less its rows in ``partitions`` (values of ``column``), which partition runs
    loaded already."""
    if not partitions or column is None or column not in data.column_names:
        return data
    kind = data.schema.field(column).type
    values = pa.array(sorted(partitions)).cast(kind)
    loaded = pc.fill_null(pc.is_in(data[column], value_set=values), False)
    return data.filter(pc.invert(loaded))


def _read_one(
    file: SourceFile,
    file_format: FileFormat,
    declared: pa.Schema | None,
    options: Mapping[str, Any],
) -> pa.Table | None:
    """One file as Arrow; None for an empty file (consumed, but nothing to parse).

    CSV and JSON lines are parsed with the declared types where the reader can; Parquet
    carries its own types. A file whose values the reader cannot parse as declared is read
    again with looser types (CSV: the declared columns as text; JSON lines:
    :func:`.evolution.json_read_schemas`, as the Kafka decoder does), so that
    :func:`evolve_schema`, not the reader, decides: it casts what fits and names the column
    of what does not (the batch is quarantined). Only a file that parses no way is unreadable.
    """
    if file.size == 0:
        return None
    first: Exception | None = None
    for read in _readers(file_format, declared):
        try:
            with fsspec.open(file.url, "rb", **dict(options)) as stream:
                return read(stream)
        except pa.ArrowInvalid as error:  # a value or a syntax the reader rejects
            first = first or error
        except (pa.ArrowException, OSError, ValueError) as error:
            first = first or error
            break
    raise SourceReadError(
        f"could not read {file.url} as {file_format}: {first}; fix or remove the file "
        "(nothing was consumed, so the next run reads it again)"
    ) from first


def _readers(
    file_format: FileFormat, declared: pa.Schema | None
) -> list[Callable[[Any], pa.Table]]:
    """The ways to parse a file, strictest first."""
    if file_format == "csv":
        tries = [declared or {}]
        if declared is not None:
            tries.append({name: pa.string() for name in declared.names})
        return [
            partial(
                pacsv.read_csv,
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
            )
            for types in tries
        ]
    if file_format == "jsonl":
        return [
            partial(
                pajson.read_json,
                parse_options=None if hint is None else pajson.ParseOptions(explicit_schema=hint),
            )
            for hint in json_read_schemas(declared)
        ]
    return [pq.read_table]


def _conform_files(
    tables: list[tuple[SourceFile, pa.Table]],
    base: pa.Schema | None,
    table_schema: pa.Schema | None,
) -> tuple[pa.Table, tuple[str, ...], SchemaChanges | None]:
    """Conform every file to one merged schema and concatenate; return it, the added columns
    and what the batch changed in the table's schema (None for a new table)."""
    if base is None and tables:
        # A new table with inferred types: unify first, so file order cannot decide a type
        # (int64 in one file and double in the next is double, whichever comes first).
        try:
            unified = pa.unify_schemas([t.schema for _, t in tables], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            unified = None  # incompatible: conforming file by file names the column below
        if unified is not None:
            base = pa.schema([f for f in unified if not pa.types.is_null(f.type)])
    merged = base
    evolved: list[pa.Table] = []
    pieces: list[tuple[pa.Schema, EvolvedBatch]] = []
    for file, data in tables:
        try:
            result = evolve_schema(merged, data)
        except SchemaEvolutionError as error:
            message = f"{file.url}: {error}"
            raise SchemaEvolutionError(
                message,
                column=error.column,
                table_type=error.table_type,
                batch_type=error.batch_type,
            ) from None
        merged = result.schema
        evolved.append(result.data)
        pieces.append((data.schema, result))
    if merged is None:
        return pa.table({}), (), None
    conformed = [evolve_schema(merged, data).data for data in evolved]
    combined = pa.concat_tables(conformed) if conformed else merged.empty_table()
    known = set(table_schema.names) if table_schema is not None else None
    added = () if known is None else tuple(n for n in merged.names if n not in known)
    return combined, added, evolved_changes(table_schema, pieces, merged)


def _raw_concat(tables: list[pa.Table]) -> pa.Table:
    """The batch as read, for quarantine; the first file alone if even that cannot combine."""
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables[0]


def _etag(entry: Mapping[str, Any]) -> str | None:
    for key in ("ETag", "etag", "mtime", "LastModified", "Last-Modified"):
        value = entry.get(key)
        if value is not None:
            return str(value).strip('"')
    return None
