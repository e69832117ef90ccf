"""``thermocline train MODEL``: trains on a pinned version, tags it and prints what it read;
bad input is one line and exit 2, a failing training function one line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import thermocline
from model_project import MODEL, add_rides, model_project, write_broken_models

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import TagNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest


def published(root: Path, train: str | None = None, versions: int = 1) -> Catalog:
    """The model project in ``root`` with ``versions`` published versions of rides."""
    file = model_project(root, train=train) if train else model_project(root)
    project = load_project(file, environ={})
    catalog = Catalog(Lake.from_project(project))
    for _ in range(versions):
        add_rides(root, 2_000)
        assert ingest(project, catalog, "rides").status == "published"
    return catalog


def test_train_prints_the_version_run_metrics_and_tag(tmp_path: Path) -> None:
    catalog = published(tmp_path, versions=2)

    result = thermocline("train", MODEL, "--run", "cli-run-1", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"trained {MODEL} on rides@1 in run cli-run-1"
    assert lines[1].startswith("metrics: loss_first=")
    assert "steps=200" in lines[1]
    assert lines[2] == f"tagged rides@{MODEL} -> version 1"
    assert catalog.tag("rides", MODEL).version == 1
    assert [r.version for r in catalog.runs.find("rides", "cli-run-1")] == [1]


def test_train_a_given_version_as_json(tmp_path: Path) -> None:
    catalog = published(tmp_path, versions=2)

    result = thermocline("train", MODEL, "--version", "0", "--json", cwd=tmp_path)

    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["ref"], found["dataset"], found["version"]) == ("rides@0", "rides", 0)
    assert (found["model"], found["tag"]) == (MODEL, MODEL)
    assert found["metrics"]["loss_last"] < 0.5 * found["metrics"]["loss_first"]
    assert found["columns"] == ["distance_km", "started_at", "fare"]
    assert [r.run_id for r in catalog.runs.find("rides")] == [found["run_id"]]
    assert catalog.tag("rides", MODEL).version == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nope"], f"unknown model 'nope'; models: {MODEL}"),
        ([MODEL, "--version", "9"], "rides"),
        ([MODEL, "--version", "-1"], "--version"),
        ([MODEL, "--run", " "], "--run"),
        ([], "MODEL"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    catalog = published(tmp_path)

    result = thermocline("train", *args, cwd=tmp_path)

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert says in line
    as_json = thermocline("train", *args, "--json", cwd=tmp_path)
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["exit_code"] == 2
    with pytest.raises(TagNotFoundError):
        catalog.tag("rides", MODEL)


def test_a_failing_training_function_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_broken_models(tmp_path)
    catalog = published(tmp_path, train=f"{module}:raises")

    result = thermocline("train", MODEL, cwd=tmp_path)

    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert f"{module}:raises raised RuntimeError: the optimizer diverged" in line
    assert "was not tagged" in line
    with pytest.raises(TagNotFoundError):
        catalog.tag("rides", MODEL)
