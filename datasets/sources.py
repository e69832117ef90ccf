"""Batch sources: files (CSV, JSON lines, Parquet) and SQL, read incrementally, exactly once.

A source read plans against the dataset's Delta table and returns one Arrow batch plus what
must travel in the publishing commit, so data and source position can never disagree
(DESIGN.md > Decisions 2 and 3):

- **Files.** The URLs consumed by a batch go into the commit's metadata
  (:data:`FILES_KEY`, with sizes and ETags beside it) and an app transaction
  ``files:<dataset>`` counts every file ever consumed. A later read lists the source, drops the
  URLs found in the table's history and reads the rest. Nothing published means nothing
  consumed: a crash between staging and publishing makes the next run read the same files.
  The counter is the cheap check (no history read while it is unset) and the integrity check
  (history that lists fewer files than it counts was cleaned up, and re-reading would load
  files twice, so that is an error, never a silent re-read).
- **SQL.** Rows with ``watermark_column > `` the last published watermark (a bound parameter),
  which rides in the commit as :data:`WATERMARK_KEY`; an app transaction ``sql:<dataset>``
  counts batches.
- **Rollback.** ``restore()`` keeps app transactions, and the commits it undoes stay in the
  history, so a rollback never makes ingestion read again what it removed; replaying is an
  explicit act: a commit whose :data:`REPLAY_KEY` lists URLs makes them unconsumed, and a commit
  with a lower :data:`WATERMARK_KEY` moves a SQL source back.

Schema evolution (:func:`evolve_schema`) is a pure function: new columns are added, missing ones
become nulls, safe widenings are cast, anything else raises :class:`SchemaEvolutionError`.

>>> batch = read_new(lake, "rides", project.dataset("rides"), project)     # doctest: +SKIP
>>> if batch is not None:                                                   # doctest: +SKIP
...     staged = stage(lake, "rides", batch.data)
...     publish(lake, staged, mode=batch.mode, reason=batch.description,
...             app_transactions=batch.app_transactions, metadata=batch.commit_metadata)
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import sqlalchemy as sa
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from fsspec.core import url_to_fs

from thermocline.catalog.config import (
    DatasetSpec,
    FileSource,
    Project,
    SqlSource,
    expand_env,
)
from thermocline.catalog.errors import (
    ConfigError,
    DatasetNotFoundError,
    SchemaEvolutionError,
    SourceHistoryError,
    SourceReadError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import open_table

__all__ = [
    "ADDED_COLUMNS_KEY",
    "ETAGS_KEY",
    "FILES_KEY",
    "KIND_KEY",
    "PARTITION_KEY",
    "REPLAY_KEY",
    "SIZES_KEY",
    "WATERMARK_KEY",
    "EvolvedBatch",
    "SchemaEvolutionError",
    "SourceBatch",
    "SourceFile",
    "SourceHistoryError",
    "SourceReadError",
    "consumed_files",
    "current_schema",
    "evolve_schema",
    "files_app_id",
    "fsspec_options",
    "last_watermark",
    "list_files",
    "read_new",
    "read_partition",
    "read_sql",
    "sql_app_id",
]

_log = logging.getLogger(__name__)

KIND_KEY = "thermocline.source.kind"
FILES_KEY = "thermocline.source.files"  # JSON list of URLs the commit consumed
SIZES_KEY = "thermocline.source.sizes"  # JSON list of their sizes (same order), null if unknown
ETAGS_KEY = "thermocline.source.etags"  # JSON list of their ETags/mtimes (same order) or null
REPLAY_KEY = "thermocline.source.replay"  # JSON list of URLs a replay made unconsumed
WATERMARK_KEY = "thermocline.source.watermark"  # JSON {"type": ..., "value": ...}
ADDED_COLUMNS_KEY = "thermocline.source.added_columns"  # JSON list, when the batch adds any
PARTITION_KEY = "thermocline.source.partition"  # the partition a partition run replaced

FileFormat = Literal["csv", "jsonl", "parquet"]
_GLOB_CHARS = frozenset("*?[")
_SQL_CHUNK_ROWS = 65_536
_DESCRIBE_FILES = 3


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """One file of a file source: its URL (with protocol) and what identifies its content."""

    url: str
    size: int | None = None
    etag: str | None = None


@dataclass(frozen=True)
class SourceBatch:
    """What one source read produced, and what its publishing commit must carry.

    Pass ``commit_metadata`` as ``publish(metadata=...)``, ``app_transactions`` as
    ``publish(app_transactions=...)``, ``mode`` as ``publish(mode=...)`` and ``description``
    as the commit reason. ``data`` already has the table's schema plus ``added_columns``.
    """

    dataset: str
    data: pa.Table
    commit_metadata: dict[str, str]
    app_transactions: dict[str, int]
    description: str
    mode: Literal["append", "overwrite"] = "append"
    files: tuple[SourceFile, ...] = ()
    watermark: Any = None
    added_columns: tuple[str, ...] = ()


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


def files_app_id(dataset: str) -> str:
    """App-transaction id counting the files consumed into ``dataset``."""
    return f"files:{dataset}"


def sql_app_id(dataset: str) -> str:
    """App-transaction id counting the SQL batches published into ``dataset``."""
    return f"sql:{dataset}"


# --- putting it together ---------------------------------------------------------------------


def read_new(
    lake: Lake,
    dataset: str,
    spec: DatasetSpec,
    project: Project | None = None,
    *,
    urls: Sequence[str] | None = None,
    max_files: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> SourceBatch | None:
    """Read what the dataset's source has that the table has not consumed; None if nothing.

    No checks run here: the caller stages ``data``, judges it, and publishes or quarantines.
    ``urls`` replaces the listing of a file source (HTTP servers cannot be globbed);
    ``max_files`` caps one batch (call again for the rest). A :class:`SchemaEvolutionError`
    carries the unconformed batch in ``error.batch`` so the caller can quarantine it.

    >>> batch = read_new(lake, "rides", spec, project)                      # doctest: +SKIP
    >>> batch.description                                                    # doctest: +SKIP
    '2 new file(s) from landing/*.csv: a.csv, b.csv (1.2 MB)'
    """
    source = spec.source
    table = _open_or_none(lake, dataset)
    if isinstance(source, FileSource):
        return _read_new_files(
            dataset, spec, source, table, project, urls=urls, max_files=max_files, environ=environ
        )
    if isinstance(source, SqlSource):
        if urls is not None or max_files is not None:
            raise ConfigError(f"datasets.{dataset}: `urls` and `max_files` are for file sources")
        return _read_new_sql(dataset, spec, source, table, project, environ=environ)
    kind = "no source" if source is None else f"a {source.kind} source"
    raise ConfigError(
        f"datasets.{dataset} has {kind}; read_new reads `kind: files` and `kind: sql` sources "
        "(Kafka topics are ingested by the Kafka service)"
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
    table = _open_or_none(lake, dataset)
    declared = spec.arrow_schema()
    table_schema = _table_schema(table) if table is not None else None
    raw = [(f, _read_one(f, source.format, declared, options)) for f in files]
    readable = [(f, t) for f, t in raw if t is not None]
    if not readable:
        return None
    data, added = _conform_files(
        readable, table_schema if table_schema is not None else declared, table_schema
    )
    column = spec.partition_by[0]
    if column not in data.column_names:
        raise ConfigError(f"datasets.{dataset}: partition column {column!r} is not in the source")
    wanted = pa.scalar(key).cast(data.schema.field(column).type)
    rows = data.filter(pc.equal(data[column], wanted))
    if rows.num_rows == 0:
        return None
    metadata = {
        KIND_KEY: "files",
        PARTITION_KEY: key,
        FILES_KEY: json.dumps([f.url for f, _ in readable]),
    }
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    return SourceBatch(
        dataset=dataset,
        data=rows,
        commit_metadata=metadata,
        app_transactions={},
        description=f"partition {column}={key} from {len(readable)} file(s) of {source.url}",
        mode="overwrite",
        files=tuple(f for f, _ in readable),
        added_columns=added,
    )


def current_schema(lake: Lake, dataset: str) -> pa.Schema | None:
    """The table's schema as Arrow (Delta's view of it), or None when there is no table yet."""
    table = _open_or_none(lake, dataset)
    return None if table is None else _table_schema(table)


# --- files -----------------------------------------------------------------------------------


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
    """URL -> file for every file the table's commits consumed (and no replay undid)."""
    return _consumed(_open_or_none(lake, dataset), dataset)


def _read_new_files(
    dataset: str,
    spec: DatasetSpec,
    source: FileSource,
    table: DeltaTable | None,
    project: Project | None,
    *,
    urls: Sequence[str] | None,
    max_files: int | None,
    environ: Mapping[str, str] | None,
) -> SourceBatch | None:
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
    consumed = _consumed(table, dataset)
    new: list[SourceFile] = []
    for candidate in dict.fromkeys(listed):  # keeps order, drops repeats
        seen = consumed.get(candidate.url)
        if seen is None:
            new.append(candidate)
        elif _changed(seen, candidate):
            _log.warning(
                "%s changed since it was consumed (size %s -> %s); it is not read again. "
                "Publish it under a new name to load it.",
                candidate.url,
                seen.size,
                candidate.size,
            )
    if max_files is not None:
        new = new[:max_files]
    if not new:
        return None

    declared = spec.arrow_schema()
    table_schema = _table_schema(table) if table is not None else None
    raw = [(f, _read_one(f, source.format, declared, options)) for f in new]
    readable = [(f, t) for f, t in raw if t is not None]
    base = table_schema if table_schema is not None else declared
    if not readable and base is None:
        return None  # only empty files and nothing to type them by: look again next time
    previous = table.transaction_version(files_app_id(dataset)) if table is not None else None
    names = ", ".join(f.url.rsplit("/", 1)[-1] for f in new[:_DESCRIBE_FILES])
    more = f" and {len(new) - _DESCRIBE_FILES} more" if len(new) > _DESCRIBE_FILES else ""
    megabytes = sum(f.size or 0 for f in new) / 1e6
    metadata = {
        KIND_KEY: "files",
        FILES_KEY: json.dumps([f.url for f in new]),
        SIZES_KEY: json.dumps([f.size for f in new]),
        ETAGS_KEY: json.dumps([f.etag for f in new]),
    }
    batch = SourceBatch(
        dataset=dataset,
        data=pa.table({}),
        commit_metadata=metadata,
        app_transactions={files_app_id(dataset): (previous or 0) + len(new)},
        description=f"{len(new)} new file(s) from {source.url}: {names}{more} ({megabytes:.1f} MB)",
        files=tuple(new),
    )
    try:
        data, added = _conform_files(readable, base, table_schema)
    except SchemaEvolutionError as error:
        error.batch = replace(batch, data=_raw_concat([t for _, t in readable]))
        raise
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    return replace(batch, data=data, added_columns=added)


def _read_one(
    file: SourceFile,
    file_format: FileFormat,
    declared: pa.Schema | None,
    options: Mapping[str, Any],
) -> pa.Table | None:
    """One file as Arrow; None for an empty file (consumed, but nothing to parse).

    CSV and JSON lines are parsed with the declared types where the reader can; Parquet
    carries its own types. Either way :func:`evolve_schema` then conforms the batch, casting
    safely and naming the column on failure.
    """
    if file.size == 0:
        return None
    try:
        with fsspec.open(file.url, "rb", **dict(options)) as stream:
            if file_format == "csv":
                convert = pacsv.ConvertOptions(
                    column_types=declared or {}, strings_can_be_null=True
                )
                return pacsv.read_csv(stream, convert_options=convert)
            if file_format == "jsonl":
                # pyarrow's JSON reader parses dates and times only from numbers: read ISO
                # text as strings for evolve_schema to cast.
                parse = None
                if declared is not None:
                    as_text = [
                        f.with_type(pa.string()) if _is_date_or_time(f.type) else f
                        for f in declared
                    ]
                    parse = pajson.ParseOptions(explicit_schema=pa.schema(as_text))
                return pajson.read_json(stream, parse_options=parse)
            return pq.read_table(stream)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise SourceReadError(
            f"could not read {file.url} as {file_format}: {error}; fix or remove the file "
            "(nothing was consumed, so the next run reads it again)"
        ) from error


def _is_date_or_time(kind: pa.DataType) -> bool:
    return bool(pa.types.is_date(kind) or pa.types.is_time(kind))


def _conform_files(
    tables: list[tuple[SourceFile, pa.Table]],
    base: pa.Schema | None,
    table_schema: pa.Schema | None,
) -> tuple[pa.Table, tuple[str, ...]]:
    """Conform every file to one merged schema and concatenate; return it and added columns."""
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
    if merged is None:
        return pa.table({}), ()
    conformed = [evolve_schema(merged, data).data for data in evolved]
    combined = pa.concat_tables(conformed) if conformed else merged.empty_table()
    known = set(table_schema.names) if table_schema is not None else None
    added = () if known is None else tuple(n for n in merged.names if n not in known)
    return combined, added


def _raw_concat(tables: list[pa.Table]) -> pa.Table:
    """The batch as read, for quarantine; the first file alone if even that cannot combine."""
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables[0]


def _consumed(table: DeltaTable | None, dataset: str) -> dict[str, SourceFile]:
    """Files consumed into ``table``, from the metadata of its commits (oldest first)."""
    if table is None:
        return {}
    counted = table.transaction_version(files_app_id(dataset))
    if counted is None:
        return {}  # no commit ever consumed a file: skip reading the history
    # history() reads every commit file (commitInfo is not in checkpoints): at 1,000 versions
    # about 50 ms on a local disk and 400 ms on the dev S3 server (2026-11), once per read.
    consumed: dict[str, SourceFile] = {}
    listed = 0
    for entry in reversed(table.history()):
        for url in _json_list(entry.get(REPLAY_KEY)):
            consumed.pop(url, None)
        urls = _json_list(entry.get(FILES_KEY))
        sizes = _json_list(entry.get(SIZES_KEY)) or [None] * len(urls)
        etags = _json_list(entry.get(ETAGS_KEY)) or [None] * len(urls)
        for url, size, etag in zip(urls, sizes, etags, strict=False):
            consumed[url] = SourceFile(url, size, etag)
        listed += len(urls)
    if listed < counted:
        raise SourceHistoryError(
            f"{dataset}: its commits list {listed} consumed file(s) but its source counter "
            f"({files_app_id(dataset)}) says {counted}: old commit files were cleaned from the "
            "Delta log (cleanup_metadata / delta.logRetentionDuration), so reading on could load "
            "files twice. Fix: move the files already loaded out of the source location, or "
            "narrow source.url to new files; and keep the log of file-sourced tables "
            "(delta.logRetentionDuration) longer than they keep source files."
        )
    return consumed


def _changed(seen: SourceFile, now: SourceFile) -> bool:
    if seen.size is not None and now.size is not None and seen.size != now.size:
        return True
    return seen.etag is not None and now.etag is not None and seen.etag != now.etag


def _etag(entry: Mapping[str, Any]) -> str | None:
    for key in ("ETag", "etag", "mtime", "LastModified", "Last-Modified"):
        value = entry.get(key)
        if value is not None:
            return str(value).strip('"')
    return None


# --- SQL -------------------------------------------------------------------------------------


def last_watermark(lake: Lake, dataset: str) -> Any:
    """The watermark of the newest commit that carries one, as a Python value; None if none."""
    return _last_watermark(_open_or_none(lake, dataset), dataset)


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


def _read_new_sql(
    dataset: str,
    spec: DatasetSpec,
    source: SqlSource,
    table: DeltaTable | None,
    project: Project | None,
    *,
    environ: Mapping[str, str] | None,
) -> SourceBatch | None:
    url = _sqlalchemy_url(
        expand_env(source.url, environ, f"datasets.{dataset}.source.url"), project
    )
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
        metadata[WATERMARK_KEY] = _encode_watermark(watermark)
    previous = table.transaction_version(sql_app_id(dataset)) if table is not None else None
    table_schema = _table_schema(table) if table is not None else None
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
        description=description,
        mode="append" if column else "overwrite",
        watermark=watermark,
    )
    try:
        evolved = evolve_schema(
            table_schema if table_schema is not None else spec.arrow_schema(), data
        )
    except SchemaEvolutionError as error:
        error.batch = raw
        raise
    added = evolved.added if table_schema is not None else ()
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    return replace(raw, data=evolved.data, added_columns=added)


def _sqlalchemy_url(url: str, project: Project | None) -> str:
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
                return _decode_watermark(entry[WATERMARK_KEY])
        if len(entries) < limit:
            raise SourceHistoryError(
                f"{dataset}: its source counter ({sql_app_id(dataset)}) says batches were "
                f"published but no commit in its log carries {WATERMARK_KEY}: old commit files "
                "were cleaned from the Delta log, so the watermark is lost. Fix: publish an empty "
                f"batch with metadata {WATERMARK_KEY} set to the last loaded value"
            )
        limit *= 4


def _encode_watermark(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return json.dumps({"type": "datetime", "value": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"type": "date", "value": value.isoformat()})
    if isinstance(value, decimal.Decimal):
        return json.dumps({"type": "decimal", "value": str(value)})
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(
            f"watermark value {value!r} ({type(value).__name__}) cannot be a watermark; use an "
            "integer, number, string, date or timestamp column"
        )
    return json.dumps({"type": type(value).__name__, "value": value})


def _decode_watermark(text: str) -> Any:
    record = json.loads(text)
    kind, value = record["type"], record["value"]
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return decimal.Decimal(value)
    return {"int": int, "float": float, "str": str}[kind](value)


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


# --- schema evolution (pure) -----------------------------------------------------------------

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
        if name.lower() in lowered:
            raise SchemaEvolutionError(
                f"column {name!r}: the table has {lowered[name.lower()]!r}, which differs only "
                "in case (Delta column names are case-insensitive); rename it at the source",
                column=name,
                table_type=None,
                batch_type=batch[name].type,
            )
        column = batch[name]
        if pa.types.is_null(column.type):
            deferred.append(name)
            continue
        storable = _storable(name, column)
        if storable is not column:
            cast.append(name)
        columns[name] = storable
        extra.append(name)
        if table_schema is not None:
            added.append(name)
    fields = [
        *(pa.field(f.name, columns[f.name].type, f.nullable, f.metadata) for f in table_fields),
        *(batch.schema.field(n).with_type(columns[n].type) for n in extra),
    ]
    data = pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))
    return EvolvedBatch(data, tuple(added), tuple(filled), tuple(cast), tuple(deferred))


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
        ("string", _is_string),
        ("binary", _is_binary),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("time", pa.types.is_time),
        ("duration", pa.types.is_duration),
        ("list", _is_list),
        ("struct", pa.types.is_struct),
        ("map", pa.types.is_map),
    )
    for family, check in checks:
        if check(kind):
            return family
    return str(kind)


def _same_storage(source: pa.DataType, target: pa.DataType) -> bool:
    """Types Delta stores alike (string vs large_string): no cast needed, the file reads back."""
    if _is_string(source) and _is_string(target):
        return True
    return _is_binary(source) and _is_binary(target) and not pa.types.is_fixed_size_binary(target)


def _is_string(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _is_binary(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def _is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
    )


def _repeated(names: Sequence[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


# --- helpers ---------------------------------------------------------------------------------


def _open_or_none(lake: Lake, dataset: str) -> DeltaTable | None:
    try:
        return open_table(lake, dataset)
    except DatasetNotFoundError:
        return None


def _table_schema(table: DeltaTable) -> pa.Schema:
    return pa.schema(table.schema().to_arrow())


def _json_list(value: Any) -> list[Any]:
    if value is None:
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed) if isinstance(parsed, list) else []
