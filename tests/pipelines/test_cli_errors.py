"""How the command line fails: one line on stderr, exit 2 for bad input and 1 otherwise, and
with ``--json`` also one JSON object on stdout (``error``, ``field``, ``fix``, ``exit_code``)
that a script reads where it reads the command's output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cli_runner import thermocline
from click.testing import CliRunner, Result

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.cli import cli

PROJECT = "lake: {uri: ./lake}\ndatasets:\n  rides:\n    schema: {ride_id: int64, fare: float64}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(PROJECT)
    return tmp_path


def json_error(result: Result) -> dict[str, Any]:
    """The error object on stdout, after checking the one line on stderr agrees with it."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    error: dict[str, Any] = json.loads(result.stdout)
    assert set(error) == {"error", "field", "fix", "exit_code"}
    assert error["exit_code"] == result.exit_code
    assert lines[0] == f"error: {error['error']}"
    return error


def test_an_unknown_dataset_with_json_is_an_error_object(project: Path) -> None:
    error = json_error(thermocline("history", "nope", "--json", cwd=project))
    assert error["exit_code"] == 2
    assert error["error"].startswith("unknown dataset 'nope'")
    assert error["fix"] == "datasets: rides"


def test_a_project_file_mistake_names_its_field_and_fix(project: Path) -> None:
    (project / "thermocline.yaml").write_text("datasets:\n  a:\n    partition_by: day\n")
    error = json_error(thermocline("config", "check", "--json", cwd=project))
    assert error["exit_code"] == 2
    assert error["field"] == "datasets.a.partition_by"
    assert error["fix"] == "write a list, e.g. [day]"


def test_a_failure_that_is_not_the_input_exits_1_with_json(tmp_path: Path) -> None:
    (tmp_path / "thermocline.yaml").write_text(
        "lake:\n  uri: s3://bucket/lake\n"
        "  storage_options: {AWS_ENDPOINT_URL: 'http://127.0.0.1:9'}\n"
    )
    error = json_error(thermocline("config", "check", "--json", cwd=tmp_path))
    assert error["exit_code"] == 1
    assert error["fix"] == "set storage option AWS_ALLOW_HTTP: 'true' or use https"


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (["history", "--json"], "DATASET", "Missing argument 'DATASET'"),
        (["history", "rides", "--limit", "many", "--json"], "--limit", "'many' is not a valid"),
        (["history", "rides", "--colour", "--json"], "--colour", "No such option '--colour'"),
        (["diff", "rides", "0", "--json"], "B", "Missing argument 'B'"),
    ],
)
def test_usage_errors_with_json_are_error_objects(
    project: Path, args: list[str], field: str, message: str
) -> None:
    error = json_error(thermocline(*args, cwd=project))
    assert error["exit_code"] == 2
    assert error["field"] == field
    assert message in error["error"]
    assert error["fix"] == f"see 'thermocline {args[0]} --help'"


@pytest.mark.parametrize(
    "args",
    [["history"], ["history", "rides", "--limit", "many"], ["nonsense"], ["ingest", "batch"]],
)
def test_usage_errors_are_one_line(project: Path, args: list[str]) -> None:
    result = thermocline(*args, cwd=project)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "--help'" in lines[0]


def test_without_json_stdout_stays_empty_on_error(project: Path) -> None:
    result = thermocline("history", "nope", cwd=project)
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.fixture
def two_versions(project: Path) -> Path:
    """``rides`` with versions 0 (2 rows) and 1 (3 rows), tagged ``golden`` at 1."""
    catalog = Catalog(Lake.open(project / "lake"))
    for ids in ([1, 2], [3]):
        write(catalog, "rides", pa.table({"ride_id": ids, "fare": [1.0] * len(ids)}))
    catalog.set_tag("golden", "rides", 1)
    return project


@pytest.mark.parametrize(("a", "b"), [("1", "1"), ("golden", "1"), ("0", "0")])
def test_diff_of_a_version_with_itself_is_refused(two_versions: Path, a: str, b: str) -> None:
    result = thermocline("diff", "rides", a, b, "--json", cwd=two_versions)
    error = json_error(result)
    assert error["exit_code"] == 2
    assert f"{a!r} and {b!r} are both version {b} of rides" in error["error"]
    assert error["fix"] == "name two different versions"


def test_diff_backwards_says_so(two_versions: Path) -> None:
    shown = thermocline("diff", "rides", "golden", "0", cwd=two_versions)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith(
        "rides: version 1 -> 0 (backwards: what going back from 1 to 0 changes): +0 / -1 rows"
    )
    change = json.loads(thermocline("diff", "rides", "1", "0", "--json", cwd=two_versions).stdout)
    assert (change["backwards"], change["rows_removed"]) == (True, 1)
    forward = json.loads(thermocline("diff", "rides", "0", "1", "--json", cwd=two_versions).stdout)
    assert (forward["backwards"], forward["rows_added"]) == (False, 1)


@pytest.mark.parametrize(
    "args", [["rollback", "rides", "--to", "0"], ["release", "rollback", "r1"]]
)
def test_a_confirmation_prompt_keeps_json_stdout_clean(two_versions: Path, args: list[str]) -> None:
    Catalog(Lake.open(two_versions / "lake")).create_release("r1", {"rides": 0})
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(two_versions)
        declined = CliRunner().invoke(cli, [*args, "--json"], input="n\n")
        accepted = CliRunner().invoke(cli, [*args, "--json"], input="y\n")
    assert declined.exit_code == 130
    assert json.loads(declined.stdout)["error"] == "aborted"
    assert "roll back" in declined.stderr, "the question is asked on stderr"
    assert accepted.exit_code == 0, accepted.stderr
    assert json.loads(accepted.stdout)


def test_a_limit_or_retention_past_any_history_means_all_of_it(two_versions: Path) -> None:
    huge = "99999999999999999999"  # past a 64-bit integer: found by the fuzz test
    listed = thermocline("history", "rides", "--limit", huge, "--json", cwd=two_versions)
    assert listed.exit_code == 0, listed.stderr
    assert [c["version"] for c in json.loads(listed.stdout)] == [1, 0]
    kept = thermocline("vacuum", "rides", "--retention-hours", huge, "--json", cwd=two_versions)
    assert kept.exit_code == 0, kept.stderr
    assert json.loads(kept.stdout)["removed"] == []
