"""Log retention: after cleanup, tags and releases read identically and roll back; an unpinned
version past retention is refused with one line; history starts where the log does; the latest
version is untouched. On the local lake, log files are aged with os.utime (delta-rs's cleanup
goes by storage modification time); on S3 they cannot be, so the test waits for them to age
past a one-second retention."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pytest
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import HistoryPolicy
from thermocline.catalog.errors import ExpiredVersionError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.releases import create_release, release_rollback
from thermocline.datasets.tables.retention import RetentionResult, apply_retention
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.datasets.training.plans import make_plan

DATASET = "clicks"


def checksum(catalog: Catalog, at: int | str | None = None) -> str:
    rows = read_dataset(catalog, DATASET, at=at).to_table().to_pylist()
    text = json.dumps(sorted(rows, key=lambda r: (r["id"], r["day"])), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def publish(catalog: Catalog, batch: int, *, overwrite: bool = False) -> int:
    data = pa.table(
        {
            "id": pa.array(range(batch * 3, batch * 3 + 3), pa.int64()),
            "day": [f"2026-11-{1 + batch % 3:02d}"] * 3,
            "value": [float(batch)] * 3,
        }
    )
    mode = "overwrite" if overwrite else "append"
    return write(catalog, DATASET, data, mode=mode, partition_by=["day"])


def age_log(lake: Lake, below: int | None = None) -> None:
    """Make the log files (of versions below ``below``) an hour old, on a local lake."""
    if not lake.is_local:
        return
    log = Path(lake.uri) / DATASET / "_delta_log"
    old = time.time() - 3600
    for path in log.iterdir():
        version = path.name.split(".")[0]
        if version.isdigit() and (below is None or int(version) < below):
            os.utime(path, (old, old))


def trimmed(catalog: Catalog, lake: Lake, past: int) -> RetentionResult:
    """Apply a one-second retention until the log no longer reaches version ``past``."""
    age_log(lake)
    return wait_until(
        lambda: (r := apply_retention(catalog, DATASET, retention_s=1)).readable_from > past and r,
        timeout=60,
        what=f"log retention to pass version {past}",
        every=0.5,
    )


def test_pins_read_identically_and_roll_back_after_cleanup(lake: Lake) -> None:
    catalog = Catalog(lake)
    for batch in range(30):
        publish(catalog, batch, overwrite=batch in (10, 20))  # overwrites drop older files
    create_release(catalog, "r1", {DATASET: 12})  # records version 12's files now
    catalog.set_tag("golden", DATASET, 5)  # the catalog alone: retention records its files
    sums = {v: checksum(catalog, v) for v in (5, 7, 12)}
    latest, latest_sum = open_table(lake, DATASET).version(), checksum(catalog)
    assert len({sums[5], sums[12], latest_sum}) == 3, "the versions differ, so reads can tell"

    result = trimmed(catalog, lake, past=12)
    assert result.pinned_recorded == [5]
    assert result.pinned_past_retention == [5, 12]
    assert readable_from(lake, DATASET) == result.readable_from
    assert (
        not lake.table_filesystem(DATASET)
        .get_file_info("_delta_log/00000000000000000000.json")
        .is_file
    )
    assert checksum(catalog) == latest_sum, "the latest version reads as before"

    assert checksum(catalog, "golden") == sums[5]
    assert checksum(catalog, 5) == sums[5]
    assert checksum(catalog, 12) == sums[12]
    with pytest.raises(ExpiredVersionError) as refused:
        read_dataset(catalog, DATASET, at=7)
    message = str(refused.value)
    assert message == (
        f"cannot read {DATASET} version 7: log retention (1s, history.log_retention) removed "
        f"it; the oldest readable version is {result.readable_from}; tag or release a version "
        "to keep it readable past retention"
    )
    with pytest.raises(ExpiredVersionError):
        rollback(catalog, DATASET, to=7)

    plan = make_plan(lake, DATASET, 5, columns=["id", "day"])  # the loader's plan
    assert sum(unit.rows for unit in plan.units) == read_dataset(catalog, DATASET, 5).count_rows()
    with pytest.raises(ExpiredVersionError):
        make_plan(lake, DATASET, 7)

    swept = vacuum(catalog, DATASET, retention_hours=0)
    assert swept.removed, "the unpinned old versions' files go"
    assert checksum(catalog, "golden") == sums[5], "vacuum keeps a pin's recorded files"
    assert checksum(catalog, 12) == sums[12]
    assert checksum(catalog) == latest_sum

    back = rollback(catalog, DATASET, to="golden", reason="bad load")
    assert (back.target_version, back.from_version) == (5, result.checkpoint_version)
    assert back.new_version == result.checkpoint_version + 1
    assert checksum(catalog) == sums[5]
    assert rollback(catalog, DATASET, to=12).new_version == back.new_version + 1
    assert checksum(catalog) == sums[12]
    again = rollback(catalog, DATASET, to=result.checkpoint_version)  # a plain restore
    assert checksum(catalog) == latest_sum
    assert again.target_version > latest
    release_rollback(catalog, "r1")
    assert checksum(catalog) == sums[12]


def test_history_starts_where_the_log_does_with_writer_checkpoints(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    publish(catalog, 0)
    # checkpoint_interval does something: writers leave a checkpoint every 10 commits
    apply_retention(catalog, DATASET, retention_s=600, checkpoint_interval=10)
    for batch in range(1, 36):
        publish(catalog, batch)
    log = Path(local_lake.uri) / DATASET / "_delta_log"
    checkpoints = sorted(int(p.name[:20]) for p in log.glob("*.checkpoint.parquet"))
    assert len(checkpoints) >= 4, f"a checkpoint every 10 commits, not {checkpoints}"
    age_log(local_lake, below=25)  # versions 0..24 (and their checkpoints) are old
    result = apply_retention(catalog, DATASET, retention_s=600, checkpoint_interval=10)
    # delta-rs keeps the newest checkpoint at or before the oldest young version (25), so
    # every version within the retention stays readable
    oldest = max(c for c in checkpoints if c <= 25)
    assert 0 < oldest < 25
    assert result.readable_from == oldest, "the checkpoint the retention kept"
    assert result.pinned_recorded == []
    versions = [c.version for c in history(local_lake, DATASET)]
    assert min(versions) == oldest
    assert (
        read_dataset(catalog, DATASET, at=oldest).count_rows() == 3 * oldest
    )  # batch 0, the properties commit, batches 1..oldest-1
    with pytest.raises(ExpiredVersionError, match=f"the oldest readable version is {oldest}"):
        read_dataset(catalog, DATASET, at=oldest - 1)


def test_default_retention_by_source_kind() -> None:
    assert HistoryPolicy().retention_seconds("kafka") == 900
    assert HistoryPolicy().retention_seconds("files") == 30 * 86400
    assert HistoryPolicy(log_retention="2h").retention_seconds("kafka") == 7200
    with pytest.raises(ValueError, match="not a duration"):
        HistoryPolicy(log_retention="soon")
