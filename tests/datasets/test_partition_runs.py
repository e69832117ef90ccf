"""Partition runs (``ingest --partition DAY``) next to plain runs: each source row once.

A partition run recomputes its day from the whole source and records (file, day) as consumed;
a plain run loads every row of a file it has not consumed, less the days a partition run has
already taken from it (issue #13, item 2).
"""

from __future__ import annotations

import datetime as dt
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import CommitConflictError, QuarantineError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import run as run_module
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.quarantine import list_quarantined
from thermocline.datasets.tables.versions import read_dataset

PROJECT = """
datasets:
  trips:
    source: {kind: files, url: landing/*.csv, format: csv}
    schema: {id: int64, day: date32, fare: float64}
    partition_by: [day]
"""
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(4)]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "landing").mkdir()
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    return load_project(tmp_path / "thermocline.yaml", environ={})


def land(project: Project, name: str, rows: list[tuple[int, dt.date]]) -> None:
    lines = ["id,day,fare", *(f"{i},{day.isoformat()},{i / 4}" for i, day in rows)]
    (project.root / "landing" / name).write_text("\n".join(lines) + "\n")


def table_ids(catalog: Catalog) -> list[int]:
    return sorted(read_dataset(catalog, "trips").to_table(columns=["id"])["id"].to_pylist())


def test_a_partition_run_leaves_the_other_days_of_its_files_to_the_next_plain_run(
    project: Project, lake: Lake
) -> None:
    """The bug of issue #13: the partition run recorded both files as consumed, so the rows
    of 2026-11-01 were never loaded."""
    catalog = Catalog(lake)
    land(project, "a.csv", [(1, DAYS[0]), (2, DAYS[1])])
    land(project, "b.csv", [(3, DAYS[1]), (4, DAYS[0])])
    outcome = ingest(project, catalog, "trips", partition=DAYS[1].isoformat())
    assert (outcome.status, outcome.rows) == ("published", 2)
    assert table_ids(catalog) == [2, 3]
    rest = ingest(project, catalog, "trips")
    assert (rest.status, rest.rows) == ("published", 2)
    assert table_ids(catalog) == [1, 2, 3, 4]
    assert ingest(project, catalog, "trips").status == "nothing_new"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_mix_of_plain_and_partition_runs_loads_each_row_once(
    project: Project, local_lake: Lake, seed: int
) -> None:
    """Seeded random interleavings of landing files that span several days, plain runs, and
    partition runs (of days with and without rows); after a last plain run every source row is
    in the table exactly once, and after every step no row is there twice."""
    chance = random.Random(seed)
    catalog = Catalog(local_lake)
    landed: list[int] = []
    next_id = 0
    steps = []
    for step in range(14):
        action = chance.choice(["land", "land", "plain", "partition", "partition"])
        if action == "land" or not landed:
            rows = [(next_id + n, chance.choice(DAYS[:3])) for n in range(chance.randint(2, 6))]
            next_id += len(rows)
            land(project, f"f{step:02d}.csv", rows)
            landed += [i for i, _ in rows]
            steps.append(f"land f{step:02d}.csv {rows}")
        elif action == "plain":
            steps.append(f"plain: {ingest(project, catalog, 'trips').status}")
        else:
            day = chance.choice(DAYS).isoformat()  # DAYS[3] never has rows
            steps.append(f"{day}: {ingest(project, catalog, 'trips', partition=day).status}")
        if steps[-1].endswith("published"):
            ids = table_ids(catalog)
            assert len(ids) == len(set(ids)), f"a row loaded twice after {steps}"
    ingest(project, catalog, "trips")
    assert table_ids(catalog) == sorted(landed), f"seed {seed}: {steps}"


def test_a_plain_run_overtaken_by_a_partition_run_loses_the_race(
    project: Project, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain run read b.csv whole; a partition run loads b's 2026-11-02 rows before the
    plain run publishes: the plain run must be refused (it would append row 3 a second time),
    and its retry loads only b's other day."""
    catalog = Catalog(local_lake)
    land(project, "a.csv", [(1, DAYS[0]), (2, DAYS[1])])
    assert ingest(project, catalog, "trips").status == "published"
    land(project, "b.csv", [(3, DAYS[1]), (4, DAYS[2])])
    read_new = run_module.read_new

    def read_then_lose(*args: Any, **options: Any) -> Any:
        batch = read_new(*args, **options)
        rival = ingest(project, catalog, "trips", partition=DAYS[1].isoformat())
        assert (rival.status, rival.rows) == ("published", 2)
        return batch

    monkeypatch.setattr(run_module, "read_new", read_then_lose)
    with pytest.raises(CommitConflictError, match="another run published this input first"):
        ingest(project, catalog, "trips")
    monkeypatch.setattr(run_module, "read_new", read_new)
    assert ingest(project, catalog, "trips").rows == 1
    assert table_ids(catalog) == [1, 2, 3, 4]


def test_replaying_a_quarantined_partition_run_never_drops_rows_loaded_since(
    project: Project, local_lake: Lake
) -> None:
    """A partition run replaces its day. Its quarantine, replayed after a plain run loaded more
    rows of that day, would replace the day with the stale recompute and lose them: the replay
    is refused (re-run the partition instead), and allowed while nothing moved."""
    catalog = Catalog(local_lake)
    checked = project.root / "thermocline.yaml"
    checked.write_text(
        textwrap.dedent(PROJECT) + "    quality: {checks: [{check: range, column: fare, max: 1}]}\n"
    )
    strict = load_project(checked, environ={})
    land(project, "a.csv", [(1, DAYS[0]), (9, DAYS[0])])  # fare 9/4 is out of range
    assert ingest(strict, catalog, "trips", partition=DAYS[0].isoformat()).status == "quarantined"
    (record,) = list_quarantined(catalog, "trips")
    land(project, "b.csv", [(2, DAYS[0])])
    assert ingest(strict, catalog, "trips").status == "published"
    assert table_ids(catalog) == [2]
    with pytest.raises(QuarantineError, match="--partition 2026-11-01"):
        replay(project, catalog, record.id)  # the project without the check
    assert table_ids(catalog) == [2]
    rerun = ingest(project, catalog, "trips", partition=DAYS[0].isoformat())
    assert rerun.status == "published"
    assert table_ids(catalog) == [1, 2, 9]

    land(project, "c.csv", [(7, DAYS[1]), (8, DAYS[1])])
    assert ingest(strict, catalog, "trips", partition=DAYS[1].isoformat()).status == "quarantined"
    later = [q for q in list_quarantined(catalog, "trips") if q.id != record.id]
    assert replay(project, catalog, later[0].id).status == "published"  # nothing moved since
    assert table_ids(catalog) == [1, 2, 7, 8, 9]
    assert ingest(project, catalog, "trips").status == "nothing_new"
