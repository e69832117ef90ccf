"""The ``thermocline`` console script, run as a user runs it, on a copy of the demo project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import read_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]


def thermocline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "thermocline"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    shutil.copy(REPO_ROOT / "thermocline.yaml", tmp_path / "thermocline.yaml")
    return tmp_path


def test_demo_ingests_a_new_version_per_run(project: Path) -> None:
    for run in range(2):
        result = thermocline("demo", "--rows", "1000", cwd=project)
        assert result.returncode == 0, result.stderr
        assert f"as version {run}" in result.stdout
        assert "history of rides" in result.stdout

    listing = thermocline("history", "rides", "--json", cwd=project)
    assert listing.returncode == 0, listing.stderr
    commits = json.loads(listing.stdout)
    assert [c["version"] for c in commits] == [1, 0]
    assert [c["rows_added"] for c in commits] == [1000, 1000]
    assert commits[0]["reason"] == "ingest 1 file(s): rides-0001.csv"

    table = read_dataset(Lake.open(project / "lake"), "rides").to_table()
    assert table.num_rows == 2000
    assert pc.count_distinct(table["ride_id"]).as_py() == 2000
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert (project / "lake" / "rides").is_dir()
    assert any(p.name.startswith("day=") for p in (project / "lake" / "rides").iterdir())


def test_unknown_dataset_is_one_line_and_non_zero(project: Path) -> None:
    result = thermocline("history", "nope", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: unknown dataset 'nope' in {project / 'thermocline.yaml'}; datasets: rides"
    )


def test_dataset_without_a_table_says_what_to_do(project: Path) -> None:
    result = thermocline("history", "rides", cwd=project)
    assert result.returncode == 2
    assert "dataset 'rides' has no table" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
