"""``thermocline tier plan | apply | restore | report``: the tiering policy read from the
project file, applied to a real local lake's Delta log and its tags, as of a ``--now`` that
moves the clock (logical tiers: the local lake has no storage classes).

The lake: events v0 = days 2026-01-10 and 2026-11-30 (tagged ``golden``), then v1 replaces
the partitions it writes: days 2026-01-10 (v0's file leaves the latest version), 2026-10-01,
2026-11-20 and a small 2026-02-01 file (v0's 2026-11-30 file stays latest); ``flat`` is an
unpartitioned table whose files age from their add time. Rows carry ~200 KB of random bytes so
every file but the small one is over the 128 KB minimum. The plan tests share one read-only
lake; the apply tests build their own, with v3 adding a second file to day 2026-10-01 so that
partition is compacted on its way to warm.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import ArchivedFilesError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.tables.tier_apply import apply_tiers
from thermocline.datasets.tables.tier_facts import tier_files
from thermocline.datasets.tables.tier_storage import class_store
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.datasets.tables.writes import write

PROJECT = """
lake: {uri: ./lake}
datasets:
  events:
    partition_by: [day]
    tiering: {warm_after_days: 30, cold_after_days: 90, archive_after_days: 300}
  flat:
    tiering: {warm_after_days: 7, cold_after_days: null}
"""


def rows(*days: tuple[str, int]) -> pa.Table:
    """One row per (day, payload size), the payload random so Parquet cannot shrink it."""
    return pa.table(
        {
            "day": [day for day, _ in days],
            "payload": pa.array([os.urandom(n) for _, n in days], pa.binary()),
        }
    )


BIG = 200_000


def build_lake(root: Path, project: str = PROJECT) -> Catalog:
    """The lake of the module docstring under ``root`` (v0, golden, v1, and ``flat``)."""
    (root / "thermocline.yaml").write_text(textwrap.dedent(project))
    catalog = open_catalog(root)
    write(catalog, "events", rows(("2026-01-10", BIG), ("2026-11-30", BIG)), partition_by=["day"])
    catalog.set_tag("golden", "events", 0)
    later = rows(("2026-01-10", BIG), ("2026-10-01", BIG), ("2026-11-20", BIG), ("2026-02-01", 10))
    write(catalog, "events", later, mode="overwrite", partition_by=["day"])
    write(catalog, "flat", rows(("x", BIG)))
    return catalog


def open_catalog(root: Path) -> Catalog:
    return Catalog(Lake.from_project(load_project(root / "thermocline.yaml", environ={})))


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tier")
    build_lake(root)
    return root


@pytest.fixture
def apply_root(tmp_path: Path) -> Path:
    """A lake of its own for tests that move files: v2 appends a second 2026-10-01 file."""
    catalog = build_lake(tmp_path)
    write(catalog, "events", rows(("2026-10-01", BIG)), partition_by=["day"])
    return tmp_path


def plan_json(root: Path, *args: str) -> dict[str, Any]:
    result = thermocline("tier", "plan", *args, "--json", cwd=root)
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def moves(found: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(partition day or version, from, to) of each move."""
    return {(m["path"].split("/")[0], m["source"], m["target"]) for m in found["moves"]}


def test_the_policy_and_the_tag_decide_the_moves(lake_root: Path) -> None:
    found = plan_json(lake_root, "events", "--now", "2026-12-01")
    assert found["policy"]["warm_after_days"] == 30
    assert moves(found) == {
        ("day=2026-01-10", "hot", "cold"),  # v1's file
        ("day=2026-01-10", "hot", "archive"),  # v0's: only the tag golden still reads it
        ("day=2026-10-01", "hot", "warm"),
    }
    assert len(found["moves"]) == 3
    [archived] = [m for m in found["moves"] if m["target"] == "archive"]
    assert archived["reason"] == (
        "only tag golden still reads it, partition 325 days ago (archive after 300)"
    )
    # golden pins v0's 2026-11-30 file too, but the latest version reads it: it stays hot.
    listed = [m["path"] for m in found["moves"]] + [h["path"] for h in found["held"]]
    assert not [p for p in listed if p.startswith("day=2026-11-30/")]
    [small] = found["held"]
    assert small["path"].startswith("day=2026-02-01/")
    assert (small["tier"], small["wanted"]) == ("hot", "cold")
    assert "128 KB" in small["reason"]
    totals = {t: (found["after"][t]["files"]) for t in ("hot", "warm", "cold", "archive")}
    assert totals == {"hot": 3, "warm": 1, "cold": 1, "archive": 1}
    assert found["before"]["hot"]["files"] == 6
    assert found["before"]["hot"]["bytes"] == sum(
        found["after"][t]["bytes"] for t in ("hot", "warm", "cold", "archive")
    )


def test_moving_the_clock_moves_the_young_partition(lake_root: Path) -> None:
    soon = moves(plan_json(lake_root, "events", "--now", "2026-12-01T00:00:00Z"))
    later = moves(plan_json(lake_root, "events", "--now", "2027-01-01"))
    assert ("day=2026-11-20", "hot", "warm") not in soon
    assert ("day=2026-11-20", "hot", "warm") in later
    assert ("day=2026-11-30", "hot", "warm") in later  # golden pins it: it ages all the same
    assert ("day=2026-10-01", "hot", "cold") in later


def test_an_unpartitioned_table_ages_from_the_add_time(lake_root: Path) -> None:
    now = datetime.now(UTC)
    assert plan_json(lake_root, "flat")["moves"] == []
    week = (now + timedelta(days=8)).isoformat()
    [move] = plan_json(lake_root, "flat", "--now", week)["moves"]
    assert (move["source"], move["target"]) == ("hot", "warm")
    assert move["reason"].startswith("added 8 days ago (warm after 7)")


def test_the_plan_for_people_and_that_it_moves_nothing(lake_root: Path) -> None:
    lake = Lake.from_project(load_project(lake_root / "thermocline.yaml", environ={}))
    before = [c.version for c in history(lake, "events")]
    files = sorted(p.relative_to(lake_root) for p in (lake_root / "lake").rglob("*"))
    result = thermocline(
        "tier", "plan", "events", "--now", "2026-12-01", "--show", "1", cwd=lake_root
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "tier plan of events at 2026-12-01 00:00 UTC (warm after 30 days, cold after 90)" in text
    assert "3 move(s), " in text
    assert "(the first 1)" in text
    assert "... and 2 more move(s)" in text
    assert "1 file(s) left where they are" in text
    assert text.rstrip().endswith("plan only: nothing was moved")
    assert [c.version for c in history(lake, "events")] == before
    assert sorted(p.relative_to(lake_root) for p in (lake_root / "lake").rglob("*")) == files


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("events", "--now", "soon"), "malformed timestamp 'soon'"),
        (("nope",), "nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    lake_root: Path, args: tuple[str, ...], message: str
) -> None:
    result = thermocline("tier", "plan", *args, cwd=lake_root)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def cli_json(root: Path, *args: str) -> Any:
    result = thermocline("tier", *args, "--json", cwd=root)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def checksum(catalog: Catalog, dataset: str, at: str | int | None = None) -> list[Any]:
    """Every row of a version, sorted: equal lists are equal tables."""
    found = read_dataset(catalog, dataset, at=at).to_table()
    return sorted(zip(found["day"].to_pylist(), found["payload"].to_pylist(), strict=True))


def test_the_report_prices_every_file_hot_before_any_move(lake_root: Path) -> None:
    found = cli_json(lake_root, "report", "events")
    catalog = open_catalog(lake_root)
    kept = tier_files(catalog, "events")  # latest + golden: 6 files
    assert found["files"] == len(kept) == 6
    assert found["bytes"] == sum(f.size_bytes for f in kept)
    hot = found["tiers"]["hot"]
    assert (hot["files"], hot["bytes"], hot["billed_bytes"]) == (6, found["bytes"], found["bytes"])
    assert hot["storage_class"] == "STANDARD"
    assert found["monthly_usd"] == pytest.approx(found["bytes"] / 2**30 * 0.023)
    assert found["all_hot_usd"] == pytest.approx(found["monthly_usd"])
    assert found["savings_usd"] == pytest.approx(0.0)
    assert {t: found["tiers"][t]["files"] for t in ("warm", "cold", "archive")} == {
        "warm": 0,
        "cold": 0,
        "archive": 0,
    }
    every = cli_json(lake_root, "report")  # no argument: every dataset with a table
    assert [r["dataset"] for r in every] == ["events", "flat"]
    assert every[0] == found


def test_the_plan_shows_the_partitions_compacted_first(apply_root: Path) -> None:
    result = thermocline("tier", "plan", "events", "--now", "2026-12-01", cwd=apply_root)
    assert result.exit_code == 0, result.output
    assert "1 partition(s) compacted first" in result.stdout
    [compaction] = cli_json(apply_root, "plan", "events", "--now", "2026-12-01")["compactions"]
    assert (compaction["partition"], compaction["target"]) == ("day=2026-10-01", "warm")
    assert len(compaction["paths"]) == 2


def test_a_dry_run_changes_nothing(apply_root: Path) -> None:
    catalog = open_catalog(apply_root)
    before = open_table(catalog.lake, "events").version()
    result = thermocline(
        "tier", "apply", "events", "--now", "2026-12-01", "--dry-run", cwd=apply_root
    )
    assert result.exit_code == 0, result.output
    assert "would move 4 file(s)" in result.stdout
    assert "day=2026-10-01" in result.stdout  # the compaction it would make first
    assert "dry run: nothing was compacted or moved" in result.stdout
    found = cli_json(apply_root, "apply", "events", "--now", "2026-12-01", "--dry-run")
    assert found["dry_run"] is True
    assert found["moved"] == 0
    assert len(found["plan"]["moves"]) == 4
    assert open_table(catalog.lake, "events").version() == before
    assert catalog.tiers.placements("events") == {}


def test_apply_compacts_moves_records_and_reports(apply_root: Path) -> None:
    catalog = open_catalog(apply_root)
    latest, golden = checksum(catalog, "events"), checksum(catalog, "events", "golden")
    replaced = sum(f.size_bytes for f in tier_files(catalog, "events") if "10-01" in f.path)
    found = cli_json(apply_root, "apply", "events", "--now", "2026-12-01")
    [compacted] = found["compacted"]
    assert compacted["partition"] == "day=2026-10-01"
    assert (compacted["files_removed"], compacted["files_added"]) == (2, 1)
    table = open_table(catalog.lake, "events")
    assert compacted["version"] == table.version() == 3
    assert table.history(1)[0]["operation"] == "OPTIMIZE"
    # The plan made again after compaction: the compacted file is what goes to warm.
    moved = {(m["path"].split("/")[0], m["target"]) for m in found["plan"]["moves"]}
    assert moved == {
        ("day=2026-01-10", "cold"),
        ("day=2026-01-10", "archive"),
        ("day=2026-10-01", "warm"),
    }
    assert found["moved"] == 3
    assert found["moved_bytes"] == sum(m["size_bytes"] for m in found["plan"]["moves"])
    # Compaction must not grow the data: the footer keeps no full copy of long binary values
    # as min/max statistics (incompressible payloads: about the same size as before).
    [warm] = [m for m in found["plan"]["moves"] if m["target"] == "warm"]
    assert warm["size_bytes"] < replaced * 1.05
    placed = catalog.tiers.placements("events")
    assert {m["path"]: m["target"] for m in found["plan"]["moves"]} == {
        path: p.tier for path, p in placed.items()
    }
    [event] = catalog.events("events", kinds=["tier"])
    assert event.details["run_id"] == found["run_id"]
    # Compaction changed files, not data: the latest version reads as before; golden's file
    # that only the tag reads went to archive, so reading golden is refused until a restore.
    assert checksum(catalog, "events") == latest
    with pytest.raises(ArchivedFilesError, match="tier restore events@0"):
        checksum(catalog, "events", "golden")
    # The report after: tiers from the inventory, priced per class, the 128 KB minimum applied.
    report = found["report"]
    assert {t: report["tiers"][t]["files"] for t in report["tiers"]} == {
        "hot": 3,
        "warm": 1,
        "cold": 1,
        "archive": 1,
    }
    prices = {"hot": 0.023, "warm": 0.0125, "cold": 0.004, "archive": 0.00099}
    billed = {t: 0 for t in prices}
    for file in tier_files(catalog, "events"):
        tier = placed[file.path].tier if file.path in placed else "hot"
        billed[tier] += file.size_bytes if tier == "hot" else max(file.size_bytes, 128 * 1024)
    expected = sum(billed[t] / 2**30 * prices[t] for t in prices)
    assert report["monthly_usd"] == pytest.approx(expected)
    assert report["all_hot_usd"] == pytest.approx(report["bytes"] / 2**30 * 0.023)
    assert report["savings_usd"] == pytest.approx(report["all_hot_usd"] - expected)
    assert report["savings_usd"] > 0
    assert report == cli_json(apply_root, "report", "events")
    thermocline("tier", "restore", "events@golden", cwd=apply_root)
    assert checksum(catalog, "events", "golden") == golden


def test_apply_again_moves_nothing_and_says_so(apply_root: Path) -> None:
    assert cli_json(apply_root, "apply", "events", "--now", "2026-12-01")["moved"] == 3
    version = open_table(open_catalog(apply_root).lake, "events").version()
    result = thermocline("tier", "apply", "events", "--now", "2026-12-01", cwd=apply_root)
    assert result.exit_code == 0, result.output
    assert "events: every file is in its tier, nothing moved" in result.stdout
    assert "tier report of events: " in result.stdout
    assert "tiering saves $" in result.stdout
    assert open_table(open_catalog(apply_root).lake, "events").version() == version
    assert len(open_catalog(apply_root).events("events", kinds=["tier"])) == 1


def test_restore_makes_an_archived_tag_readable(apply_root: Path) -> None:
    cli_json(apply_root, "apply", "events", "--now", "2026-12-01")
    catalog = open_catalog(apply_root)
    [archived] = catalog.tiers.archived("events")
    with pytest.raises(ArchivedFilesError, match=r"\(tag golden\).*tier restore events@0"):
        read_dataset(catalog, "events", "golden")
    result = thermocline("tier", "restore", "events@golden", cwd=apply_root)
    assert result.exit_code == 0, result.output
    assert "restored 1 archived file(s)" in result.stdout
    assert "of events@0 to cold: version 0 reads again" in result.stdout
    assert catalog.tiers.archived("events") == []
    assert catalog.tiers.placements("events")[archived].tier == "cold"
    assert read_dataset(catalog, "events", "golden").to_table().num_rows == 2
    again = cli_json(apply_root, "restore", "events@0")
    assert (again["version"], again["restored"]) == (0, [])
    # The early-deletion minimum keeps it in cold: a later apply does not archive it again.
    soon = cli_json(apply_root, "apply", "events", "--now", "2026-12-02", "--dry-run")
    assert archived not in {m["path"] for m in soon["plan"]["moves"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "events", "--now", "soon"), "malformed timestamp 'soon'"),
        (("apply", "nope"), "nope"),
        (("restore", "events"), "write DATASET@VERSION"),
        (("restore", "events@9"), "events has no version 9"),
        (("restore", "events@nosuchtag"), "nosuchtag"),
        (("report", "nope"), "nope"),
    ],
)
def test_bad_tier_input_is_one_line_and_exit_2(
    lake_root: Path, args: tuple[str, ...], message: str
) -> None:
    result = thermocline("tier", *args, cwd=lake_root)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    as_json = thermocline("tier", *args, "--json", cwd=lake_root)
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["exit_code"] == 2


@pytest.mark.s3
def test_apply_on_rgw_puts_each_file_in_its_class_and_reports_them(
    tmp_path: Path, s3_lake: Lake
) -> None:
    """The same commands on the dev RGW, whose project maps cold to GLACIER and archive to
    DEEP_ARCHIVE (RGW reads both at once)."""
    options = json.dumps(dict(s3_lake.storage_options))
    head = (
        f"lake: {{uri: {s3_lake.uri}, storage_options: {options}}}\n"
        "tiering: {storage_classes: {cold: GLACIER}}\n"
    )
    catalog = build_lake(tmp_path, head + PROJECT.split("\n", 2)[2])
    write(catalog, "events", rows(("2026-10-01", BIG)), partition_by=["day"])
    found = cli_json(tmp_path, "apply", "events", "--now", "2026-12-01")
    assert found["moved"] == 3
    assert [c["files_removed"] for c in found["compacted"]] == [2]
    classes = {"warm": "STANDARD_IA", "cold": "GLACIER", "archive": "DEEP_ARCHIVE"}
    store = class_store(catalog.lake)
    for move in found["plan"]["moves"]:
        assert store.class_of("events", move["path"]) == classes[move["target"]], move
    moved = {m["path"] for m in found["plan"]["moves"]}
    for file in tier_files(catalog, "events"):
        if file.path not in moved:
            assert store.class_of("events", file.path) == "STANDARD", file.path
    report = found["report"]
    assert {t: (c["storage_class"], c["files"]) for t, c in report["tiers"].items()} == {
        "hot": ("STANDARD", 3),
        "warm": ("STANDARD_IA", 1),
        "cold": ("GLACIER", 1),
        "archive": ("DEEP_ARCHIVE", 1),
    }
    assert report["tiers"]["cold"]["usd_per_gb_month"] == 0.0036
    [archived] = catalog.tiers.archived("events")
    assert store.class_of("events", archived) == "DEEP_ARCHIVE"
    restored = cli_json(tmp_path, "restore", "events@golden")
    assert restored["restored"] == [archived]
    assert store.class_of("events", archived) == "GLACIER"
    assert catalog.tiers.placements("events")[archived].tier == "cold"


def test_apply_reports_progress_after_each_batch(apply_root: Path) -> None:
    """What the progress bar of `tier apply` is fed: files and bytes after each batch."""
    catalog = open_catalog(apply_root)
    project = load_project(apply_root / "thermocline.yaml", environ={})
    seen: list[tuple[int, int]] = []
    result = apply_tiers(
        catalog,
        "events",
        project.datasets["events"].tiering,
        project.tiering,
        now=datetime(2026, 12, 1, tzinfo=UTC),
        progress=lambda files, done: seen.append((files, done)),
        batch_size=1,
    )
    assert [files for files, _ in seen] == [1, 2, 3]
    assert seen[-1] == (result.moved, result.moved_bytes)
    events = catalog.events("events", kinds=["tier"])
    assert [e.details["run_id"] for e in events] == [result.run_id]  # one event per run
