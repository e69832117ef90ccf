"""``tier apply`` and ``tier restore`` on a local lake (logical tiers): compaction on the way
out of hot, the inventory, resuming an interrupted run, restoring an archived version.

The classes on real S3 (RGW) and a SIGKILL mid-apply are in test_tiering_s3.py.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import TieringPolicy, TieringSettings
from thermocline.catalog.errors import ArchivedFilesError, InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.faults import FAULT_ENV, InjectedFaultError
from thermocline.datasets.tables.maintenance import compact
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.tier_apply import apply_tiers, restore_version
from thermocline.datasets.tables.tier_moves import move_files
from thermocline.datasets.tables.tier_plan import MIN_BILLED_BYTES
from thermocline.datasets.tables.versions import (
    history,
    live_files,
    open_table,
    read_dataset,
    require_not_archived,
    stored_files,
)
from thermocline.datasets.tables.writes import write

NOW = datetime(2026, 12, 3, tzinfo=UTC)
OLD, WARM, YOUNG = "2026-03-01", "2026-10-01", "2026-12-01"
POLICY = TieringPolicy(
    warm_after_days=30, cold_after_days=180, archive_after_days=300, zstd_level=12
)
SETTINGS = TieringSettings()


def rows(day: str, n: int = 80) -> pa.Table:
    """``n`` rows of ~2 KB random payload in partition ``day`` (each file over 128 KB)."""
    return pa.table(
        {
            "day": [day] * n,
            "payload": pa.array([os.urandom(2000) for _ in range(n)], pa.binary()),
        }
    )


@pytest.fixture
def catalog(local_lake: Lake) -> Catalog:
    """Versions 0-5: two appends to each of an old, a warm and a young day; tag ``golden`` at 3."""
    catalog = Catalog(local_lake)
    for _ in range(2):
        for day in (OLD, WARM, YOUNG):
            write(catalog, "ev", rows(day), partition_by=["day"])
    catalog.set_tag("golden", "ev", 3)
    return catalog


def checksum(catalog: Catalog, at: int | None = None) -> list[bytes]:
    return sorted(read_dataset(catalog, "ev", at).to_table()["payload"].to_pylist())


def test_apply_compacts_what_leaves_hot_then_records_every_file_in_its_tier(
    catalog: Catalog,
) -> None:
    before = {v: checksum(catalog, v) for v in range(6)}
    result = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    assert sorted((c.partition, c.files_removed, c.files_added) for c in result.compacted) == [
        (f"day={OLD}", 2, 1),
        (f"day={WARM}", 2, 1),
    ]
    # one optimize compacts both days of the one-column partitioning (side by side)
    assert [c.operation for c in history(catalog.lake, "ev", limit=2)] == ["OPTIMIZE", "WRITE"]
    assert {c.version for c in result.compacted} == {open_table(catalog.lake, "ev").version()}
    latest = {a["path"]: a for a in live_files(open_table(catalog.lake, "ev"))}
    placed = catalog.tiers.placements("ev")
    by_day = {path.split("/")[0]: placed[path].tier for path in latest if path in placed}
    assert by_day == {f"day={OLD}": "cold", f"day={WARM}": "warm"}
    assert all(placed[p].storage_class == SETTINGS.storage_classes[placed[p].tier] for p in placed)
    # Warm recompression writes the policy's zstd level: the compacted files are zstd.
    compacted = next(p for p in latest if p.startswith(f"day={WARM}/") and p in placed)
    meta = pq.read_metadata(catalog.lake.table_filesystem("ev").open_input_file(compacted))
    assert meta.row_group(0).column(0).compression == "ZSTD"
    # golden's old-day files left the latest version but are younger than archive_after_days
    # at NOW, so they follow their age (cold), not archive; nothing reads differently.
    assert {v: checksum(catalog, v) for v in range(6)} == before
    [event] = catalog.events("ev", kinds=["tier"])
    assert event.details["run_id"] == result.run_id
    again = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    assert (again.moved, again.compacted, again.resumed) == (0, (), 0)


def test_a_dry_run_changes_nothing(catalog: Catalog) -> None:
    versions = open_table(catalog.lake, "ev").version()
    result = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW, dry_run=True)
    assert result.dry_run
    assert result.plan.moves
    assert result.plan.compactions
    assert open_table(catalog.lake, "ev").version() == versions
    assert catalog.tiers.placements("ev") == {}


def test_an_interrupted_apply_is_finished_by_the_next_run_and_archive_intents_block_reads(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moves whose intent was recorded and whose done row was not are redone first; while an
    archive intent is pending, readers already refuse the file."""
    later = NOW + timedelta(days=400)  # golden's old-day files are now past archive_after_days
    apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    monkeypatch.setenv(FAULT_ENV, "tier-apply:after-intent:1=raise")
    with pytest.raises(InjectedFaultError):
        apply_tiers(catalog, "ev", POLICY, SETTINGS, now=later)
    monkeypatch.delenv(FAULT_ENV)
    pending = [p for p in catalog.tiers.placements("ev").values() if p.pending is not None]
    assert any(p.pending == "archive" for p in pending)
    assert all(p.tier != p.pending for p in pending)
    with pytest.raises(ArchivedFilesError, match=r"tier restore ev@3"):
        require_not_archived(catalog, "ev", 3, via="tag golden")
    rerun = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=later)
    assert rerun.resumed == len(pending)
    # Besides: golden's young-day files, which the interrupted run's compaction dropped from
    # the latest version and so left where they were, now go to archive.
    assert {(m.path.split("/")[0], m.target) for m in rerun.plan.moves} == {
        (f"day={YOUNG}", "archive")
    }
    placed = catalog.tiers.placements("ev")
    assert all(p.pending is None for p in placed.values())
    assert {p.path: p.pending for p in pending} == {p.path: placed[p.path].tier for p in pending}


def test_restore_makes_an_archived_version_readable_and_keeps_it_out_of_archive(
    catalog: Catalog,
) -> None:
    later = NOW + timedelta(days=400)
    expected = checksum(catalog, 3)
    apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    apply_tiers(catalog, "ev", POLICY, SETTINGS, now=later)
    archived = catalog.tiers.archived("ev")
    assert any(p.startswith(f"day={OLD}/") for p in archived)
    with pytest.raises(ArchivedFilesError):
        require_not_archived(catalog, "ev", 3)
    restored = restore_version(catalog, "ev", 3, POLICY, SETTINGS, now=later)
    assert (restored.tier, sorted(restored.restored)) == ("cold", archived)
    assert catalog.tiers.archived("ev") == []
    require_not_archived(catalog, "ev", 3)
    assert checksum(catalog, 3) == expected
    # Cold's 90-day minimum keeps the restored files readable: the next run does not re-archive.
    held = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=later + timedelta(days=1))
    assert not {m.path for m in held.plan.moves} & set(archived)
    assert {h.path for h in held.plan.held if h.wanted == "archive"} == set(archived)


def test_small_files_and_bad_batch_sizes(catalog: Catalog) -> None:
    """A partition whose files together stay under 128 KB is neither compacted nor moved."""
    tiny = Catalog(Lake.open(str(catalog.lake.uri) + "-tiny"))
    write(tiny, "ev", rows(OLD, 2), partition_by=["day"])
    write(tiny, "ev", rows(OLD, 2), partition_by=["day"])
    result = apply_tiers(tiny, "ev", POLICY, SETTINGS, now=NOW)
    assert (result.moved, result.compacted) == (0, ())
    assert all("128 KB" in h.reason for h in result.plan.held)
    assert sum(h.size_bytes for h in result.plan.held) < MIN_BILLED_BYTES
    with pytest.raises(InputError, match="batch_size"):
        apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW, batch_size=0)


def test_partition_values_that_need_escaping_are_compacted_moved_and_read_back(
    local_lake: Lake,
) -> None:
    """The log percent-encodes a partition folder that storage already escapes (a timestamp's
    space and colons, a slash in a string): plans, the inventory and the moves use the stored
    name, compaction selects the partition by its value, and older versions still read."""
    catalog = Catalog(local_lake)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(2):
        table = rows("unused").drop_columns(["day"])
        table = table.append_column(
            "ts", pa.array([when] * table.num_rows, pa.timestamp("us", "UTC"))
        )
        table = table.append_column("zone", pa.array(["a b:c/d"] * table.num_rows))
        write(catalog, "esc", table, partition_by=["ts", "zone"])
    before = sorted(read_dataset(catalog, "esc", 0).to_table()["payload"].to_pylist())
    result = apply_tiers(catalog, "esc", POLICY, SETTINGS, now=NOW)
    [compacted] = result.compacted
    assert compacted.error is None
    assert (compacted.files_removed, compacted.files_added) == (2, 1)
    stored = stored_files(local_lake, "esc")
    placed = catalog.tiers.placements("esc")
    assert placed
    assert set(placed) <= stored, "the inventory names files as storage holds them"
    assert {p.tier for p in placed.values()} == {"cold"}
    assert sorted(read_dataset(catalog, "esc", 0).to_table()["payload"].to_pylist()) == before


def test_files_whose_compaction_lost_a_race_stay_hot_until_a_run_compacts_them(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each small file passes the 128 KB minimum only with its partition's others: moved alone
    it would be billed at the minimum and never compacted, so it waits in hot."""
    catalog = Catalog(local_lake)
    for _ in range(2):
        write(catalog, "ev", rows(WARM, 40), partition_by=["day"])  # ~80 KB a file
    monkeypatch.setenv(FAULT_ENV, "tier-apply:compact=raise")
    skipped = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    [compacted] = skipped.compacted
    assert compacted.version is None
    assert compacted.error is not None
    assert "retried next run" in compacted.error
    assert (skipped.moved, catalog.tiers.placements("ev")) == (0, {})
    monkeypatch.delenv(FAULT_ENV)
    done = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    assert done.compacted[0].files_removed == 2
    assert [m.target for m in done.plan.moves] == ["warm"]


def test_a_version_tagged_today_is_not_archived_by_the_run_whose_compaction_dropped_its_files(
    local_lake: Lake,
) -> None:
    """The compaction makes the tagged files archive-only; the plan made after it must not
    send them to a class that takes hours to restore in the same run."""
    catalog = Catalog(local_lake)
    for _ in range(3):
        write(catalog, "ev", rows("2024-01-01"), partition_by=["day"])
    catalog.set_tag("train-set", "ev", 2)
    expected = checksum(catalog, "train-set")
    result = apply_tiers(catalog, "ev", TieringPolicy(), SETTINGS, now=NOW)
    assert result.compacted[0].files_removed == 3
    assert [m.target for m in result.plan.moves] == ["cold"]
    assert catalog.tiers.archived("ev") == []
    assert checksum(catalog, "train-set") == expected


def test_an_archive_move_of_a_file_a_rollback_made_latest_again_is_not_made(
    catalog: Catalog,
) -> None:
    """The plan was made before a rollback to golden: by the time the moves' intents are in,
    the latest version reads the files again, so they are not archived."""
    later = NOW + timedelta(days=400)
    apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    stale = apply_tiers(catalog, "ev", POLICY, SETTINGS, now=later, dry_run=True).plan
    archiving = {m.path for m in stale.moves if m.target == "archive"}
    assert archiving
    rollback(catalog, "ev", "golden")
    move_files(catalog, "ev", stale.moves, SETTINGS, now=later)
    assert catalog.tiers.archived("ev") == []
    placed = catalog.tiers.placements("ev")
    assert all(placed[p].tier != "archive" and placed[p].pending is None for p in archiving)
    assert checksum(catalog) == checksum(catalog, 3)


def test_nightly_compaction_leaves_partitions_tiering_moved_out_of_hot(local_lake: Lake) -> None:
    """A backfill lands a small file in a warm partition: the nightly compaction must not
    rewrite the warm file with it (retrieval and early-deletion charges); hot partitions are
    compacted as before."""
    catalog = Catalog(local_lake)
    for _ in range(2):
        write(catalog, "ev", rows(WARM), partition_by=["day"])
    apply_tiers(catalog, "ev", POLICY, SETTINGS, now=NOW)
    [warm_file] = [
        p for p, placed in catalog.tiers.placements("ev").items() if placed.tier == "warm"
    ]
    for day in (WARM, YOUNG, YOUNG):
        write(catalog, "ev", rows(day, 2), partition_by=["day"])
    result = compact(catalog, "ev")
    assert (result.files_removed, result.files_added) == (2, 1), "only the young day's two files"
    latest = {a["path"] for a in live_files(open_table(local_lake, "ev"))}
    assert warm_file in latest
    assert sum(p.startswith(f"day={WARM}/") for p in latest) == 2


def test_warm_compaction_recompresses_at_the_policy_zstd_level(tmp_path: Path) -> None:
    """The same two files compacted at zstd level 1 and at 19: the stronger level writes a
    smaller file (the files are written at the default level 3)."""
    rng = np.random.default_rng(7)
    words = np.array([f"w{n:03d}" for n in range(300)])
    parts = [[" ".join(rng.choice(words, 12)) for _ in range(6000)] for _ in range(2)]
    sizes = {}
    for level in (1, 19):
        catalog = Catalog(Lake.open(tmp_path / f"level{level}"))
        for text in parts:
            table = pa.table({"day": [WARM] * len(text), "text": text})
            write(catalog, "ev", table, partition_by=["day"])
        policy = POLICY.model_copy(update={"zstd_level": level})
        [compacted] = apply_tiers(catalog, "ev", policy, SETTINGS, now=NOW).compacted
        assert compacted.files_removed == 2
        [size] = [p.size_bytes for p in catalog.tiers.placements("ev").values()]
        sizes[level] = size
    assert sizes[19] < sizes[1] * 0.95, sizes


def test_warm_compaction_writes_files_of_the_policy_target_size(tmp_path: Path) -> None:
    """Six ~400 KB files of one partition: one file at the 128 MB default target, several of
    about 1 MB at ``target_file_mb: 1``."""
    payloads = [rows(WARM, 200) for _ in range(6)]
    added = {}
    for target in (1, 128):
        catalog = Catalog(Lake.open(tmp_path / f"target{target}"))
        for table in payloads:
            write(catalog, "ev", table, partition_by=["day"])
        policy = POLICY.model_copy(update={"target_file_mb": target})
        [compacted] = apply_tiers(catalog, "ev", policy, SETTINGS, now=NOW).compacted
        assert compacted.files_removed == 6
        added[target] = compacted.files_added
    assert added[128] == 1
    assert added[1] >= 2, added
