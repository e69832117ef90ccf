"""Warm compaction in ``tier apply`` on a local lake: the partitions of a table partitioned by
one date column are compacted in one ``optimize.compact`` (delta-rs works on them in parallel),
each reported with its own counts; with more partition columns, one call per partition. The
rows stay the same either way."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import TieringPolicy, TieringSettings
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.tier_apply import Compacted, apply_tiers
from thermocline.datasets.tables.versions import history, read_dataset
from thermocline.datasets.tables.writes import write

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = TieringPolicy(warm_after_days=30, cold_after_days=None)
DAYS = (date(2026, 1, 1), date(2026, 1, 2))


def batch(first: int, city: str) -> pa.Table:
    """One row per day of 50 KB of random bytes (three of them pass the 128 KB minimum)."""
    rng = np.random.default_rng(first)
    return pa.table(
        {
            "id": pa.array(range(first, first + len(DAYS)), pa.int64()),
            "day": pa.array(DAYS, pa.date32()),
            "city": [city] * len(DAYS),
            "payload": pa.array([rng.bytes(50_000) for _ in DAYS], pa.binary()),
        }
    )


def ids(catalog: Catalog, name: str) -> list[int]:
    return sorted(read_dataset(catalog, name).to_table(columns=["id"])["id"].to_pylist())


def test_date_partitions_are_compacted_in_one_commit_each_with_its_counts(
    local_lake: Lake,
) -> None:
    catalog = Catalog(local_lake)
    for n in range(3):
        write(catalog, "d", batch(10 * n, "oslo"), partition_by=["day"])  # versions 0..2

    result = apply_tiers(catalog, "d", POLICY, TieringSettings(), now=NOW)

    assert result.compacted == (
        Compacted("day=2026-01-01", 3, 1, 3),
        Compacted("day=2026-01-02", 3, 1, 3),
    )
    operations = [c.operation for c in history(local_lake, "d")]  # newest first
    assert operations == ["OPTIMIZE", "WRITE", "WRITE", "CREATE TABLE"], "one commit for both"
    assert ids(catalog, "d") == [0, 1, 10, 11, 20, 21]
    assert {m.target for m in result.plan.moves} == {"warm"}
    assert len(result.plan.moves) == 2, "the two compacted files move"


def test_with_two_partition_columns_each_partition_is_compacted_on_its_own(
    local_lake: Lake,
) -> None:
    catalog = Catalog(local_lake)
    for n in range(3):
        write(catalog, "d", batch(10 * n, "oslo"), partition_by=["day", "city"])

    result = apply_tiers(catalog, "d", POLICY, TieringSettings(), now=NOW)

    assert result.compacted == (
        Compacted("day=2026-01-01/city=oslo", 3, 1, 3),
        Compacted("day=2026-01-02/city=oslo", 3, 1, 4),
    )
    assert ids(catalog, "d") == [0, 1, 10, 11, 20, 21]
