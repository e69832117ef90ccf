"""Storage round trips, run on the local lake and on the S3 lake (the ``lake`` fixture)."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import DatasetNotFoundError, InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.datasets.tables.writes import write


def sample(start: int, rows: int) -> pa.Table:
    ids = pa.array(range(start, start + rows), pa.int64())
    return pa.table(
        {
            "id": ids,
            "day": pa.array([f"2026-11-0{1 + i % 3}" for i in range(rows)]),
            **{f"f{i}": pc.multiply(pc.cast(ids, pa.float64()), float(i)) for i in range(8)},
        }
    )


def test_write_then_read_back_with_projection(lake: Lake) -> None:
    assert (
        write(Catalog(lake), "events", sample(0, 1_000), partition_by=["day"], reason="first") == 0
    )
    assert write(Catalog(lake), "events", sample(1_000, 500), reason="second") == 1

    dataset = read_dataset(Catalog(lake), "events")
    table = dataset.to_table(columns=["id", "f3"])
    assert table.column_names == ["id", "f3"]
    assert sorted(table["id"].to_pylist()) == list(range(1_500))
    assert pc.all(
        pc.equal(table["f3"], pc.multiply(pc.cast(table["id"], pa.float64()), 3.0))
    ).as_py()

    # Partition pruning and time travel through the same native filesystem.
    one_day = dataset.to_table(columns=["id"], filter=pc.field("day") == "2026-11-02")
    expected = [i for i in range(1_000) if i % 3 == 1] + [
        1_000 + j for j in range(500) if j % 3 == 1
    ]
    assert sorted(one_day["id"].to_pylist()) == expected
    assert read_dataset(Catalog(lake), "events", at=0).count_rows() == 1_000


def test_history_records_who_and_why(lake: Lake) -> None:
    write(Catalog(lake), "events", sample(0, 10), reason="load a")
    write(Catalog(lake), "events", sample(10, 20))
    newest, oldest = history(lake, "events")
    assert (newest.version, newest.rows_added, newest.reason) == (1, 20, None)
    assert (oldest.version, oldest.rows_added, oldest.reason) == (0, 10, "load a")
    assert oldest.user
    assert oldest.operation == "CREATE TABLE"  # the first publish creates the table with data
    assert newest.operation == "WRITE"


def test_missing_dataset_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(DatasetNotFoundError, match="dataset 'nope' has no table"):
        open_table(lake, "nope")


def test_a_lake_where_a_catalog_belongs_is_a_clear_input_error(local_lake: Lake) -> None:
    write(Catalog(local_lake), "events", sample(0, 10))
    with pytest.raises(InputError, match=r"expected a Catalog, got Lake; pass Catalog\(lake\)"):
        read_dataset(local_lake, "events")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected a Catalog, got Lake"):
        write(local_lake, "events", sample(10, 10))  # type: ignore[arg-type]
    assert read_dataset(Catalog(local_lake), "events").count_rows() == 10, "nothing written"
