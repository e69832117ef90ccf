"""``thermocline erase`` run in-process as a user runs it: the dry run, the refusal through a
tag without --force, one-line errors with exit 2, and time travel refusing afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import open_table
from thermocline.datasets.tables.writes import write

PROJECT = """
lake: {uri: ./lake}
datasets:
  trips:
    schema: {trip_id: int64, rider_id: int64}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """trips v0 (riders 2, 3), v1 (+ rider 1), v2 (overwrite); tag `before` at v1."""
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(PROJECT)
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    for rows, mode in (([2, 3], "append"), ([1, 2], "append"), ([2, 3, 1, 2], "overwrite")):
        data = pa.table({"trip_id": range(len(rows)), "rider_id": pa.array(rows, pa.int64())})
        write(catalog, "trips", data, mode=mode)  # type: ignore[arg-type]
    catalog.set_tag("before", "trips", 1)
    return tmp_path


def test_erase_through_the_command_line(project: Path) -> None:
    key = ("--key", "rider_id=1", "--dataset", "trips")
    dry = thermocline("erase", *key, "--dry-run", cwd=project)
    assert dry.exit_code == 0, dry.stderr
    assert "dry run: would erase 1 row(s) by rider_id" in dry.stdout
    assert "versions that would become unreadable: 1-2" in dry.stdout
    assert "points at them: tag trips@before (version 1)" in dry.stdout

    refused = thermocline("erase", *key, cwd=project)
    assert refused.exit_code == 2
    assert "tag trips@before (version 1)" in refused.stderr
    assert "--force" in refused.stderr
    assert open_table(Lake.open(project / "lake"), "trips").version() == 2

    done = thermocline("erase", *key, "--force", "--reason", "ticket 7", "--json", cwd=project)
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 1
    assert result["datasets"][0]["broken_versions"] == [[1, 2]]
    assert result["datasets"][0]["new_version"] == 3

    back = thermocline("rollback", "trips", "--to", "before", "--yes", cwd=project)
    assert back.exit_code == 2
    assert back.stderr.startswith("error: cannot read trips version 1 (tag before): erasure ")
    assert "(reason: ticket 7)" in back.stderr
    tag = thermocline("tag", "trips@2", "again", cwd=project)
    assert tag.exit_code == 2
    assert "erasure" in tag.stderr
    counts = thermocline("diff", "trips", "1", "3", cwd=project)
    assert counts.exit_code == 0, "counts come from the log, which the erasure keeps"
    sample = thermocline("diff", "trips", "1", "3", "--rows", "2", cwd=project)
    assert sample.exit_code == 2
    assert "erasure" in sample.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "rider_id=zebra7", "--dataset", "trips"], "does not parse as column"),
        (["--key", "nope=1", "--all"], "no dataset has a column 'nope'"),
        (["--key", "rider_id=1", "--dataset", "ghost"], "unknown dataset 'ghost'"),
        (["--key", "rider_id", "--all"], "--key must be COLUMN=VALUE"),
        (["--key", "rider_id=1"], "--dataset D (repeatable) or --all"),
    ],
)
def test_bad_erase_input_is_one_line_and_exit_2(
    project: Path, args: list[str], message: str
) -> None:
    result = thermocline("erase", *args, cwd=project)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "zebra7" not in result.stderr, "the value is never repeated"
    assert open_table(Lake.open(project / "lake"), "trips").version() == 2
