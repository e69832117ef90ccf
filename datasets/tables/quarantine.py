"""Quarantine: where a batch that failed an ERROR check goes, kept per source so it can be acted on.

A quarantined batch lives at ``<lake>/_quarantine/<dataset>/<id>/``: the rows as Parquet, and
``reasons.json`` with, for each source (a file URL, or a Kafka partition and its offsets), its
rows, the checks that failed on those rows (how many rows failed, the message) and a sample.
Its source positions were published without the rows (a positions-only commit that names the
quarantine under :data:`QUARANTINE_KEY`), so the next run does not read the same input again:
each record is in the table or in quarantine, once. Replay
(:func:`thermocline.datasets.ingest.replay.replay`) moves the rows into the table;
:func:`discard_quarantined` drops them, with an event.

>>> [q.id for q in list_quarantined(catalog, "rides")]      # doctest: +SKIP
['7f3c0a...']
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.staging import StagedBatch
from thermocline.quality.results import CheckResult

__all__ = [
    "QUARANTINE_DIR",
    "QuarantinePart",
    "QuarantinedBatch",
    "QuarantinedSource",
    "discard_quarantined",
    "find_quarantined",
    "list_quarantined",
    "mark_replayed",
    "quarantine_id_of",
    "quarantine_parts",
    "read_quarantined",
    "remove_quarantine",
    "scrub_quarantined",
]

QUARANTINE_DIR = "_quarantine"
_RECORD = "reasons.json"
_SAMPLE_ROWS = 5
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
State = Literal["quarantined", "replayed"]


@dataclass(frozen=True)
class QuarantinePart:
    """What to quarantine of one source: its name (a file URL, ``topic:partition``), its staged
    rows, the failed checks on them, and its position (size and ETag, or offsets)."""

    source: str
    staged: StagedBatch
    sample: pa.Table
    failed: Sequence[CheckResult] = ()
    position: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuarantinedSource:
    """One source's share of a quarantined batch, as ``reasons.json`` keeps it."""

    source: str
    rows: int
    files: list[str]
    checks: list[dict[str, Any]]
    sample: list[dict[str, Any]]
    position: dict[str, Any]


@dataclass(frozen=True)
class QuarantinedBatch:
    """A quarantined batch: what ``quarantine list`` and ``show`` print and replay republishes.

    ``publish`` holds what its replay commit carries (mode, partition columns, schema-free
    commit metadata); ``state`` is ``replayed`` (with ``version``) once it is in the table.
    ``pii`` says what the rows are: ``applied`` (after the dataset's PII policy), ``clear``
    (as they came: a batch the policy blocked, or one quarantined before the policy ran; a
    replay applies the policy), None (quarantined before PII handling existed: clear)."""

    id: str
    dataset: str
    path: str
    rows: int
    reasons: list[str]
    user: str
    at: float
    kind: str
    description: str
    sources: list[QuarantinedSource]
    publish: dict[str, Any]
    state: State = "quarantined"
    version: int | None = None
    source: dict[str, Any] = field(default_factory=dict)
    pii: str | None = None


def quarantine_parts(
    catalog: Catalog,
    dataset: str,
    parts: Sequence[QuarantinePart],
    reasons: list[str],
    *,
    kind: str,
    description: str = "",
    publish: Mapping[str, Any] | None = None,
    batch_id: str | None = None,
    source: Mapping[str, Any] | None = None,
    pii: str | None = None,
    redact: Mapping[str, str] | None = None,
) -> str:
    """Move each part's staged files to ``_quarantine/<dataset>/<id>/`` and write the record;
    return that folder's path under the lake root. Nothing is published here: the caller
    commits the source positions naming this folder (:data:`QUARANTINE_KEY`).

    ``pii`` is what the rows are (see :class:`QuarantinedBatch`); ``redact`` maps columns whose
    values the record's samples must not show to their PII class (shown as ``<class>``)."""
    lake = lake_of(catalog)
    quarantine_id = batch_id or uuid.uuid4().hex
    folder = f"{QUARANTINE_DIR}/{dataset}/{quarantine_id}"
    lake_fs = lake.filesystem
    lake_fs.create_dir(folder, recursive=True)
    sources = []
    for part in parts:
        for staged_file in part.staged.files:  # names carry each part's own batch id
            target = f"{folder}/{staged_file.path}"
            lake_fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            lake_fs.move(f"{dataset}/{staged_file.path}", target)
        sources.append(
            QuarantinedSource(
                part.source,
                part.staged.rows,
                [f.path for f in part.staged.files],
                [_check_record(r) for r in part.failed],
                _sample(part.sample, redact or {}),
                dict(part.position),
            )
        )
    rows = sum(s.rows for s in sources)
    record = QuarantinedBatch(
        quarantine_id,
        dataset,
        folder,
        rows,
        reasons,
        current_user(),
        time.time(),
        kind,
        description,
        sources,
        {**_layout(parts), **(publish or {})},
        source=dict(source or {"kind": kind, "sources": [s.source for s in sources]}),
        pii=pii,
    )
    _write(catalog, record)
    catalog.record(
        Event(
            "quarantine",
            dataset,
            None,
            "; ".join(reasons),
            {"batch": quarantine_id, "rows": rows, "path": folder},
        )
    )
    return folder


def quarantine_id_of(folder: str) -> str:
    """The id of the quarantined batch kept in ``folder`` (``_quarantine/<dataset>/<id>``).

    >>> quarantine_id_of("_quarantine/rides/7f3c0a")
    '7f3c0a'
    """
    return folder.rstrip("/").rsplit("/", 1)[-1]


def list_quarantined(catalog: Catalog, dataset: str | None = None) -> list[QuarantinedBatch]:
    """Every quarantined batch (of ``dataset``, or all), oldest first."""
    lake_fs = lake_of(catalog).filesystem
    base = f"{QUARANTINE_DIR}/{dataset}" if dataset else QUARANTINE_DIR
    if lake_fs.get_file_info(base).type == pafs.FileType.NotFound:
        return []
    found = lake_fs.get_file_info(pafs.FileSelector(base, recursive=True))
    records = [_read(catalog, i.path) for i in found if i.path.endswith(f"/{_RECORD}")]
    return sorted(records, key=lambda r: r.at)


def find_quarantined(catalog: Catalog, quarantine_id: str) -> QuarantinedBatch:
    """The quarantined batch whose id is or starts with ``quarantine_id``."""
    matches = [q for q in list_quarantined(catalog) if q.id.startswith(quarantine_id)]
    if len(matches) != 1:
        known = ", ".join(q.id[:12] for q in list_quarantined(catalog)) or "none"
        what = "matches no" if not matches else "matches more than one"
        raise InputError(
            f"quarantine id {quarantine_id!r} {what} quarantined batch (there are: {known}); "
            "see `thermocline quarantine list`"
        )
    return matches[0]


def read_quarantined(catalog: Catalog, record: QuarantinedBatch) -> pa.Table:
    """The quarantined rows, source by source, with their partition columns restored."""
    lake_fs = lake_of(catalog).filesystem
    schema = _schema(record)
    tables = []
    for source in record.sources:
        for path in source.files:
            data = pq.read_table(f"{record.path}/{path}", filesystem=lake_fs)
            for folder in path.split("/")[:-1]:  # hive-style partition folders
                column, _, text = folder.partition("=")
                value = None if text == _NULL_PARTITION else unquote(text)
                kind = schema.field(column).type if schema and column in schema.names else None
                values = pa.array([value] * data.num_rows, pa.string())
                data = data.append_column(column, values.cast(kind) if kind else values)
            tables.append(data.select(schema.names) if schema else data)
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def mark_replayed(catalog: Catalog, record: QuarantinedBatch, version: int) -> QuarantinedBatch:
    """Record that ``record`` is in the table as ``version`` and drop its quarantined rows."""
    done = QuarantinedBatch(**{**record.__dict__, "state": "replayed", "version": version})
    _write(catalog, done)
    _delete_rows(catalog, record)
    return done


def discard_quarantined(catalog: Catalog, record: QuarantinedBatch, reason: str | None) -> None:
    """Drop a quarantined batch for good (its positions stay consumed), with an event."""
    catalog.record(
        Event(
            "quarantine_discard",
            record.dataset,
            None,
            reason,
            {"batch": record.id, "rows": record.rows, "path": record.path},
        )
    )
    remove_quarantine(catalog, record.path)


def remove_quarantine(catalog: Catalog, path: str) -> None:
    """Delete a quarantine folder (a run that lost its race takes its quarantine back)."""
    lake_fs = lake_of(catalog).filesystem
    if lake_fs.get_file_info(path).type != pafs.FileType.NotFound:
        lake_fs.delete_dir(path)


def _delete_rows(catalog: Catalog, record: QuarantinedBatch) -> None:
    lake_fs = lake_of(catalog).filesystem
    for source in record.sources:
        for path in source.files:
            if lake_fs.get_file_info(f"{record.path}/{path}").type == pafs.FileType.File:
                lake_fs.delete_file(f"{record.path}/{path}")


def _layout(parts: Sequence[QuarantinePart]) -> dict[str, Any]:
    """How the rows were staged: partition columns and the batch's Arrow schema (base64)."""
    if not parts:
        return {"partition_by": []}
    staged = parts[0].staged
    schema = base64.b64encode(staged.schema.serialize().to_pybytes()).decode()
    return {"partition_by": list(staged.partition_by), "schema": schema}


def _schema(record: QuarantinedBatch) -> pa.Schema | None:
    encoded = record.publish.get("schema")
    if not encoded:
        return None
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))


def _check_record(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.name,
        "severity": result.severity,
        "failing_rows": result.metadata.get("failing_rows"),
        "message": result.message,
    }


def _sample(data: pa.Table, redact: Mapping[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        json.dumps(data.slice(0, _SAMPLE_ROWS).to_pylist(), default=str)
    )
    for row in rows:
        for column, pii_class in redact.items():
            if row.get(column) is not None:
                row[column] = f"<{pii_class}>"
    return rows


def scrub_quarantined(
    catalog: Catalog,
    record: QuarantinedBatch,
    column: str,
    values: Sequence[Any],
    *,
    dry_run: bool = False,
) -> int:
    """Remove from a quarantined batch the rows whose ``column`` is one of ``values`` (an
    erasure by key): its files are rewritten without them and its samples lose them. Returns
    how many rows held one (with ``dry_run``, only counts). Values compare as text, so a clear
    value and its hash can be given together."""
    lake_fs = lake_of(catalog).filesystem
    wanted = pa.array(sorted({str(v) for v in values}), pa.string())
    total, sources = 0, []
    for source in record.sources:
        count = 0
        for path in source.files:
            full = f"{record.path}/{path}"
            data = pq.read_table(full, filesystem=lake_fs)
            if column not in data.column_names:
                continue
            hit = pc.fill_null(pc.is_in(pc.cast(data[column], pa.string()), wanted), False)
            found = int(pc.sum(hit).as_py() or 0)
            if found and not dry_run:
                pq.write_table(data.filter(pc.invert(hit)), full, filesystem=lake_fs)
            count += found
        sample = [r for r in source.sample if str(r.get(column)) not in wanted.to_pylist()]
        sources.append(
            QuarantinedSource(**{**source.__dict__, "rows": source.rows - count, "sample": sample})
        )
        total += count
    if total and not dry_run:
        _write(catalog, replace(record, rows=record.rows - total, sources=sources))
    return total


def _write(catalog: Catalog, record: QuarantinedBatch) -> None:
    body = {
        **{k: v for k, v in record.__dict__.items() if k != "sources"},
        "batch": record.id,
        "files": [f for s in record.sources for f in s.files],
        "sources": [s.__dict__ for s in record.sources],
    }
    with lake_of(catalog).filesystem.open_output_stream(f"{record.path}/{_RECORD}") as out:
        out.write(json.dumps(body, indent=2, default=str).encode())


def _read(catalog: Catalog, path: str) -> QuarantinedBatch:
    with lake_of(catalog).filesystem.open_input_stream(path) as stream:
        body = json.loads(stream.read())
    sources = [QuarantinedSource(**s) for s in body.get("sources", [])]
    if not sources:  # written before sources were kept apart: one source, all files
        legacy = body.get("source") or {}
        sources = [QuarantinedSource(json.dumps(legacy), body["rows"], body["files"], [], [], {})]
    return QuarantinedBatch(
        id=body.get("id", body["batch"]),
        dataset=body["dataset"],
        path=path.rsplit("/", 1)[0],
        rows=body["rows"],
        reasons=body["reasons"],
        user=body.get("user", ""),
        at=body.get("at", 0.0),
        kind=body.get("kind", "unknown"),
        description=body.get("description", ""),
        sources=sources,
        publish=body.get("publish", {}),
        state=body.get("state", "quarantined"),
        version=body.get("version"),
        source=body.get("source") or {},
        pii=body.get("pii"),
    )
