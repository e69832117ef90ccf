"""``thermocline runs``: the training reads the loader recorded, as a table and as ``--json``,
of one dataset with ``--dataset``, and one line with exit 2 for a dataset that is not there."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.tables.writes import write
from thermocline.datasets.training import TableDataset

PROJECT = """
lake: {uri: ./lake}
datasets:
  rides:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, fare: float64}
  zones:
    source: {kind: files, url: zones/*.csv, format: csv}
    schema: {id: int64}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    return tmp_path


def trained(root: Path) -> None:
    """rides v0 and v1; run ``model-1`` read v0 (id, fare; seed 3), ``model-2`` v1 (id)."""
    catalog = Catalog(Lake.from_project(load_project(root / "thermocline.yaml", environ={})))
    for start in (0, 10):
        write(catalog, "rides", pa.table({"id": range(start, start + 10), "fare": [1.0] * 10}))
    reads = [("model-1", 0, ["id", "fare"], 3), ("model-2", 1, ["id"], 0)]
    for run, version, columns, seed in reads:
        loader = TableDataset(
            "rides", catalog=catalog, version=version, columns=columns, seed=seed, run=run
        )
        next(iter(loader))


def cells(stdout: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def test_runs_lists_training_reads_newest_first(project: Path) -> None:
    empty = thermocline("runs", cwd=project)
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.strip() == "no training run has read a version yet"
    trained(project)
    result = thermocline("runs", "--dataset", "rides", cwd=project)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "training runs of rides"
    rows = cells(result.stdout)
    assert [row[:6] for row in rows] == [
        ["model-2", "rides@1", "id", "-", "0", "1"],
        ["model-1", "rides@0", "id, fare", "-", "3", "1"],
    ]
    assert cells(thermocline("runs", cwd=project).stdout) == rows
    none = thermocline("runs", "--dataset", "zones", cwd=project)  # declared, never read
    assert none.stdout.strip() == "no training run has read a version of zones yet"


def test_runs_as_json(project: Path) -> None:
    trained(project)
    result = thermocline("runs", "--dataset", "rides", "--json", cwd=project)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(r["run_id"], r["dataset"], r["version"]) for r in found] == [
        ("model-2", "rides", 1),
        ("model-1", "rides", 0),
    ]
    assert found[1]["columns"] == ["id", "fare"]
    assert (found[1]["seed"], found[1]["world_size"], found[1]["filter"]) == (3, 1, None)
    assert found[1]["rows"] == 10
    assert set(found[1]) >= {"code_version", "started_at", "fingerprint", "user"}


def test_an_unknown_dataset_is_one_line_and_exit_2(project: Path) -> None:
    result = thermocline("runs", "--dataset", "nope", cwd=project)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "nope" in line
    assert "rides" in line  # it lists the datasets there are
    as_json = thermocline("runs", "--dataset", "nope", "--json", cwd=project)
    assert as_json.exit_code == 2
    assert "nope" in json.loads(as_json.stdout)["error"]
