"""``thermocline checks``: a version's results as a table, a history grid of pass/fail per check,
the same data as ``--json``, a quarantined batch's results, and one line with exit 2 for bad
input. The lake is built by real ingest runs: events v0 (clean), v1 (a city missing: the
warning fails), v2 (positions only: a batch with a null id was quarantined)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.quarantine import quarantine_id_of

PROJECT = """
lake: {uri: ./lake}
datasets:
  events:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, city: string}
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: completeness, column: city, min_ratio: 0.9, severity: warn}
"""


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The project folder and the quarantine id of the batch kept out."""
    root = tmp_path_factory.mktemp("checks")
    (root / "incoming").mkdir()
    (root / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    project = load_project(root / "thermocline.yaml", environ={})
    catalog = Catalog(Lake.from_project(project))
    statuses, kept = [], None
    for name, text in [("a", "1,oslo\n2,bergen"), ("b", "3,oslo\n4,"), ("c", ",oslo")]:
        (root / "incoming" / f"{name}.csv").write_text(f"id,city\n{text}\n")
        outcome = ingest(project, catalog, "events")
        statuses.append(outcome.status)
        kept = outcome.quarantine_path or kept
    assert statuses == ["published", "published", "quarantined"]
    assert kept is not None
    return root, quarantine_id_of(kept)


def cells(stdout: str) -> list[list[str]]:
    """The body rows of a printed table, as stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def test_a_version_as_a_table(judged: tuple[Path, str]) -> None:
    root, _ = judged
    result = thermocline("checks", "events@1", cwd=root)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("checks of events version 1, judged 20")
    rows = cells(result.stdout)
    assert [row[:4] for row in rows] == [
        ["not_null_id", "builtin", "error", "pass"],
        ["completeness_city", "builtin", "warn", "warn"],
    ]
    assert rows[1][-1] == "city: 50% non-null (1 of 2 rows), below min 90%"


def test_the_latest_version_is_the_quarantines_positions(judged: tuple[Path, str]) -> None:
    root, quarantine_id = judged
    for args in (["events"], ["events@latest"]):
        result = thermocline("checks", *args, cwd=root)
        assert result.exit_code == 0, result.output
        title = result.stdout.splitlines()[0]
        assert title.startswith("checks of events version 2")
        assert f"positions only: its batch was quarantined as {quarantine_id[:12]}" in title
        assert [row[3] for row in cells(result.stdout)] == ["FAIL", "pass"]
    shown = thermocline("checks", "--quarantine", quarantine_id[:8], cwd=root)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"checks of events quarantined batch {quarantine_id}")
    assert cells(shown.stdout)[0][:4] == ["not_null_id", "builtin", "error", "FAIL"]


def test_history_is_a_grid_of_checks_by_version(judged: tuple[Path, str]) -> None:
    """Newest first, the quarantined batch too (as the version that published its positions,
    marked held): a history that left out what failed would only ever show passes."""
    root, _ = judged
    result = thermocline("checks", "events", "--history", "5", cwd=root)
    assert result.exit_code == 0, result.output
    assert "the newest 3 judged versions" in result.stdout.splitlines()[0]
    header = next(line for line in result.stdout.splitlines() if "v1" in line)
    assert header.index("v2 held") < header.index("v1") < header.index("v0"), "newest first"
    assert cells(result.stdout) == [
        ["not_null_id", "FAIL", "pass", "pass"],
        ["completeness_city", "pass", "warn", "pass"],
    ]
    two = thermocline("checks", "events", "--history", "2", cwd=root)
    assert cells(two.stdout) == [
        ["not_null_id", "FAIL", "pass"],
        ["completeness_city", "pass", "warn"],
    ]


def test_json_gives_the_same_data(judged: tuple[Path, str]) -> None:
    root, _ = judged
    result = thermocline("checks", "events@1", "--json", cwd=root)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["dataset"], found["version"], found["judged_version"]) == ("events", 1, 1)
    assert [(r["name"], r["passed"], r["severity"]) for r in found["results"]] == [
        ("not_null_id", True, "error"),
        ("completeness_city", False, "warn"),
    ]
    assert found["results"][1]["metadata"]["rows"] == 2
    history = json.loads(
        thermocline("checks", "events", "--history", "5", "--json", cwd=root).stdout
    )
    assert [(h["version"], h["quarantine_id"] is not None) for h in history] == [
        (2, True),
        (1, False),
        (0, False),
    ]
    assert history[1]["results"] == found["results"]


@pytest.mark.parametrize(
    "args",
    [
        ["nope"],
        ["nope@1"],
        ["events@9"],
        ["events@golden"],
        ["events@"],
        ["events", "--history", "0"],
        ["events@1", "--history", "2"],
        ["--quarantine", "feedface"],
        [],
    ],
)
def test_bad_input_is_one_line_and_exit_2(judged: tuple[Path, str], args: list[str]) -> None:
    root, _ = judged
    result = thermocline("checks", *args, cwd=root)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    as_json = thermocline("checks", *args, "--json", cwd=root)
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["exit_code"] == 2
