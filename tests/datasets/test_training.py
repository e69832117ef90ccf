"""The training loader on real tables: local and S3 lakes, real DataLoader worker processes.

The harness table has many small files: uneven row groups, empty files, a partition column,
and one column of each kind the loader turns into tensors. Every row carries its id, and every
other value is a function of the id, so a batch can be checked row by row.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from counting_lake import CountingLake
from deltalake import WriterProperties, write_deltalake

from thermocline.catalog.catalog import TRAINING_RUN, Catalog
from thermocline.catalog.classifications import NOT_PII, Classification
from thermocline.catalog.errors import (
    InputError,
    LoaderStateError,
    MissingFilesError,
    PiiRefusedError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.staging import StagedBatch, StagedFile
from thermocline.datasets.tables.writes import publish, write
from thermocline.datasets.training import MASK, TableDataset, TableLoader, iter_batches
from thermocline.datasets.training.tensors import _dense

# The harness uses 3 workers on this 2-core machine on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
ROWS = 523  # rows in the harness table


def rows(ids: np.ndarray) -> pa.Table:
    """Rows whose every value follows from the id."""
    ids = ids.astype(np.int64)
    tags = [[int(i)] * (int(i) % 4) for i in ids]
    return pa.table(
        {
            "id": ids,
            "x": (ids * 0.5).astype(np.float32),
            "flag": ids % 2 == 0,
            "vec": pa.FixedSizeListArray.from_arrays(
                pa.array(np.stack([ids, ids + 1, ids + 2], axis=1).ravel().astype(np.float32)), 3
            ),
            "tags": pa.array(tags, pa.list_(pa.int32())),
            "name": [f"n{i}" for i in ids],
            "day": [f"2026-11-0{1 + int(i) % 3}" for i in ids],
        }
    )


def add_empty_file(lake: Lake, name: str, day: str) -> None:
    """Publish a Parquet file with no rows (one empty row group) into partition ``day``."""
    schema = rows(np.arange(0, 0)).schema
    path = f"day={day}/empty-{uuid.uuid4().hex}.parquet"
    if lake.is_local:
        lake.filesystem.create_dir(f"{name}/day={day}", recursive=True)
    filesystem = lake.table_filesystem(name)
    pq.write_table(
        schema.remove(schema.get_field_index("day")).empty_table(), path, filesystem=filesystem
    )
    size = filesystem.get_file_info(path).size
    empty = StagedFile(path, size, 0, {"day": day}, json.dumps({"numRecords": 0}))
    publish(Catalog(lake), StagedBatch(name, uuid.uuid4().hex, schema, ("day",), (empty,)))


def make_table(lake: Lake, name: str = "harness") -> None:
    """523 rows in 18 files: our writes (one file per day), delta-rs appends with row groups of
    1 to 40 rows, and two empty files."""
    write(Catalog(lake), name, rows(np.arange(0, 100)), partition_by=["day"])
    add_empty_file(lake, name, "2026-11-01")
    start = 100
    for size, group in ((90, 7), (1, 1), (150, 40), (60, 13)):
        write_deltalake(
            lake.table_uri(name),
            rows(np.arange(start, start + size)),
            mode="append",
            storage_options=lake.delta_storage_options(),
            writer_properties=WriterProperties(max_row_group_size=group),
        )
        start += size
    write(Catalog(lake), name, rows(np.arange(start, ROWS)))
    add_empty_file(lake, name, "2026-11-03")


@pytest.fixture
def harness(local_lake: Lake) -> Lake:
    make_table(local_lake)
    return local_lake


def real_ids(batch: dict[str, Any]) -> list[int]:
    ids: torch.Tensor = batch["id"]
    return (ids[batch[MASK]] if MASK in batch else ids).tolist()


def epoch(lake: Lake, world: int, workers: int, **options: Any) -> list[list[dict[str, Any]]]:
    """Every rank's batches of one pass, each rank through its own TableLoader."""
    out = []
    for rank in range(world):
        dataset = TableDataset(
            "harness", lake=lake, rank=rank, world_size=world, record_run=False, **options
        )
        out.append(list(TableLoader(dataset, num_workers=workers)))
    return out


@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize("workers", [0, 1, 3])
def test_every_row_once_per_epoch_and_equal_batch_counts(
    harness: Lake, world: int, workers: int
) -> None:
    seen_orders = []
    for number in range(2):
        per_rank = []
        for rank in range(world):
            dataset = TableDataset(
                "harness",
                lake=harness,
                rank=rank,
                world_size=world,
                batch_size=16,
                shuffle=True,
                seed=5,
                shuffle_buffer=48,
                record_run=False,
            )
            dataset.set_epoch(number)
            batches = list(TableLoader(dataset, num_workers=workers))
            assert len(batches) == dataset.batches_per_epoch(workers)
            assert all(len(b["id"]) == 16 for b in batches)  # padded to shape, with a mask
            per_rank.append(batches)
        assert len({len(batches) for batches in per_rank}) == 1  # no DDP hang
        ids = [i for batches in per_rank for b in batches for i in real_ids(b)]
        assert sorted(ids) == list(range(ROWS))
        seen_orders.append(ids)
    assert seen_orders[0] != seen_orders[1]  # each epoch its own order


def test_values_and_tensor_kinds(harness: Lake) -> None:
    columns = ["id", "x", "flag", "vec", "tags"]
    (batches,) = epoch(harness, 1, 0, batch_size=64, columns=columns, list_sizes={"vec": 3})
    padded = TableDataset(
        "harness", lake=harness, batch_size=64, ragged="padded", drop_last=True, record_run=False
    )
    with pytest.raises(InputError, match=r"lists of \[3\] items, not all 4"):
        next(iter(TableDataset("harness", lake=harness, list_sizes={"vec": 4}, record_run=False)))
    for batch in batches:
        real = batch[MASK]
        ids = batch["id"][real]
        assert batch["id"].dtype == torch.int64
        assert batch["x"].dtype == torch.float32
        assert torch.equal(batch["x"][real], ids.float() * 0.5)
        assert torch.equal(batch["flag"][real], ids % 2 == 0)
        assert batch["vec"].shape == (64, 3)
        assert torch.equal(batch["vec"][real], torch.stack([ids, ids + 1, ids + 2], 1).float())
        assert not batch["x"][~real].any()
        assert not batch["vec"][~real].any()
        offsets, values = batch["tags_offsets"], batch["tags"]
        assert len(offsets) == 65
        for row, real_row in enumerate(real.tolist()):
            row_id = int(batch["id"][row])
            expected = [row_id] * (row_id % 4) if real_row else []
            assert values[offsets[row] : offsets[row + 1]].tolist() == expected
    assert sum(int(b[MASK].sum()) for b in batches) == ROWS
    for batch in padded:
        assert MASK not in batch
        assert len(batch["id"]) == 64
        assert batch["name"] == [f"n{i}" for i in batch["id"].tolist()]
        lengths = batch["tags_mask"].sum(1)
        assert torch.equal(lengths, batch["id"] % 4)
        assert torch.equal(batch["tags"].sum(1), batch["id"].int() * lengths.int())
    assert len(list(padded)) == ROWS // 64


def test_zero_copy_from_arrow() -> None:
    values = pa.array(np.arange(10, dtype=np.float32))
    view = _dense("x", values.slice(2, 5))
    assert view.data_ptr() == values.buffers()[1].address + 2 * 4  # Arrow's memory, no copy
    assert view.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    grid = pa.FixedSizeListArray.from_arrays(values, 2).slice(1, 3)
    assert _dense("g", grid).data_ptr() == values.buffers()[1].address + 2 * 4
    with_null = pa.array([1, None, 3], pa.int32())
    with pytest.raises(InputError, match="1 null"):
        _dense("n", with_null)
    with pytest.raises(InputError, match=r"column 'f' has 1 null.*fill=\{'f': 0.0\}"):
        _dense("f", pa.array([1.0, None]))  # never a silent NaN


@pytest.mark.parametrize(
    ("first", "second"), [((2, 0), (2, 0)), ((2, 3), (3, 1)), ((3, 0), (8, 3))]
)
def test_resume_after_k_batches(
    harness: Lake, first: tuple[int, int], second: tuple[int, int]
) -> None:
    options = {"batch_size": 8, "shuffle": True, "seed": 3, "shuffle_buffer": 24}
    world, workers = first
    k = 5
    delivered, states, tails = [], [], []
    for rank in range(world):
        dataset = TableDataset(
            "harness", lake=harness, rank=rank, world_size=world, record_run=False, **options
        )
        uninterrupted = [real_ids(b) for b in TableLoader(dataset, num_workers=workers)]
        dataset.set_epoch(0)
        loader = TableLoader(dataset, num_workers=workers)
        got = list(itertools.islice(loader, k))
        delivered += [i for b in got for i in real_ids(b)]
        states.append(loader.state_dict())
        tails.append(uninterrupted[k:])
    world, workers = second
    rest = []
    for rank in range(world):
        dataset = TableDataset(
            "harness", lake=harness, rank=rank, world_size=world, record_run=False, **options
        )
        dataset.load_state_dict(states[0])  # rank 0's checkpoint, as a DDP job saves it
        again = [real_ids(b) for b in TableLoader(dataset, num_workers=workers)]
        if second == first:
            assert again == tails[rank]  # exact continuation
        rest += [i for b in again for i in b]
        assert dataset.epoch == 1
        assert dataset.state_dict()["legs"] == []
    assert len(delivered) > 0
    assert not set(delivered) & set(rest)
    assert sorted(delivered + rest) == list(range(ROWS))


def test_an_unused_topology_leaves_no_trace(harness: Lake) -> None:
    dataset = TableDataset("harness", lake=harness, batch_size=10, record_run=False)
    first = [real_ids(b) for b in itertools.islice(dataset, 4)]
    dataset._begin(2)  # what TableLoader(num_workers=2) does first; then nothing delivered
    rest = [real_ids(b) for b in dataset]  # back in-process: continues the first leg exactly
    assert len(dataset.state_dict()["legs"]) == 0
    whole = [
        real_ids(b) for b in TableDataset("harness", lake=harness, batch_size=10, record_run=False)
    ]
    assert first + rest == whole


def test_state_dict_round_trips_and_is_checked(harness: Lake) -> None:
    dataset = TableDataset("harness", lake=harness, batch_size=10, seed=1, record_run=False)
    batches = iter(dataset)
    next(batches)
    state = dataset.state_dict()
    assert state["legs"] == [[1, 1, 10, 65_540, False, False, 1]]
    other = TableDataset("harness", lake=harness, batch_size=10, seed=2, record_run=False)
    with pytest.raises(LoaderStateError, match="seed 1"):
        other.load_state_dict(state)
    narrower = TableDataset("harness", lake=harness, columns=["id"], seed=1, record_run=False)
    with pytest.raises(LoaderStateError, match="another plan"):
        narrower.load_state_dict(state)


def test_filters_prune_files_and_row_groups(harness: Lake) -> None:
    everything = TableDataset("harness", lake=harness, record_run=False).plan
    day = TableDataset(
        "harness", lake=harness, filter=[("day", "=", "2026-11-02")], record_run=False
    )
    assert len(day.plan.units) < len(everything.units)  # by partition value, before reading
    ids = [i for b in day for i in real_ids(b)]
    assert sorted(ids) == [i for i in range(ROWS) if i % 3 == 1]
    stats = TableDataset(
        "harness",
        lake=harness,
        filter=(pc.field("id") >= 250) & (pc.field("id") < 260),
        batch_size=4,
        record_run=False,
    )
    assert stats.plan.rows == 10
    assert len(stats.plan.units) <= 3
    assert sorted(i for b in stats for i in real_ids(b)) == list(range(250, 260))
    either = [[("id", "<", 3)], [("id", "in", [400, 401])]]
    assert sorted(
        i
        for b in iter_batches("harness", lake=harness, filter=either, record_run=False)
        for i in b["id"][b[MASK]].tolist()
    ) == [0, 1, 2, 400, 401]


def test_pinned_versions(harness: Lake) -> None:
    catalog = Catalog(harness)
    catalog.set_tag("first", "harness", 0)
    catalog.create_release("r1", {"harness": 1})
    assert TableDataset("harness", lake=harness, tag="first", record_run=False).plan.rows == 100
    assert TableDataset("harness", lake=harness, release="r1", record_run=False).plan.version == 1
    assert TableDataset("harness", lake=harness, version=2, record_run=False).plan.rows == 190
    uri = harness.table_uri("harness")
    assert TableDataset(uri, version="0", record_run=False).plan.rows == 100
    with pytest.raises(InputError, match="one of version, tag or release"):
        TableDataset("harness", lake=harness, tag="first", version=1)


def test_a_version_whose_files_were_vacuumed_is_refused_naming_them(local_lake: Lake) -> None:
    """Issue #13 (item 9): the loader over a vacuumed version raised a raw FileNotFoundError
    from a Parquet footer; it names the version and its missing files, like read_dataset."""
    catalog = Catalog(local_lake)
    write(catalog, "gone", rows(np.arange(10)))
    write(catalog, "gone", rows(np.arange(10, 20)), mode="overwrite")
    vacuum(catalog, "gone", retention_hours=0)
    with pytest.raises(MissingFilesError, match=r"gone version 0: 1 of its 1 file\(s\) are gone"):
        TableDataset("gone", lake=local_lake, version=0, record_run=False)
    assert TableDataset("gone", lake=local_lake, record_run=False).plan.rows == 10


def test_pii_is_refused_unless_allowed_and_runs_are_recorded(harness: Lake) -> None:
    catalog = Catalog(harness)
    found = [
        Classification("harness", "name", "person_name", 0.9, "person_name", 10, 9),
        Classification("harness", "x", NOT_PII, 1.0, "", 10, 0),
    ]
    catalog.pii.record(found, user="scanner")
    with pytest.raises(PiiRefusedError, match=r"name .*allow_pii=\['name'\]"):
        TableDataset("harness", lake=harness)
    with pytest.raises(PiiRefusedError, match="name"):  # reading it through a filter leaks too
        TableDataset("harness", lake=harness, columns=["id"], filter=[("name", "=", "n1")])
    ok = TableDataset("harness", lake=harness, columns=["id", "x"], run_id="run-1")
    allowed = TableDataset("harness", lake=harness, allow_pii=["name"], run_id="run-2")
    catalog.pii.review("harness", "name", user="reviewer", reject=True)
    third = TableDataset("harness", lake=harness, run_id="run-3")  # a person said it is not PII
    assert catalog.events("harness", kinds=[TRAINING_RUN]) == []  # recorded when reading starts
    for dataset in (ok, allowed, third):
        next(iter(dataset))
    runs = catalog.events("harness", kinds=[TRAINING_RUN])
    assert [r.details["run_id"] for r in runs] == ["run-1", "run-2", "run-3"]
    assert runs[0].version == ok.plan.version == 7  # the latest: 8 commits
    assert runs[0].details["fingerprint"] == ok.plan.fingerprint
    assert runs[1].details["fingerprint"] == allowed.plan.fingerprint != ok.plan.fingerprint


def test_pii_refusal_names_class_and_ways_out_and_spares_transformed_columns(
    harness: Lake,
) -> None:
    catalog = Catalog(harness)
    catalog.pii.record(
        [
            Classification("harness", "name", "person_name", 0.9, "person_name", 10, 9),
            Classification("harness", "x", "payment_card", 1.0, "payment_card", 10, 10, "hash"),
            Classification("harness", "flag", "payment_card", 1.0, "payment_card", 10, 10, "mask"),
            Classification("harness", "tags", "ipv4", 1.0, "ipv4", 10, 10, "generalize"),
            Classification("harness", "vec", "email", 1.0, "email", 10, 10, "drop"),
            Classification("harness", "id", "us_ssn", 0.8, "us_ssn", 10, 8, "allow"),
        ],
        user="ingest",
    )
    catalog.pii.review("harness", "day", user="reviewer", confirm="date_of_birth")
    with pytest.raises(PiiRefusedError) as refused:
        TableDataset("harness", lake=harness, record_run=False)
    message = str(refused.value)
    assert message.startswith(
        "harness: column(s) day (date_of_birth, confirmed), id (us_ssn, detected), "
        "name (person_name, detected) hold personal data in clear; "
        "leave them out of columns and filter, or pass allow_pii=['day', 'id', 'name']"
    )
    assert "thermocline pii review harness.day --reject" in message
    assert refused.value.fix == (
        "leave day, id, name out of columns and filter, or pass allow_pii=['day', 'id', 'name']"
    )
    # Hashed, masked, generalized and dropped columns are not PII in clear.
    transformed = ["x", "flag", "tags", "vec"]
    assert TableDataset("harness", lake=harness, columns=transformed, record_run=False).plan
    with pytest.raises(PiiRefusedError, match=r"column\(s\) day \(date_of_birth, confirmed\) "):
        TableDataset("harness", lake=harness, columns=["x"], filter=[("day", "=", "2026-11-01")])
    allowed = TableDataset(
        "harness", lake=harness, allow_pii=["day", "id", "name"], record_run=False
    )
    assert set(allowed.plan.columns) >= {"day", "id", "name"}
    with pytest.raises(PiiRefusedError, match=r"column\(s\) name \(person_name, detected\) "):
        TableDataset("harness", lake=harness, allow_pii=["day", "id"], record_run=False)


def test_clear_errors(harness: Lake) -> None:
    with pytest.raises(InputError, match=r"no column.*nope"):
        TableDataset("harness", lake=harness, columns=["id", "nope"], record_run=False)
    with pytest.raises(InputError, match="not a string"):
        TableDataset("harness", lake=harness, filter="id > 3", record_run=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="does not fit"):
        TableDataset("harness", lake=harness, filter=[("zz", ">", 1)], record_run=False)
    with pytest.raises(InputError, match="rank 2 is outside world size 2"):
        TableDataset("harness", lake=harness, rank=2, world_size=2, record_run=False)


DDP_RANK = """
import json, os, sys
import torch.distributed as dist
import thermocline.datasets.training.dataset as training
from thermocline.catalog.lake import Lake
from thermocline.datasets.training import MASK, TableDataset

plans = []
make_plan = training.make_plan
training.make_plan = lambda *a, **k: plans.append(1) or make_plan(*a, **k)
dist.init_process_group("gloo")
dataset = TableDataset("harness", lake=Lake.open(sys.argv[1]), batch_size=16, shuffle=True)
batches = list(dataset)
ids = [i for b in batches for i in b["id"][b[MASK]].tolist()]
print(json.dumps({"plans": len(plans), "batches": len(batches), "ids": ids,
                  "fingerprint": dataset.plan.fingerprint, "world": dataset.world_size,
                  "run": dataset.run_id}))
dist.destroy_process_group()
"""


def test_ddp_rank_zero_plans_and_broadcasts(harness: Lake) -> None:
    """Two real processes in a gloo process group, as torchrun starts them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", DDP_RANK, harness.uri],
            env={
                **os.environ,
                "RANK": str(rank),
                "WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    results = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0]
    assert [r["plans"] for r in results] == [1, 0]  # one log read per job
    assert [r["world"] for r in results] == [2, 2]
    assert results[0]["fingerprint"] == results[1]["fingerprint"]
    assert results[0]["batches"] == results[1]["batches"]
    assert sorted(results[0]["ids"] + results[1]["ids"]) == list(range(ROWS))
    assert len(Catalog(harness).events("harness", kinds=[TRAINING_RUN])) == 1
    [run] = Catalog(harness).runs.find("harness")  # rank 0 recorded it, for both ranks
    assert results[0]["run"] == results[1]["run"] == run.run_id  # a generated id, shared
    assert (run.world_size, run.seed, run.shuffle, run.batch_size) == (2, 0, True, 16)


def test_column_pruning_reads_proportionally_fewer_bytes(lake: Lake) -> None:
    rng = np.random.default_rng(0)
    wide = pa.table({f"c{i:02d}": rng.standard_normal(150_000) for i in range(20)})
    write(Catalog(lake), "wide", wide)

    def bytes_for(columns: list[str]) -> int:
        counting = CountingLake(lake.uri, lake.storage_options)
        dataset = TableDataset("wide", lake=counting, columns=columns, batch_size=50_000)
        got = sum(int(b[MASK].sum()) for b in dataset)
        assert got == 150_000
        return counting.bytes_read

    two, twenty = bytes_for(["c03", "c17"]), bytes_for(wide.column_names)
    assert twenty > 20 * 150_000 * 8 * 0.9  # the whole table was read once
    print(f"bytes read: 2 columns {two:,}, 20 columns {twenty:,} ({two / twenty:.1%})")
    assert two <= 0.15 * twenty, (two, twenty)


def same_batches(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal batches: the same keys in the same order, values and dtypes."""
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine) == list(theirs)
        for key, value in mine.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == theirs[key].dtype, key
                assert torch.equal(value, theirs[key]), key
            else:
                assert value == theirs[key], key


CACHED_READS: dict[str, dict[str, Any]] = {
    "all columns": {},
    "projected, list column": {"columns": ["tags", "id", "x"]},
    "filter on a column not read": {"columns": ["id", "name"], "filter": [("x", ">", 100.0)]},
    "partition filter, shuffled": {
        "columns": ["id", "vec"],
        "filter": [("day", "=", "2026-11-02")],
        "shuffle": True,
    },
}


@pytest.mark.parametrize("options", CACHED_READS.values(), ids=list(CACHED_READS))
def test_cached_batches_equal_uncached_ones_and_epoch_two_reads_no_data_file(
    lake: Lake, tmp_path: Path, options: dict[str, Any]
) -> None:
    make_table(lake)
    common = {"batch_size": 32, "record_run": False, **options}
    plain = TableDataset("harness", lake=lake, **common)
    expected = [list(plain), list(plain)]  # epochs 1 and 2 (a shuffled order differs)
    counting = CountingLake(lake.uri, lake.storage_options)
    cached = TableDataset("harness", lake=counting, cache_dir=tmp_path / "cache", **common)
    planned = len(counting.opened)
    first = list(cached)
    filled = len(counting.opened)
    second = list(cached)
    same_batches(first, expected[0])
    same_batches(second, expected[1])
    assert any(p.endswith(".parquet") for p in counting.opened[planned:filled])
    assert counting.opened[filled:] == [], "the second epoch read the cache alone"
    assert cached.cache is not None
    assert cached.cache.size() > 0


def test_one_cached_row_group_serves_any_filter_on_its_columns(lake: Lake, tmp_path: Path) -> None:
    make_table(lake)
    folder = tmp_path / "cache"
    common: dict[str, Any] = {"batch_size": 64, "record_run": False, "cache_dir": folder}
    warm = TableDataset("harness", lake=lake, columns=["id", "x"], **common)
    assert sorted(i for b in warm for i in real_ids(b)) == list(range(ROWS))
    entries = sorted(folder.iterdir())
    counting = CountingLake(lake.uri, lake.storage_options)
    narrow = [("x", "<", 50.0)]
    filtered = TableDataset("harness", lake=counting, columns=["id"], filter=narrow, **common)
    planned = len(counting.opened)
    assert sorted(i for b in filtered for i in real_ids(b)) == list(range(100))
    assert counting.opened[planned:] == []
    assert sorted(folder.iterdir()) == entries


def test_the_cache_bound_holds_and_larger_row_groups_are_read_from_the_lake(
    lake: Lake, tmp_path: Path
) -> None:
    make_table(lake)
    held = {}
    for bound in (100, 6_000):  # bytes: no row group fits, a few do
        dataset = TableDataset(
            "harness",
            lake=lake,
            batch_size=32,
            cache_dir=tmp_path / str(bound),
            cache_bytes=bound,
            record_run=False,
        )
        for _ in range(2):
            assert sorted(i for b in dataset for i in real_ids(b)) == list(range(ROWS))
            assert dataset.cache is not None
            held[bound] = dataset.cache.size()
            assert held[bound] <= bound
    assert held[100] == 0 < held[6_000]


@pytest.mark.s3
def test_s3_lake_with_worker_processes(s3_lake: Lake) -> None:
    make_table(s3_lake)
    per_rank = epoch(s3_lake, 2, 2, batch_size=16, shuffle=True)
    assert len(per_rank[0]) == len(per_rank[1])
    ids = [i for batches in per_rank for b in batches for i in real_ids(b)]
    assert sorted(ids) == list(range(ROWS))


def test_a_negative_or_fractional_seed_is_refused_when_built(harness: Lake) -> None:
    for seed in (-1, 1.5, "7"):
        with pytest.raises(
            InputError, match=f"seed must be a whole number 0 or more, not {seed!r}"
        ):
            TableDataset("harness", lake=harness, seed=seed, record_run=False)  # type: ignore[arg-type]
    assert TableDataset("harness", lake=harness, seed=np.int64(3), record_run=False).seed == 3


@pytest.fixture
def with_nulls(local_lake: Lake) -> Lake:
    """ids 0..9; ``x`` (float32) and ``n`` (int64) are null where id % 3 == 0."""
    ids = np.arange(10)
    present = ids % 3 != 0
    table = pa.table(
        {
            "id": ids,
            "x": pa.array(ids * 0.5, pa.float32(), mask=~present),
            "n": pa.array(ids * 10, pa.int64(), mask=~present),
        }
    )
    write(Catalog(local_lake), "nulls", table)
    return local_lake


def test_nulls_in_a_float_column_are_refused_naming_it(with_nulls: Lake) -> None:
    dataset = TableDataset("nulls", lake=with_nulls, columns=["id", "x"], record_run=False)
    with pytest.raises(InputError, match=r"column 'x' has \d+ null.*fill=.*null_masks="):
        list(dataset)


def test_nulls_filled_as_the_caller_says(with_nulls: Lake) -> None:
    dataset = TableDataset(
        "nulls", lake=with_nulls, batch_size=4, fill={"x": -1.0, "n": 0}, record_run=False
    )
    batches = list(dataset)
    ids = torch.cat([b["id"][b[MASK]] for b in batches])
    x = torch.cat([b["x"][b[MASK]] for b in batches])
    n = torch.cat([b["n"][b[MASK]] for b in batches])
    nulls = ids % 3 == 0
    assert torch.equal(x[nulls], torch.full((int(nulls.sum()),), -1.0))
    assert torch.equal(x[~nulls], ids[~nulls].float() * 0.5)
    assert torch.equal(n, torch.where(nulls, 0, ids * 10))
    assert x.dtype == torch.float32
    assert sorted(ids.tolist()) == list(range(10))


def test_null_masks_mark_real_values_in_every_batch(with_nulls: Lake) -> None:
    dataset = TableDataset(
        "nulls", lake=with_nulls, batch_size=4, null_masks=True, record_run=False
    )
    batches = list(dataset)
    assert all({"x_mask", "n_mask", "id_mask"} <= set(b) for b in batches), "same keys each batch"
    for batch in batches:
        real, ids = batch[MASK], batch["id"]
        assert torch.equal(batch["x_mask"], real & (ids % 3 != 0))
        assert torch.equal(batch["id_mask"], real)
        assert not batch["x"][~batch["x_mask"]].any(), "no NaN: nulls and padding are 0"
        assert torch.equal(batch["n"][batch["n_mask"]], ids[batch["n_mask"]] * 10)
    only_x = TableDataset(
        "nulls", lake=with_nulls, null_masks=["x"], fill={"n": 0}, record_run=False
    )
    assert {k for b in only_x for k in b if k.endswith("_mask")} - {MASK} == {"x_mask"}


def test_fill_and_null_masks_are_checked_when_built(with_nulls: Lake) -> None:
    def build(**options: Any) -> TableDataset:
        return TableDataset("nulls", lake=with_nulls, record_run=False, **options)

    with pytest.raises(InputError, match="fill names 'y', which is not a column read here"):
        build(fill={"y": 0.0})
    with pytest.raises(InputError, match="null_masks names 'y', which is not a column read here"):
        build(null_masks=["y"])
    with pytest.raises(InputError, match=r"fill value 0.5 does not fit column 'n' \(int64\)"):
        build(fill={"n": 0.5})
    with pytest.raises(InputError, match="'x' is in both fill and null_masks"):
        build(fill={"x": 0.0}, null_masks=["x"])
