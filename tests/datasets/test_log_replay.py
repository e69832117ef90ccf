"""Replaying a version's files from its checkpoint (log_replay): at every version of a table
that goes through appends, overwrites, a new column, an upsert, a compaction, a restore,
checkpoints every few commits and a partition value that needs escaping, the replayed file
list and schema equal delta-rs's, and ``read_dataset`` reads the same rows as delta-rs. What it
does not read (deletion vectors, column mapping, a missing commit) is left to delta-rs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.log_replay import replay, version_files
from thermocline.datasets.tables.versions import live_files, read_dataset
from thermocline.datasets.tables.writes import upsert, write

DATASET = "events"


def batch(number: int, *, extra: bool = False) -> pa.Table:
    columns = {
        "id": pa.array(range(number * 4, number * 4 + 4), pa.int64()),
        "day": [f"2026-11-0{1 + number % 2} 10:00", "2026-11-03 10:00"] * 2,  # ':' and ' ' escape
        "value": [float(number)] * 4,
    }
    if extra:
        columns["note"] = [f"n{number}"] * 4
    return pa.table(columns)


def rows_digest(table: pa.Table) -> str:
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


@pytest.fixture
def history(local_lake: Lake) -> tuple[Catalog, int]:
    """A table whose history has every kind of commit this project makes; its latest version."""
    catalog = Catalog(local_lake)
    uri = f"{local_lake.uri}/{DATASET}"
    write(catalog, DATASET, batch(0), partition_by=["day"])
    DeltaTable(uri).alter.set_table_properties({"delta.checkpointInterval": "3"})
    for number in range(1, 5):
        write(catalog, DATASET, batch(number), partition_by=["day"])
    write(catalog, DATASET, batch(5), mode="overwrite", partition_by=["day"])
    write(catalog, DATASET, batch(6, extra=True), partition_by=["day"])  # a new column
    upsert(catalog, DATASET, batch(6, extra=True).slice(0, 2), ["id"])
    DeltaTable(uri).optimize.compact()
    write(catalog, DATASET, batch(7), partition_by=["day"])
    DeltaTable(uri).restore(4)
    write_deltalake(uri, batch(8), mode="append", partition_by=["day"], schema_mode="merge")
    DeltaTable(uri).create_checkpoint()
    write(catalog, DATASET, batch(9), partition_by=["day"])
    latest = DeltaTable(uri).version()
    checkpoints = list((Path(uri) / "_delta_log").glob("*.checkpoint.parquet"))
    assert len(checkpoints) >= 3, "the history crosses several checkpoints"
    return catalog, latest


def test_every_version_replays_as_delta_rs_reads_it(history: tuple[Catalog, int]) -> None:
    catalog, latest = history
    lake = catalog.lake
    for version in range(latest + 1):
        table = DeltaTable(f"{lake.uri}/{DATASET}", version=version)
        replayed = version_files(lake, DATASET, version)
        assert replayed is not None, version
        theirs = {f["path"]: f for f in live_files(table)}
        ours = {f["path"]: f for f in replayed.files}
        assert set(ours) == set(theirs), version
        for path, entry in ours.items():
            assert entry["size"] == theirs[path]["size_bytes"], (version, path)
        dataset = table.to_pyarrow_dataset(filesystem=lake.table_filesystem(DATASET))
        assert replayed.schema.equals(dataset.schema, check_metadata=False), version
        assert replayed.partition_by == ("day",)
        read = read_dataset(catalog, DATASET, at=version).to_table()
        assert read.schema.equals(dataset.schema, check_metadata=False), version
        assert rows_digest(read) == rows_digest(dataset.to_table()), version


def test_a_missing_commit_leaves_the_read_to_delta_rs(history: tuple[Catalog, int]) -> None:
    catalog, latest = history
    log = Path(catalog.lake.uri) / DATASET / "_delta_log"
    checkpoints = {int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet")}
    after = min(v + 1 for v in checkpoints if v + 1 <= latest and v + 1 not in checkpoints)
    assert version_files(catalog.lake, DATASET, after) is not None
    (log / f"{after:020d}.json").rename(log / "set-aside.json")
    assert version_files(catalog.lake, DATASET, after) is None


@pytest.mark.parametrize(
    "action",
    [
        {"add": {"path": "b", "size": 2, "partitionValues": {}, "deletionVector": {"x": 1}}},
        {"protocol": {"minReaderVersion": 3, "readerFeatures": ["deletionVectors"]}},
        {
            "metaData": {
                "schemaString": "{}",
                "partitionColumns": [],
                "configuration": {"delta.columnMapping.mode": "name"},
            }
        },
    ],
    ids=["deletion-vector", "reader-feature", "column-mapping"],
)
def test_what_plain_parquet_cannot_read_is_not_replayed(action: dict[str, object]) -> None:
    checkpoint = [
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
        {"metaData": {"schemaString": "{}", "partitionColumns": [], "configuration": {}}},
        {"add": {"path": "a", "size": 1, "partitionValues": {}}},
    ]
    assert replay(checkpoint, []).supported
    assert not replay(checkpoint, [[action]]).supported
    timestamps = {"protocol": {"minReaderVersion": 3, "readerFeatures": ["timestampNtz"]}}
    assert replay(checkpoint, [[timestamps]]).supported, "timestamp_ntz reads as Parquet"
