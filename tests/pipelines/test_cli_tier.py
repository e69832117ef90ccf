"""``thermocline tier plan``: the tiering policy read from the project file, applied to a real
local lake's Delta log and its tags, as of a ``--now`` that moves the clock. Read-only.

The lake: events v0 = days 2026-01-10 and 2026-11-30 (tagged ``golden``), then v1 replaces
the partitions it writes: days 2026-01-10 (v0's file leaves the latest version), 2026-10-01,
2026-11-20 and a small 2026-02-01 file (v0's 2026-11-30 file stays latest); ``flat`` is an
unpartitioned table whose files age from their add time. Rows carry ~200 KB of random bytes so
every file but the small one is over the 128 KB minimum.
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
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.tables.versions import history
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


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tier")
    (root / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    catalog = Catalog(Lake.from_project(load_project(root / "thermocline.yaml", environ={})))
    big = 200_000
    write(catalog, "events", rows(("2026-01-10", big), ("2026-11-30", big)), partition_by=["day"])
    catalog.set_tag("golden", "events", 0)
    later = rows(("2026-01-10", big), ("2026-10-01", big), ("2026-11-20", big), ("2026-02-01", 10))
    write(catalog, "events", later, mode="overwrite", partition_by=["day"])
    write(catalog, "flat", rows(("x", big)))
    return root


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
