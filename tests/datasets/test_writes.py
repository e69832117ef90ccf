"""Write-audit-publish on both lakes: staged data is invisible until one publishing commit."""

from __future__ import annotations

import json
import threading
from datetime import date
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import CommitConflictError, DatasetNotFoundError, InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.demo import demo_rides
from thermocline.datasets.tables.staging import discard, stage
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.datasets.tables.writes import publish, quarantine, upsert, write


def test_staged_files_are_invisible_until_published(lake: Lake) -> None:
    write(Catalog(lake), "rides", demo_rides(0, 1_000), partition_by=["day"])
    staged = stage(lake, "rides", demo_rides(1, 2_000))
    assert staged.rows == 2_000
    assert staged.partition_by == ("day",), "staging follows the table's partitioning"
    assert read_dataset(Catalog(lake), "rides").count_rows() == 1_000
    assert open_table(lake, "rides").version() == 0

    version = publish(Catalog(lake), staged, reason="second batch", app_transactions={"files:x": 7})
    assert version == 1
    table = read_dataset(Catalog(lake), "rides").to_table()
    assert table.num_rows == 3_000
    assert pc.count_distinct(table["ride_id"]).as_py() == 3_000
    assert open_table(lake, "rides").transaction_version("files:x") == 7
    assert history(lake, "rides")[0].reason == "second batch"
    assert [e.kind for e in Catalog(lake).events("rides")] == ["publish", "publish"]


def test_a_concurrent_reader_never_sees_staged_rows(lake: Lake) -> None:
    write(Catalog(lake), "events", pa.table({"id": pa.array(range(100), pa.int64())}))
    counts: list[tuple[bool, int]] = []  # (publishing had started, rows seen)
    errors: list[BaseException] = []
    publishing = threading.Event()
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                started = publishing.is_set()
                counts.append((started, read_dataset(Catalog(lake), "events").count_rows()))
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    staged = [
        stage(lake, "events", pa.table({"id": pa.array(range(n, n + 50), pa.int64())}))
        for n in range(100, 600, 50)
    ]
    reads_before = len(counts)
    while len(counts) < reads_before + 5:  # the reader runs while all ten batches sit staged
        stop.wait(0.01)
    publishing.set()
    assert [publish(Catalog(lake), batch) for batch in staged] == list(range(1, 11))
    stop.set()
    thread.join()

    assert errors == []
    assert {n for started, n in counts if not started} == {100}
    assert {n for _, n in counts} <= {100 + 50 * k for k in range(11)}
    assert read_dataset(Catalog(lake), "events").count_rows() == 600


def test_statistics_let_readers_prune(lake: Lake) -> None:
    for batch in range(4):
        write(Catalog(lake), "rides", demo_rides(batch, 500))
    actions = pa.table(open_table(lake, "rides").get_add_actions(flatten=True)).to_pylist()
    assert sorted(a["min.ride_id"] for a in actions) == [0, 500, 1000, 1500]
    assert sorted(a["max.ride_id"] for a in actions) == [499, 999, 1499, 1999]
    assert all(a["num_records"] == 500 for a in actions)
    dataset = read_dataset(Catalog(lake), "rides")
    fragments = list(dataset.get_fragments(filter=pc.field("ride_id") >= 1_700))
    assert len(fragments) == 1, "the file statistics prune three of four files"
    assert dataset.to_table(filter=pc.field("ride_id") >= 1_700).num_rows == 300


def test_overwrite_replaces_only_the_partitions_in_the_batch(lake: Lake) -> None:
    write(Catalog(lake), "rides", demo_rides(0, 300), partition_by=["day"])
    write(Catalog(lake), "rides", demo_rides(1, 300))
    replacement = demo_rides(1, 10)  # the same day as batch 1, ten rows
    write(Catalog(lake), "rides", replacement, mode="overwrite")
    days = (
        read_dataset(Catalog(lake), "rides")
        .to_table()
        .group_by("day")
        .aggregate([("ride_id", "count")])
    )
    counts = dict(zip(days["day"].to_pylist(), days["ride_id_count"].to_pylist(), strict=True))
    assert counts == {date(2026, 11, 1): 300, date(2026, 11, 2): 10}
    newest = history(lake, "rides")[0]
    assert (newest.rows_added, newest.rows_removed) == (10, 300)


def test_publish_refuses_a_batch_staged_with_other_partitioning(lake: Lake) -> None:
    write(Catalog(lake), "rides", demo_rides(0, 10), partition_by=["day"])
    staged = stage(lake, "rides", demo_rides(1, 10), partition_by=[])
    with pytest.raises(InputError, match=r"partitioned by \['day'\]"):
        publish(Catalog(lake), staged)
    assert open_table(lake, "rides").version() == 0


def test_quarantine_moves_the_batch_away_with_its_reasons(lake: Lake) -> None:
    write(Catalog(lake), "rides", demo_rides(0, 10), partition_by=["day"])
    staged = stage(lake, "rides", demo_rides(1, 25))
    folder = quarantine(Catalog(lake), staged, ["fare: 3 values below 0"])
    assert open_table(lake, "rides").version() == 0
    assert read_dataset(Catalog(lake), "rides").count_rows() == 10
    with lake.filesystem.open_input_stream(f"{folder}/reasons.json") as stream:
        record = json.loads(stream.read())
    assert record["reasons"] == ["fare: 3 values below 0"]
    assert record["rows"] == 25
    moved = pq.read_table(f"{folder}/{staged.files[0].path}", filesystem=lake.filesystem)
    assert moved.num_rows == 25
    (event,) = Catalog(lake).events("rides", kinds=["quarantine"])
    assert event.reason == "fare: 3 values below 0"


def test_discard_leaves_nothing_behind(lake: Lake) -> None:
    staged = stage(lake, "fresh", demo_rides(0, 10))
    discard(lake, staged)
    with pytest.raises(DatasetNotFoundError):
        open_table(lake, "fresh")
    for staged_file in staged.files:
        info = lake.table_filesystem("fresh").get_file_info(staged_file.path)
        assert info.type.name == "NotFound"


def test_upsert_updates_matches_and_inserts_the_rest(lake: Lake) -> None:
    write(Catalog(lake), "users", pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
    upsert(
        Catalog(lake), "users", pa.table({"id": [2, 4], "name": ["B", "d"]}), ["id"], reason="sync"
    )
    rows = read_dataset(Catalog(lake), "users").to_table().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "B"},
        {"id": 3, "name": "c"},
        {"id": 4, "name": "d"},
    ]
    with pytest.raises(InputError, match="repeats 1 primary key"):
        upsert(Catalog(lake), "users", pa.table({"id": [5, 5], "name": ["x", "y"]}), ["id"])


def test_a_big_batch_is_written_as_parallel_files_with_exact_stats(local_lake: Lake) -> None:
    rows = 1_200_000
    data = pa.table({"id": pa.array(range(rows), pa.int64())})
    staged = stage(local_lake, "big", data)
    assert len(staged.files) > 1
    assert sum(f.rows for f in staged.files) == rows
    publish(Catalog(local_lake), staged)
    actions = pa.table(open_table(local_lake, "big").get_add_actions(flatten=True)).to_pylist()
    spans = sorted((a["min.id"], a["max.id"], a["num_records"]) for a in actions)
    assert spans[0][0] == 0
    assert spans[-1][1] == rows - 1
    assert all(low == previous[1] + 1 for previous, (low, _, _) in pairwise(spans))
    assert read_dataset(Catalog(local_lake), "big").count_rows() == rows


@pytest.mark.parametrize("trial", range(3))
def test_two_first_publishes_racing_create_the_table_once(lake: Lake, trial: int) -> None:
    """Both read a source against no table yet and publish at the same moment: one creates
    the table, the other must lose. delta-rs would otherwise rebase the losing create onto the
    winner as a second CREATE TABLE version with the same rows (it did, every time)."""
    catalog = Catalog(lake)
    name = f"first_{trial}"
    rows = pa.table({"id": list(range(5))})
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def first_publish() -> None:
        staged = stage(lake, name, rows)
        barrier.wait()
        try:
            outcomes.append(
                publish(
                    catalog,
                    staged,
                    app_transactions={f"files:{name}": 1},
                    expected_positions={f"files:{name}": None},
                )
            )
        except CommitConflictError:
            discard(lake, staged)
            outcomes.append("lost")

    threads = [threading.Thread(target=first_publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [0, "lost"]
    assert read_dataset(catalog, name).count_rows() == 5
    assert open_table(lake, name).version() == 0
