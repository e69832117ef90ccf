"""Batch sources: files (local, S3, HTTP) and SQL, incremental and exactly once; schema evolution.

Lake-touching tests take the ``lake`` fixture and run on the local lake and on the dev stack's
S3 lake. Source files live on local disk, in the dev bucket, or behind a local HTTP server.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import FILES_KEY, REPLAY_KEY, WATERMARK_KEY
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import (
    CommitConflictError,
    SchemaEvolutionError,
    SourceHistoryError,
)
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.base import SourceBatch
from thermocline.datasets.ingest.evolution import evolve_schema
from thermocline.datasets.ingest.files import consumed_files, files_app_id, fsspec_options
from thermocline.datasets.ingest.sources import read_new
from thermocline.datasets.ingest.sql import last_watermark, sql_app_id
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import publish, quarantine
from thermocline.pipelines import devstack

SCHEMA = {"id": "int64", "name": "string", "fare": "float64", "at": "timestamp[us, tz=UTC]"}


def rows(start: int, count: int) -> list[dict[str, Any]]:
    base = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    return [
        {
            "id": i,
            "name": f"rider-{i}",
            "fare": i + 0.25,
            "at": (base + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
        }
        for i in range(start, start + count)
    ]


def write_source(url: str, file_format: str, records: list[dict[str, Any]], **options: Any) -> None:
    """One source file at an fsspec URL, in the given format."""
    with fsspec.open(url, "wb", **options) as out:
        if file_format == "jsonl":
            out.write("".join(json.dumps(r) + "\n" for r in records).encode())
            return
        table = pa.Table.from_pylist(records)
        if file_format == "csv":
            pacsv.write_csv(table, out)
        else:
            pq.write_table(table, out)


def files_spec(
    url: str, file_format: str = "csv", schema: Any = "infer", **extra: Any
) -> DatasetSpec:
    source = {"kind": "files", "url": url, "format": file_format, **extra}
    return DatasetSpec.model_validate({"source": source, "schema": schema})


def load(lake: Lake, dataset: str, batch: SourceBatch) -> int:
    """Stage and publish a batch the way the pipeline will (no checks here)."""
    staged = stage(lake, dataset, batch.data)
    return publish(
        Catalog(lake),
        staged,
        mode=batch.mode,
        reason=batch.description,
        app_transactions=batch.app_transactions,
        expected_positions=batch.expected_positions,
        metadata=batch.commit_metadata,
    )


def table_ids(lake: Lake, dataset: str) -> list[int]:
    return sorted(read_dataset(Catalog(lake), dataset).to_table(columns=["id"])["id"].to_pylist())


def names(batch: SourceBatch) -> list[str]:
    return [f.url.rsplit("/", 1)[-1] for f in batch.files]


# --- files: formats, incremental, exactly once -----------------------------------------------


def test_csv_files_are_read_once_and_new_ones_alone(lake: Lake, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    write_source(str(landing / "a.csv"), "csv", rows(0, 3))
    write_source(str(landing / "b.csv"), "csv", rows(3, 2))
    (landing / "_SUCCESS").write_text("")  # markers are not data
    spec = files_spec(f"{landing}/*.csv", schema=SCHEMA)

    first = read_new(lake, "rides", spec)
    assert first is not None
    assert names(first) == ["a.csv", "b.csv"]
    assert first.data.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("fare", pa.float64()),
            ("at", pa.timestamp("us", tz="UTC")),
        ]
    )
    assert first.app_transactions == {"files:rides": 2}
    assert json.loads(first.commit_metadata[FILES_KEY]) == [
        f"file://{landing}/a.csv",
        f"file://{landing}/b.csv",
    ]
    assert first.description.startswith(f"2 new file(s) from {landing}/*.csv: a.csv, b.csv")
    assert load(lake, "rides", first) == 0
    assert table_ids(lake, "rides") == [0, 1, 2, 3, 4]

    assert read_new(lake, "rides", spec) is None

    write_source(str(landing / "c.csv"), "csv", rows(5, 4))
    second = read_new(lake, "rides", spec)
    assert second is not None
    assert names(second) == ["c.csv"]
    assert second.data["id"].to_pylist() == [5, 6, 7, 8]
    assert second.data["at"][0].as_py() == dt.datetime(2026, 11, 21, 0, 5, tzinfo=dt.UTC)
    assert second.app_transactions == {"files:rides": 3}
    assert load(lake, "rides", second) == 1
    assert table_ids(lake, "rides") == list(range(9))
    assert open_table(lake, "rides").transaction_version(files_app_id("rides")) == 3
    assert sorted(consumed_files(lake, "rides")) == [
        f"file://{landing}/{n}" for n in ("a.csv", "b.csv", "c.csv")
    ]
    assert read_new(lake, "rides", spec) is None


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_each_format_reads_typed_by_the_declared_schema(
    local_lake: Lake, tmp_path: Path, file_format: str
) -> None:
    records = rows(10, 3)
    if file_format == "parquet":  # Parquet has its own types: ids as int32, times as text
        for record in records:
            record["id"] = pa.scalar(record["id"], pa.int32())
    write_source(str(tmp_path / f"part.{file_format}"), file_format, records)
    spec = files_spec(str(tmp_path / f"*.{file_format}"), file_format, schema=SCHEMA)

    batch = read_new(local_lake, "rides", spec)
    assert batch is not None
    assert batch.data.schema.types == [
        pa.int64(),
        pa.string(),
        pa.float64(),
        pa.timestamp("us", tz="UTC"),
    ]
    assert batch.data.to_pylist()[1] == {
        "id": 11,
        "name": "rider-11",
        "fare": 11.25,
        "at": dt.datetime(2026, 11, 21, 0, 11, tzinfo=dt.UTC),
    }
    load(local_lake, "rides", batch)
    assert table_ids(local_lake, "rides") == [10, 11, 12]
    assert read_new(local_lake, "rides", spec) is None


def test_inferred_types_from_several_files_do_not_depend_on_file_order(
    local_lake: Lake, tmp_path: Path
) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "x": 2, "note": null}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 2, "x": 2.5, "when": "2026-11-21 10:00:00"}\n')
    batch = read_new(local_lake, "points", files_spec(str(tmp_path), "jsonl"))
    assert batch is not None
    assert batch.data.schema == pa.schema(
        [("id", pa.int64()), ("x", pa.float64()), ("when", pa.timestamp("us"))]
    ), "int64 + double is double; an all-null column waits for a type; seconds become us"
    assert batch.data.to_pylist() == [
        {"id": 1, "x": 2.0, "when": None},
        {"id": 2, "x": 2.5, "when": dt.datetime(2026, 11, 21, 10)},
    ]
    load(local_lake, "points", batch)
    assert read_dataset(Catalog(local_lake), "points").to_table().sort_by("id")[
        "x"
    ].to_pylist() == [
        2.0,
        2.5,
    ]


def test_crash_between_stage_and_publish_reads_the_files_again(lake: Lake, tmp_path: Path) -> None:
    write_source(str(tmp_path / "a.jsonl"), "jsonl", rows(0, 4))
    spec = files_spec(str(tmp_path / "*.jsonl"), "jsonl", schema=SCHEMA)
    first = read_new(lake, "rides", spec)
    assert first is not None
    stage(lake, "rides", first.data)  # ... and the process dies before publish

    again = read_new(lake, "rides", spec)
    assert again is not None, "nothing was published, so nothing was consumed"
    assert names(again) == ["a.jsonl"]
    assert again.app_transactions == first.app_transactions
    load(lake, "rides", again)
    assert table_ids(lake, "rides") == [0, 1, 2, 3], "each row exactly once"
    assert read_new(lake, "rides", spec) is None


def test_rollback_does_not_make_ingestion_read_again_and_replay_does(
    lake: Lake, tmp_path: Path
) -> None:
    spec = files_spec(str(tmp_path / "*.csv"), schema=SCHEMA)
    write_source(str(tmp_path / "a.csv"), "csv", rows(0, 2))
    load(lake, "rides", read_new(lake, "rides", spec))  # type: ignore[arg-type]
    write_source(str(tmp_path / "b.csv"), "csv", rows(2, 2))
    load(lake, "rides", read_new(lake, "rides", spec))  # type: ignore[arg-type]

    rollback(Catalog(lake), "rides", to=0, reason="bad load")
    assert table_ids(lake, "rides") == [0, 1]
    assert read_new(lake, "rides", spec) is None, "DESIGN Decision 3: no re-read after restore"

    # Replay is explicit: a commit that lists the URLs under REPLAY_KEY unconsumes them.
    empty = stage(lake, "rides", read_dataset(Catalog(lake), "rides").to_table().slice(0, 0))
    publish(
        Catalog(lake),
        empty,
        reason="replay b.csv",
        metadata={REPLAY_KEY: json.dumps([f"file://{tmp_path}/b.csv"])},
    )
    replayed = read_new(lake, "rides", spec)
    assert replayed is not None
    assert names(replayed) == ["b.csv"]
    assert replayed.app_transactions == {"files:rides": 3}, "the counter only grows"
    load(lake, "rides", replayed)
    assert table_ids(lake, "rides") == [0, 1, 2, 3]


def test_a_cleaned_log_is_an_error_not_a_reload(local_lake: Lake, tmp_path: Path) -> None:
    spec = files_spec(str(tmp_path / "*.csv"), schema=SCHEMA)
    for n in range(3):
        write_source(str(tmp_path / f"{n}.csv"), "csv", rows(n, 1))
        load(local_lake, "rides", read_new(local_lake, "rides", spec))  # type: ignore[arg-type]
    table = open_table(local_lake, "rides")
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()  # drops the commit files (and their metadata) before the checkpoint
    with pytest.raises(SourceHistoryError, match=r"list 0 consumed file\(s\) .* says 3"):
        read_new(local_lake, "rides", spec)


def test_an_incompatible_file_carries_its_batch_for_quarantine(lake: Lake, tmp_path: Path) -> None:
    spec = files_spec(str(tmp_path / "*.csv"))
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    load(lake, "people", read_new(lake, "people", spec))  # type: ignore[arg-type]
    (tmp_path / "b.csv").write_text("id,name\nx7,c\n")

    with pytest.raises(
        SchemaEvolutionError, match=r"b\.csv: column 'id': the table has int64"
    ) as info:
        read_new(lake, "people", spec)
    error = info.value
    assert (error.column, error.table_type, error.batch_type) == ("id", pa.int64(), pa.string())
    assert error.batch is not None
    assert error.batch.data.to_pylist() == [{"id": "x7", "name": "c"}]
    folder = quarantine(Catalog(lake), stage(lake, "people", error.batch.data), [str(error)])
    assert folder.startswith("_quarantine/people/")
    assert table_ids(lake, "people") == [1, 2]
    with pytest.raises(SchemaEvolutionError):  # not consumed: it fails again until fixed
        read_new(lake, "people", spec)


# --- files: S3 and HTTP ----------------------------------------------------------------------


@pytest.fixture
def s3_source(dev_stack: devstack.StackInfo) -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh prefix in the dev bucket for source files (s3fs options), removed afterwards."""
    s3 = dev_stack.s3
    assert s3 is not None
    assert s3.running
    prefix = f"s3://{s3.bucket}/sources/{uuid.uuid4().hex[:12]}"
    options = fsspec_options(prefix, dev_stack.s3_storage_options())
    yield prefix, options
    filesystem = fsspec.filesystem("s3", **options)
    if filesystem.exists(prefix):
        filesystem.rm(prefix, recursive=True)


@pytest.mark.s3
def test_files_on_s3_with_options_from_the_environment(
    lake: Lake, dev_stack: devstack.StackInfo, s3_source: tuple[str, dict[str, Any]]
) -> None:
    prefix, options = s3_source
    write_source(f"{prefix}/day=1/a.jsonl", "jsonl", rows(0, 3), **options)
    write_source(f"{prefix}/day=1/notes.txt", "jsonl", rows(50, 1), **options)  # not matched
    environ = {f"SRC_{k}": v for k, v in dev_stack.s3_storage_options().items()}
    spec = files_spec(
        f"{prefix}/*/*.jsonl",
        "jsonl",
        schema=SCHEMA,
        options={k: f"${{SRC_{k}}}" for k in dev_stack.s3_storage_options()},
    )

    first = read_new(lake, "rides", spec, environ=environ)
    assert first is not None
    assert [f.url for f in first.files] == [f"{prefix}/day=1/a.jsonl"]
    assert first.files[0].etag, "S3 ETags are recorded"
    load(lake, "rides", first)
    assert read_new(lake, "rides", spec, environ=environ) is None

    write_source(f"{prefix}/day=2/b.jsonl", "jsonl", rows(3, 2), **options)
    second = read_new(lake, "rides", spec, environ=environ)
    assert second is not None
    assert [f.url for f in second.files] == [f"{prefix}/day=2/b.jsonl"]
    load(lake, "rides", second)
    assert table_ids(lake, "rides") == [0, 1, 2, 3, 4]


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served by http.server on 127.0.0.1 in a thread: (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_files_over_http_by_url_and_by_list(
    local_lake: Lake, http_folder: tuple[Path, str]
) -> None:
    folder, base = http_folder
    write_source(str(folder / "a.csv"), "csv", rows(0, 2))
    write_source(str(folder / "b.parquet"), "parquet", rows(2, 2))
    spec = files_spec(f"{base}/a.csv", schema=SCHEMA)
    batch = read_new(local_lake, "rides", spec)
    assert batch is not None
    assert [f.url for f in batch.files] == [f"{base}/a.csv"]
    load(local_lake, "rides", batch)
    assert read_new(local_lake, "rides", spec) is None

    parquet = files_spec(f"{base}/a.parquet", "parquet", schema=SCHEMA)
    listed = read_new(local_lake, "rides", parquet, urls=[f"{base}/b.parquet"])
    assert listed is not None
    assert listed.data["id"].to_pylist() == [2, 3]
    load(local_lake, "rides", listed)
    assert table_ids(local_lake, "rides") == [0, 1, 2, 3]


def test_project_file_paths_and_env_references(
    local_lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "landing").mkdir()
    write_source(str(tmp_path / "landing" / "a.csv"), "csv", rows(0, 2))
    (tmp_path / "thermocline.yaml").write_text(
        "datasets:\n"
        "  rides:\n"
        "    source: {kind: files, url: '${LANDING:-landing}/*.csv', format: csv}\n"
        "    schema: {id: int64, name: string, fare: float64, at: 'timestamp[us, tz=UTC]'}\n"
    )
    monkeypatch.delenv("LANDING", raising=False)
    project = load_project(tmp_path / "thermocline.yaml")
    batch = read_new(local_lake, "rides", project.dataset("rides"), project)
    assert batch is not None
    assert [f.url for f in batch.files] == [f"file://{tmp_path}/landing/a.csv"]


# --- SQL -------------------------------------------------------------------------------------


@pytest.fixture
def rides_db(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    metadata = sa.MetaData()
    sa.Table(
        "rides",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("fare", sa.Float),
        sa.Column("updated_at", sa.DateTime),
    ).create(engine)
    return engine


def insert_rides(engine: sa.Engine, ids: range) -> None:
    table = sa.Table("rides", sa.MetaData(), autoload_with=engine)
    base = dt.datetime(2026, 11, 21, 9, 0)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {
                    "id": i,
                    "name": f"r{i}",
                    "fare": i * 1.5,
                    "updated_at": base + dt.timedelta(hours=i),
                }
                for i in ids
            ],
        )


@pytest.fixture
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement any engine sends, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


def test_sql_table_incremental_by_watermark(
    lake: Lake, rides_db: sa.Engine, statements: list[tuple[str, Any]]
) -> None:
    insert_rides(rides_db, range(1, 4))
    source = {"kind": "sql", "url": str(rides_db.url), "table": "rides", "watermark_column": "id"}
    spec = DatasetSpec.model_validate({"source": source})

    first = read_new(lake, "rides", spec)
    assert first is not None
    assert first.data.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("fare", pa.float64()),
            ("updated_at", pa.timestamp("us")),
        ]
    ), "types come from the reflected table"
    assert first.data["id"].to_pylist() == [1, 2, 3]
    assert first.watermark == 3
    assert json.loads(first.commit_metadata[WATERMARK_KEY]) == {"type": "int", "value": 3}
    assert first.app_transactions == {"sql:rides": 1}
    assert first.mode == "append"
    load(lake, "rides", first)
    assert last_watermark(lake, "rides") == 3

    statements.clear()
    assert read_new(lake, "rides", spec) is None
    selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
    assert any("> ?" in s and 3 in tuple(p) for s, p in selects), selects
    assert all("> 3" not in s for s, _ in selects), "the watermark is bound, never formatted"

    insert_rides(rides_db, range(4, 6))
    second = read_new(lake, "rides", spec)
    assert second is not None
    assert second.data["id"].to_pylist() == [4, 5]
    assert second.app_transactions == {"sql:rides": 2}
    load(lake, "rides", second)
    assert table_ids(lake, "rides") == [1, 2, 3, 4, 5]
    assert open_table(lake, "rides").transaction_version(sql_app_id("rides")) == 2


def test_sql_query_with_a_timestamp_watermark(local_lake: Lake, rides_db: sa.Engine) -> None:
    insert_rides(rides_db, range(1, 4))
    source = {
        "kind": "sql",
        "url": str(rides_db.url),
        "query": "SELECT id, name, updated_at FROM rides WHERE name != 'r2';",
        "watermark_column": "updated_at",
    }
    spec = DatasetSpec.model_validate(
        {
            "source": source,
            "schema": {"id": "int64", "name": "string", "updated_at": "timestamp[us]"},
        }
    )
    first = read_new(local_lake, "rides", spec)
    assert first is not None
    assert first.data["id"].to_pylist() == [1, 3]
    assert first.watermark == dt.datetime(2026, 11, 21, 12, 0)
    load(local_lake, "rides", first)
    assert read_new(local_lake, "rides", spec) is None

    insert_rides(rides_db, range(4, 5))
    second = read_new(local_lake, "rides", spec)
    assert second is not None
    assert second.data.to_pylist() == [
        {"id": 4, "name": "r4", "updated_at": dt.datetime(2026, 11, 21, 13, 0)}
    ]


def test_sql_without_watermark_is_a_snapshot(local_lake: Lake, rides_db: sa.Engine) -> None:
    insert_rides(rides_db, range(1, 3))
    spec = DatasetSpec.model_validate(
        {"source": {"kind": "sql", "url": str(rides_db.url), "table": "rides"}}
    )
    load(local_lake, "rides", read_new(local_lake, "rides", spec))  # type: ignore[arg-type]
    insert_rides(rides_db, range(3, 4))
    snapshot = read_new(local_lake, "rides", spec)
    assert snapshot is not None
    assert snapshot.mode == "overwrite"
    load(local_lake, "rides", snapshot)
    assert table_ids(local_lake, "rides") == [1, 2, 3]


# --- schema evolution (pure) -----------------------------------------------------------------

TABLE = pa.schema([("id", pa.int64()), ("score", pa.float64()), ("tag", pa.string())])


def test_a_new_column_is_added_after_the_table_columns() -> None:
    batch = pa.table(
        {"tag": ["a"], "id": pa.array([1], pa.int64()), "extra": [True], "score": [0.5]}
    )
    evolved = evolve_schema(TABLE, batch)
    assert evolved.schema.names == ["id", "score", "tag", "extra"]
    assert evolved.added == ("extra",)
    assert (evolved.filled, evolved.cast) == ((), ())
    assert evolved.data.to_pylist() == [{"id": 1, "score": 0.5, "tag": "a", "extra": True}]


def test_a_missing_column_becomes_nulls() -> None:
    evolved = evolve_schema(TABLE, pa.table({"id": pa.array([1, 2], pa.int64())}))
    assert evolved.filled == ("score", "tag")
    assert evolved.schema == TABLE
    assert evolved.data.to_pylist() == [
        {"id": 1, "score": None, "tag": None},
        {"id": 2, "score": None, "tag": None},
    ]


def test_safe_widening_is_cast() -> None:
    batch = pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "score": pa.array([0.5, 1.5], pa.float32()),
            "tag": pa.nulls(2),
        }
    )
    evolved = evolve_schema(TABLE, batch)
    assert evolved.schema == TABLE
    assert evolved.cast == ("id", "score", "tag")
    assert evolved.data.to_pylist() == [
        {"id": 1, "score": 0.5, "tag": None},
        {"id": 2, "score": 1.5, "tag": None},
    ]
    numeric_text = evolve_schema(TABLE, pa.table({"id": ["7", "8"]}))
    assert numeric_text.data["id"].to_pylist() == [7, 8]


@pytest.mark.parametrize(
    ("column", "target", "message"),
    [
        (
            pa.array(["7", "x8"]),
            pa.int64(),
            r"column 'id': the table has int64, the batch has string, and some values do not fit",
        ),
        (
            pa.array([1, 2], pa.int64()),
            pa.timestamp("us"),
            r"column 'id': the table has timestamp\[us\], the batch has int64, and int64 cannot",
        ),
        (
            pa.array([2**40], pa.int64()),
            pa.int32(),
            r"the table has int32, the batch has int64, and some values do not fit",
        ),
        (
            pa.array([1.5]),
            pa.int64(),
            r"the table has int64, the batch has double, and some values do not fit",
        ),
    ],
)
def test_an_unsafe_type_change_is_an_error_naming_column_types_and_fix(
    column: pa.Array, target: pa.DataType, message: str
) -> None:
    with pytest.raises(SchemaEvolutionError, match=message) as info:
        evolve_schema(pa.schema([("id", target)]), pa.table({"id": column}))
    assert info.value.column == "id"
    assert (info.value.table_type, info.value.batch_type) == (target, column.type)
    assert "fix:" in str(info.value)


def test_not_null_case_and_storability_rules() -> None:
    strict = pa.schema([pa.field("id", pa.int64(), nullable=False), ("x", pa.float64())])
    with pytest.raises(SchemaEvolutionError, match="NOT NULL and the batch has no such column"):
        evolve_schema(strict, pa.table({"x": [1.0]}))
    with pytest.raises(SchemaEvolutionError, match="differs only in case"):
        evolve_schema(TABLE, pa.table({"ID": [1]}))
    with pytest.raises(SchemaEvolutionError, match="cannot store time64"):
        evolve_schema(TABLE, pa.table({"t": pa.array([1], pa.time64("us"))}))
    fresh = evolve_schema(None, pa.table({"a": pa.nulls(1), "t": pa.array([0], pa.timestamp("s"))}))
    assert (fresh.added, fresh.deferred) == ((), ("a",))
    assert fresh.schema == pa.schema([("t", pa.timestamp("us"))])


# --- what publish does for sources ----------------------------------------------------------


def test_an_added_column_reaches_the_table(local_lake: Lake, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    spec = files_spec(str(tmp_path / "*.csv"))
    load(local_lake, "t", read_new(local_lake, "t", spec))  # type: ignore[arg-type]
    (tmp_path / "b.csv").write_text("id,extra\n2,x\n")
    batch = read_new(local_lake, "t", spec)
    assert batch is not None
    assert batch.added_columns == ("extra",)
    load(local_lake, "t", batch)
    assert read_dataset(Catalog(local_lake), "t").to_table().sort_by("id").to_pylist() == [
        {"id": 1, "extra": None},
        {"id": 2, "extra": "x"},
    ]


def test_two_runs_that_read_the_same_files_publish_them_once(
    local_lake: Lake, tmp_path: Path
) -> None:
    write_source(str(tmp_path / "a.csv"), "csv", rows(0, 2))
    spec = files_spec(str(tmp_path / "*.csv"), schema=SCHEMA)
    load(local_lake, "rides", read_new(local_lake, "rides", spec))  # type: ignore[arg-type]
    write_source(str(tmp_path / "b.csv"), "csv", rows(2, 2))
    one, two = read_new(local_lake, "rides", spec), read_new(local_lake, "rides", spec)
    assert one is not None
    assert two is not None
    load(local_lake, "rides", one)
    with pytest.raises(CommitConflictError, match="another run published this input first"):
        load(local_lake, "rides", two)
    assert table_ids(local_lake, "rides") == [0, 1, 2, 3]


def test_a_run_whose_listing_overlaps_a_published_one_loses_the_race(
    lake: Lake, tmp_path: Path
) -> None:
    """Issue #13: run A lists {a}; b lands; run B lists {a, b}; A publishes. B's position (2
    files) is past A's (1), but B consumed a.csv, which A's commit holds: B must lose the race,
    and the retry loads b.csv alone, so every row is in the table once."""
    write_source(str(tmp_path / "a.csv"), "csv", rows(0, 2))
    spec = files_spec(str(tmp_path / "*.csv"), schema=SCHEMA)
    run_a = read_new(lake, "rides", spec)
    write_source(str(tmp_path / "b.csv"), "csv", rows(2, 2))
    run_b = read_new(lake, "rides", spec)
    assert run_a is not None
    assert run_b is not None
    assert names(run_b) == ["a.csv", "b.csv"]
    load(lake, "rides", run_a)
    with pytest.raises(CommitConflictError, match="another run published this input first"):
        load(lake, "rides", run_b)
    retry = read_new(lake, "rides", spec)
    assert retry is not None
    assert names(retry) == ["b.csv"]
    load(lake, "rides", retry)
    assert table_ids(lake, "rides") == [0, 1, 2, 3]


def test_a_sql_read_whose_watermark_range_overlaps_a_published_one_loses_the_race(
    lake: Lake, rides_db: sa.Engine
) -> None:
    """Issue #13 for SQL watermarks: run A reads ids 1-3; 4-5 are inserted; run B reads 1-5;
    A publishes. B's range overlaps A's commit: B must lose, and the retry loads 4-5 alone."""
    insert_rides(rides_db, range(1, 4))
    source = {"kind": "sql", "url": str(rides_db.url), "table": "rides", "watermark_column": "id"}
    spec = DatasetSpec.model_validate({"source": source})
    run_a = read_new(lake, "rides", spec)
    insert_rides(rides_db, range(4, 6))
    run_b = read_new(lake, "rides", spec)
    assert run_a is not None
    assert run_b is not None
    assert run_b.data["id"].to_pylist() == [1, 2, 3, 4, 5]
    load(lake, "rides", run_a)
    with pytest.raises(CommitConflictError, match="another run published this input first"):
        load(lake, "rides", run_b)
    retry = read_new(lake, "rides", spec)
    assert retry is not None
    assert retry.data["id"].to_pylist() == [4, 5]
    load(lake, "rides", retry)
    assert table_ids(lake, "rides") == [1, 2, 3, 4, 5]


def test_delta_table_is_plain_delta(local_lake: Lake, tmp_path: Path) -> None:
    """The source metadata is ordinary commitInfo: any Delta reader sees it in history."""
    write_source(str(tmp_path / "a.csv"), "csv", rows(0, 1))
    load(local_lake, "rides", read_new(local_lake, "rides", files_spec(str(tmp_path / "*.csv"))))  # type: ignore[arg-type]
    entry = DeltaTable(local_lake.table_uri("rides")).history(1)[0]
    assert json.loads(entry[FILES_KEY]) == [f"file://{tmp_path}/a.csv"]
