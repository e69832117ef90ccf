"""Reads respect the tiers, on a local lake (logical tiers, recorded in the catalog's tier
inventory exactly as on S3): every path that reads or restores an older version refuses one
that needs an archived file before reading anything, naming the files and ``thermocline tier
restore DATASET@VERSION``; warm and cold files read as they are; a restore makes the version
readable again; vacuum deletes files whatever their tier and the inventory forgets them.

The lake (``tiered``): v0 = a 2020 partition and one 200 days old, tagged ``golden``; v1
replaces both with small files and adds a partition 60 days old. ``tier apply`` at ``NOW``
then archives v0's 2020 file (only the tag reads it, and it is past ``archive_after_days``),
moves v0's other file to cold and v1's 60-day file to warm. Payloads are random bytes, so each
file that moves is over the 128 KB every colder class bills.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import ERASURE, Catalog
from thermocline.catalog.config import (
    DistributionDriftCheck,
    Project,
    TieringPolicy,
    TieringSettings,
)
from thermocline.catalog.errors import ArchivedFilesError, ReleasePreflightError
from thermocline.catalog.lake import Lake
from thermocline.catalog.tier_inventory import TierRecord
from thermocline.datasets.tables.baselines import check_context
from thermocline.datasets.tables.erasure import erase
from thermocline.datasets.tables.faults import FAULT_ENV, InjectedFaultError
from thermocline.datasets.tables.inspection import diff
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.releases import create_release, release_rollback
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.tier_apply import apply_tiers, restore_version
from thermocline.datasets.tables.tier_facts import tier_files
from thermocline.datasets.tables.versions import (
    history,
    live_files,
    open_table,
    read_dataset,
    require_not_archived,
    resolve_version,
    stored_files,
)
from thermocline.datasets.tables.writes import write

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD_DAY = "2020-01-01"
COLD_DAY = (NOW - timedelta(days=200)).date().isoformat()
WARM_DAY = (NOW - timedelta(days=60)).date().isoformat()
POLICY = TieringPolicy(warm_after_days=30, cold_after_days=180, archive_after_days=365)
SETTINGS = TieringSettings()
BIG = 160_000
RESTORE = "thermocline tier restore d@0"


def rows(*days: tuple[str, int]) -> pa.Table:
    """One row per (day, payload size), the payload random so Parquet cannot shrink it."""
    return pa.table(
        {
            "day": [day for day, _ in days],
            "payload": pa.array([os.urandom(n) for _, n in days], pa.binary()),
        }
    )


@dataclass(frozen=True)
class Tiered:
    catalog: Catalog
    v0: pa.Table  # its rows, read before any move
    archived: str  # v0's 2020 file
    cold: str  # v0's other file


def untiered(lake: Lake) -> tuple[Catalog, pa.Table, dict[str, str]]:
    """The lake of the module docstring before ``tier apply``: catalog, v0's rows, v0's file
    of each day."""
    catalog = Catalog(lake)
    write(catalog, "d", rows((OLD_DAY, BIG), (COLD_DAY, BIG)), partition_by=["day"])
    catalog.set_tag("golden", "d", 0)
    v0 = read_dataset(catalog, "d", at=0).to_table().sort_by("day")
    later = rows((OLD_DAY, 10), (COLD_DAY, 10), (WARM_DAY, BIG))
    write(catalog, "d", later, mode="overwrite", partition_by=["day"])
    files = {f["partition_values"]["day"]: f["path"] for f in live_files(open_table(lake, "d", 0))}
    return catalog, v0, files


def tiered(lake: Lake) -> Tiered:
    """The lake of the module docstring, after ``tier apply``."""
    catalog, v0, files = untiered(lake)
    result = apply_tiers(catalog, "d", POLICY, SETTINGS, now=NOW)
    targets = {m.path: m.target for m in result.plan.moves}
    assert targets[files[OLD_DAY]] == "archive"
    assert targets[files[COLD_DAY]] == "cold"
    assert "warm" in targets.values()
    assert catalog.tiers.archived("d") == [files[OLD_DAY]]
    return Tiered(catalog, v0, files[OLD_DAY], files[COLD_DAY])


def test_time_travel_to_an_archived_version_fails_before_reading_anything(
    local_lake: Lake,
) -> None:
    """The archived file is overwritten with bytes that are not Parquet, as an object in a
    deep archive class answers a GET with an error: a read that touched it would fail inside
    pyarrow. Each refusal is the gate's, naming the file and the restore command."""
    t = tiered(local_lake)
    (Path(local_lake.uri) / "d" / t.archived).write_bytes(b"archived: restore me first")
    v0_time = next(c.timestamp for c in history(local_lake, "d") if c.version == 0)

    for at, via in [(0, ""), ("0", ""), ("golden", " (tag golden)"), (v0_time, " (time ")]:
        with pytest.raises(ArchivedFilesError) as refused:
            read_dataset(t.catalog, "d", at=at)
        message = str(refused.value)
        assert f"cannot read d version 0{via}" in message
        assert "1 of its 2 file(s) are archived (tiering moved them to an archive class; " in (
            message
        )
        assert t.archived in message
        assert t.cold not in message, "a cold file reads as it is"
        assert RESTORE in message
        assert refused.value.fix == f"run `{RESTORE}`"
    with pytest.raises(ArchivedFilesError, match=RESTORE):
        require_not_archived(t.catalog, "d", 0, via="tag golden")

    latest = read_dataset(t.catalog, "d").to_table()
    assert sorted(latest["day"].to_pylist()) == [OLD_DAY, COLD_DAY, WARM_DAY]
    assert read_dataset(t.catalog, "d", at=1).to_table().num_rows == 3, "warm reads as it is"
    assert resolve_version(t.catalog, "d", "golden") == 0, "naming the version reads nothing"


def test_a_move_to_archive_that_a_crash_interrupted_already_counts_as_archived(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tier apply`` fails after its intent commit, before any copy: the object may or may
    not be in the archive class yet (on S3 a copy may have landed), so reads refuse it; the
    rerun finishes the move and reads still refuse."""
    catalog, _, files = untiered(local_lake)
    monkeypatch.setenv(FAULT_ENV, "tier-apply:after-intent:1=raise")
    with pytest.raises(InjectedFaultError):
        apply_tiers(catalog, "d", POLICY, SETTINGS, now=NOW)
    placed = catalog.tiers.placements("d")[files[OLD_DAY]]
    assert (placed.tier, placed.pending) == ("hot", "archive")
    with pytest.raises(ArchivedFilesError, match=re.escape(files[OLD_DAY])):
        read_dataset(catalog, "d", at="golden")

    monkeypatch.delenv(FAULT_ENV)
    rerun = apply_tiers(catalog, "d", POLICY, SETTINGS, now=NOW)
    assert rerun.resumed >= 1
    assert catalog.tiers.placements("d")[files[OLD_DAY]].tier == "archive"
    with pytest.raises(ArchivedFilesError, match=re.escape(RESTORE)):
        read_dataset(catalog, "d", at="golden")


def test_a_drift_baseline_on_an_archived_tag_says_so_instead_of_reading(local_lake: Lake) -> None:
    """The check's reference cannot be read: the baseline carries the problem (the batch is
    then judged as with any unreadable reference), and the archived file is never opened."""
    t = tiered(local_lake)
    (Path(local_lake.uri) / "d" / t.archived).write_bytes(b"archived: restore me first")
    check = DistributionDriftCheck(check="distribution_drift", column="day", reference="golden")

    context = check_context(t.catalog, "d", [check], now=NOW, schema=None)

    (baseline,) = context.baselines.values()
    assert baseline.values is None
    assert baseline.problem is not None
    assert "cannot read d version 0 (tag golden)" in baseline.problem
    assert RESTORE in baseline.problem


def test_a_cold_only_version_reads_and_a_restore_makes_an_archived_one_readable(
    local_lake: Lake,
) -> None:
    t = tiered(local_lake)
    restored = restore_version(t.catalog, "d", 0, POLICY, SETTINGS)

    assert (restored.tier, restored.restored) == ("cold", (t.archived,))
    assert t.catalog.tiers.archived("d") == []
    for at in (0, "golden"):
        assert read_dataset(t.catalog, "d", at=at).to_table().sort_by("day").equals(t.v0)
    placed = t.catalog.tiers.placements("d")
    assert (placed[t.archived].tier, placed[t.cold].tier) == ("cold", "cold")


def test_rollback_to_an_archived_version_refuses_and_changes_nothing(local_lake: Lake) -> None:
    t = tiered(local_lake)
    before = open_table(local_lake, "d").version()
    events = len(t.catalog.events("d", kinds=["rollback"]))

    for dry_run in (True, False):
        with pytest.raises(ArchivedFilesError) as refused:
            rollback(t.catalog, "d", "golden", dry_run=dry_run)
        assert "cannot read d version 0 (tag golden)" in str(refused.value)
        assert t.archived in str(refused.value)
        assert RESTORE in str(refused.value)
    assert open_table(local_lake, "d").version() == before, "nothing was committed"
    assert len(t.catalog.events("d", kinds=["rollback"])) == events

    restore_version(t.catalog, "d", 0, POLICY, SETTINGS)
    done = rollback(t.catalog, "d", "golden", reason="back to golden")
    assert (done.target_version, done.new_version) == (0, before + 1)
    assert read_dataset(t.catalog, "d").to_table().sort_by("day").equals(t.v0)


def test_release_rollback_preflight_names_the_archived_files_and_the_restore_command(
    local_lake: Lake,
) -> None:
    """Creating a release of an archived version is fine (it reads nothing); rolling back to
    it is refused for every dataset before any changes, dry run or not."""
    t = tiered(local_lake)
    write(t.catalog, "e", rows((WARM_DAY, 10)))
    create_release(t.catalog, "r1", {"d": 0, "e": 0})
    write(t.catalog, "e", rows((WARM_DAY, 20)), mode="overwrite")
    versions = {name: open_table(local_lake, name).version() for name in ("d", "e")}

    for dry_run in (True, False):
        with pytest.raises(ReleasePreflightError) as refused:
            release_rollback(t.catalog, "r1", dry_run=dry_run)
        message = str(refused.value)
        assert f"d@0: 1 of its 2 file(s) are archived: {t.archived}; run `{RESTORE}`" in message
        assert "Nothing was changed" in message
        assert "e@0" not in message, "e's version is readable"
    assert {name: open_table(local_lake, name).version() for name in versions} == versions
    assert t.catalog.journal.unfinished() == []

    restore_version(t.catalog, "d", 0, POLICY, SETTINGS)
    result = release_rollback(t.catalog, "r1")
    assert sorted(r.dataset for r in result.rolled_back) == ["d", "e"]
    assert read_dataset(t.catalog, "d").to_table().sort_by("day").equals(t.v0)


def test_the_loader_refuses_an_archived_version_tag_or_release(local_lake: Lake) -> None:
    from thermocline.datasets.training.dataset import TableDataset

    t = tiered(local_lake)
    t.catalog.create_release("r1", {"d": 0})
    for pin, via in [({"version": 0}, ""), ({"tag": "golden"}, " (tag golden)")]:
        with pytest.raises(
            ArchivedFilesError, match=re.escape(f"d version 0{via}: 1 of its 2")
        ) as refused:
            TableDataset("d", catalog=t.catalog, record_run=False, **pin)  # type: ignore[arg-type]
        assert RESTORE in str(refused.value)
    with pytest.raises(
        ArchivedFilesError, match=r"d version 0 \(release r1\): .*" + re.escape(RESTORE)
    ):
        TableDataset("d", catalog=t.catalog, release="r1", record_run=False)

    latest = TableDataset("d", catalog=t.catalog, record_run=False)
    assert latest.plan.version == open_table(local_lake, "d").version()
    assert TableDataset("d", catalog=t.catalog, version=1, record_run=False).plan.version == 1
    restore_version(t.catalog, "d", 0, POLICY, SETTINGS)
    pinned = TableDataset("d", catalog=t.catalog, release="r1", record_run=False)
    assert sum(u.rows for u in pinned.plan.units) == 2


def test_diff_reads_rows_only_of_readable_versions(local_lake: Lake) -> None:
    t = tiered(local_lake)
    counts = diff(t.catalog, "d", 0, 1)  # counts come from the log: no data file read
    assert (counts.files_from, counts.files_to) == (2, 3)
    with pytest.raises(ArchivedFilesError, match=RESTORE):
        diff(t.catalog, "d", 0, 1, sample_rows=2)


def test_the_command_line_refuses_a_rollback_with_one_line_and_tags_the_version(
    local_lake: Lake, tmp_path: Path
) -> None:
    t = tiered(local_lake)
    project = "lake: {uri: ./lake}\ndatasets:\n  d: {partition_by: [day]}\n"
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(project))
    before = open_table(local_lake, "d").version()

    refused = thermocline("rollback", "d", "--to", "golden", "--yes", cwd=tmp_path)
    assert refused.exit_code == 1
    assert RESTORE in refused.stderr
    assert t.archived in refused.stderr
    assert "Traceback" not in refused.output
    assert len(refused.stderr.strip().splitlines()) == 1
    assert open_table(local_lake, "d").version() == before

    tagged = thermocline("tag", "d@0", "keep", cwd=tmp_path)
    assert tagged.exit_code == 0, tagged.output
    assert t.catalog.tag("d", "keep").version == 0


def test_vacuum_deletes_files_whatever_their_tier_and_records_them_gone(local_lake: Lake) -> None:
    t = tiered(local_lake)
    latest = open_table(local_lake, "d").version()
    placed = t.catalog.tiers.placements("d")
    assert (placed[t.archived].tier, placed[t.cold].tier) == ("archive", "cold")
    warm = {p for p, where in placed.items() if where.tier == "warm"}
    assert len(warm) == 1

    kept = vacuum(t.catalog, "d", retention_hours=0)
    assert not {t.archived, t.cold} & set(kept.removed), "the tag keeps v0's files"
    t.catalog.set_tag("golden", "d", latest)  # v0 loses its last pin
    planned = vacuum(t.catalog, "d", retention_hours=0, dry_run=True)
    assert {t.archived, t.cold} <= set(planned.removed)
    assert t.catalog.tiers.placements("d") == placed, "a dry run records nothing"

    result = vacuum(t.catalog, "d", retention_hours=0)

    assert {t.archived, t.cold} <= set(result.removed)
    assert not {t.archived, t.cold} & stored_files(local_lake, "d")
    after = t.catalog.tiers.placements("d")
    assert set(after) == warm, "the inventory forgets what vacuum deleted, keeps the rest"
    assert t.catalog.tiers.archived("d") == []
    assert read_dataset(t.catalog, "d").to_table().num_rows == 3


def test_an_erasure_that_must_read_an_archived_file_asks_for_its_restore_then_deletes_it(
    local_lake: Lake,
) -> None:
    """trips v0, v1 (the subject's trips), v2 (all rows again): v1's file holds the subject and
    only v1 reads it; the inventory places it in archive as ``tier apply`` records a move. An
    archive class answers reads only after a restore, so the erasure refuses before changing
    anything and names the restore; after it, the erasure deletes the file and the inventory
    forgets it."""
    catalog = Catalog(local_lake)
    project = Project.model_validate(
        {"datasets": {"trips": {"schema": {"trip_id": "int64", "rider_id": "int64"}}}}
    )
    writes = [([(1, 2)], "append"), ([(2, 1)], "append"), ([(1, 2), (2, 1)], "overwrite")]
    for trips, mode in writes:
        table = pa.table({"trip_id": [t for t, _ in trips], "rider_id": [r for _, r in trips]})
        write(catalog, "trips", table, mode=mode)
    v0 = {f["path"] for f in live_files(open_table(local_lake, "trips", 0))}
    sizes = {f["path"]: f["size_bytes"] for f in live_files(open_table(local_lake, "trips", 1))}
    [v1] = set(sizes) - v0
    size = sizes[v1]
    catalog.tiers.record(
        [TierRecord("trips", v1, "archive", "DEEP_ARCHIVE", size, "done", "r1", "hot")]
    )
    assert catalog.tiers.archived("trips") == [v1]
    with pytest.raises(ArchivedFilesError) as refused:
        erase(catalog, project, "rider_id", "1", datasets=["trips"])
    assert "cannot erase from trips: 1 file(s) that may hold the subject are archived" in str(
        refused.value
    )
    assert v1 in str(refused.value)
    assert refused.value.fix == "run `thermocline tier restore trips@1`"
    assert v1 in stored_files(local_lake, "trips")
    assert catalog.events("trips", kinds=[ERASURE]) == []
    restore_version(catalog, "trips", 1, POLICY, SETTINGS)

    erased = erase(catalog, project, "rider_id", "1", datasets=["trips"])

    (done,) = erased.datasets
    assert v1 in done.files_removed
    assert v1 not in stored_files(local_lake, "trips")
    assert catalog.tiers.archived("trips") == []
    assert catalog.tiers.placements("trips") == {}


def test_a_tagged_version_an_erasure_broke_is_no_longer_planned(local_lake: Lake) -> None:
    """``erase --force`` through a tag deletes files only that tag's version read: the plan
    must not try to move them (on S3 the copy of a missing key would fail every run)."""
    catalog = Catalog(local_lake)
    project = Project.model_validate(
        {"datasets": {"trips": {"schema": {"trip_id": "int64", "rider_id": "int64"}}}}
    )
    for trips, mode in [([(1, 2)], "append"), ([(2, 1)], "append"), ([(1, 2)], "overwrite")]:
        table = pa.table({"trip_id": [t for t, _ in trips], "rider_id": [r for _, r in trips]})
        write(catalog, "trips", table, mode=mode)
    catalog.set_tag("old", "trips", 1)
    held = {f.path for f in tier_files(catalog, "trips")}
    erase(catalog, project, "rider_id", "1", datasets=["trips"], force=True)
    after = {f.path for f in tier_files(catalog, "trips")}
    assert after < held
    assert after <= stored_files(local_lake, "trips")
