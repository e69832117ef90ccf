"""``thermocline maintain``: one command compacts, vacuums and trims the log under the
dataset's ``history:`` policy; a tag stays readable past retention, an unpinned version is
refused with one line; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import read_dataset
from thermocline.datasets.tables.writes import write

PROJECT = """
lake:
  uri: ./lake
datasets:
  clicks:
    schema: {id: int64}
    history: {log_retention: 1h, checkpoint_interval: 50}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    for batch in range(12):
        write(catalog, "clicks", pa.table({"id": pa.array([batch] * 2, pa.int64())}))
    catalog.set_tag("golden", "clicks", 3)
    return tmp_path


def age_log(project: Path) -> None:
    """Two hours old: past the one-hour retention (cleanup goes by modification time)."""
    old = time.time() - 7200
    for path in (project / "lake" / "clicks" / "_delta_log").glob("0*"):
        os.utime(path, (old, old))


def test_maintain_trims_the_log_and_keeps_the_tag(project: Path) -> None:
    first = thermocline("maintain", "clicks", "--json", cwd=project)
    assert first.exit_code == 0, first.stderr
    # Its compaction is a new commit within the retention, and no checkpoint precedes it:
    # delta-rs keeps every version the retention covers readable, so nothing goes yet.
    assert json.loads(first.stdout)["retention"]["readable_from"] == 0
    age_log(project)  # a night later
    result = thermocline("maintain", "clicks", "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    retention = summary["retention"]
    assert retention["retention"] == "1h"
    assert retention["readable_from"] == retention["checkpoint_version"] > 3
    assert retention["pinned_past_retention"] == [3]
    catalog = Catalog(Lake.open(project / "lake"))
    tagged = read_dataset(catalog, "clicks", at="golden").to_table()["id"].to_pylist()
    assert sorted(tagged) == [0, 0, 1, 1, 2, 2, 3, 3]

    refused = thermocline("rollback", "clicks", "--to", "5", cwd=project)
    assert refused.exit_code == 2
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "log retention (1h, history.log_retention) removed it" in refused.stderr
    assert f"the oldest readable version is {retention['readable_from']}" in refused.stderr

    text = thermocline("maintain", "clicks", cwd=project)
    assert text.exit_code == 0, text.stderr
    assert "log retention 1h: readable history starts at version" in text.stdout
    assert "pinned versions kept readable past retention: 3" in text.stdout

    history = thermocline("history", "clicks", "--all", cwd=project)
    assert history.exit_code == 0, history.stderr
    assert (
        f"readable history starts at version {retention['readable_from']}: log retention (1h"
        in history.stdout
    )


def test_maintain_bad_input_is_one_line_exit_2(project: Path) -> None:
    unknown = thermocline("maintain", "nope", cwd=project)
    assert unknown.exit_code == 2
    assert "unknown dataset 'nope'" in unknown.stderr
    negative = thermocline("maintain", "clicks", "--vacuum-hours", "-1", cwd=project)
    assert negative.exit_code == 2
    assert negative.stderr.strip().count("\n") == 0


def test_a_restore_point_keeps_a_time_past_the_log_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(PROJECT).replace(
            "checkpoint_interval: 50}", "checkpoint_interval: 50, restore_points: {every: 1h}}"
        )
    )
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    for batch in range(4):
        write(catalog, "clicks", pa.table({"id": pa.array([batch], pa.int64())}))
    first = thermocline("maintain", "clicks", cwd=tmp_path)
    assert first.exit_code == 0, first.stderr
    point = max(catalog.pinned_files.restore_points("clicks"))
    assert f"restore point recorded at version {point}" in first.stdout
    committed = catalog.pinned_files.restore_points("clicks")[point]
    for batch in range(4, 8):
        write(catalog, "clicks", pa.table({"id": pa.array([batch], pa.int64())}))
    age_log(tmp_path)
    again = thermocline("maintain", "clicks", "--json", cwd=tmp_path)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["retention"]["readable_from"] > point

    history = thermocline("history", "clicks", cwd=tmp_path)
    assert history.exit_code == 0, history.stderr
    assert f"1 restore point past it (history.restore_points), the oldest version {point}" in (
        " ".join(history.stdout.split())
    )
    with caplog.at_level("WARNING"):
        back = thermocline(
            "rollback", "clicks", "--to", committed.isoformat(), "--yes", cwd=tmp_path
        )
    assert back.exit_code == 0, back.stderr
    assert f"reading restore point version {point}" in caplog.text
    ids = read_dataset(catalog, "clicks").to_table()["id"].to_pylist()
    assert sorted(ids) == [0, 1, 2, 3], "the table as it was at the restore point"
