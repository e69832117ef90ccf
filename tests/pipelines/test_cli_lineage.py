"""``thermocline lineage``: a tree from source files to training runs with each version's checks
and PII decisions, ``--json`` in its documented shape, and one line with exit 2 for bad input."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.retention import apply_retention
from thermocline.datasets.training import TableDataset

PROJECT = """
lake: {uri: ./lake}
datasets:
  rides:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, fare: float64, email: string}
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: range, column: fare, min: 0, severity: warn}
    pii: {columns: {email: hash}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    (tmp_path / "incoming").mkdir()
    loaded = load_project(tmp_path / "thermocline.yaml", environ={})
    catalog = Catalog(Lake.from_project(loaded))
    (tmp_path / "incoming" / "a.csv").write_text("id,fare,email\n1,3.0,ana@example.com\n")
    ingest(loaded, catalog, "rides")
    (tmp_path / "incoming" / "b.csv").write_text("id,fare,email\n2,-1.0,bo@example.com\n")
    ingest(loaded, catalog, "rides")
    loader = TableDataset("rides", catalog=catalog, version=1, columns=["fare"], run="model-1")
    next(iter(loader))
    return tmp_path


def test_the_tree_runs_from_files_to_the_training_run(project: Path) -> None:
    result = thermocline("lineage", "rides@1", cwd=project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rides@1 (files, 1 rows) | checks: 1 passed, 0 failed, 1 warned")
    assert "failing: range_fare" in lines[0]
    assert "PII: email: email -> hash" in lines[0]
    text = result.stdout
    assert f"consumed: file {(project / 'incoming' / 'b.csv').as_uri()}" in text
    assert "rows from: rides@0 (files, 1 rows) | checks: 2 passed, 0 failed" in text
    assert f"consumed: file {(project / 'incoming' / 'a.csv').as_uri()}" in text
    assert "read by, columns fare; seed 0, world size 1: run model-1" in text

    up = thermocline("lineage", "rides@1", "--up", "--depth", "1", cwd=project).stdout
    assert "a.csv" not in up  # two edges away
    assert "b.csv" in up
    assert "model-1" not in up


def test_a_training_run_is_a_starting_point_too(project: Path) -> None:
    result = thermocline("lineage", "run:model-1", "--up", cwd=project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run model-1")
    assert "rides@1 (files, 1 rows)" in result.stdout
    assert f"consumed: file {(project / 'incoming' / 'a.csv').as_uri()}" in result.stdout
    unknown = thermocline("lineage", "run:nope", cwd=project)
    assert unknown.exit_code == 2
    assert "nope" in unknown.stderr


def test_json_has_the_documented_shape(project: Path) -> None:
    result = thermocline("lineage", "rides", "--json", cwd=project)
    assert result.exit_code == 0, result.output
    shape = json.loads(result.stdout)
    assert set(shape) == {"root", "direction", "depth", "nodes", "edges"}
    assert (shape["root"], shape["direction"], shape["depth"]) == ("dataset:rides@1", "both", None)
    nodes = {n["id"]: n for n in shape["nodes"]}
    assert {n["type"] for n in nodes.values()} == {"file", "version", "run"}
    assert nodes["dataset:rides@1"]["checks"]["failing"] == ["range_fare"]
    assert nodes["dataset:rides@1"]["pii"] == [
        {"column": "email", "pii_class": "email", "action": "hash", "review": "detected"}
    ]
    assert nodes["run:model-1"]["reads"][0]["columns"] == ["fare"]
    kinds = sorted({e["kind"] for e in shape["edges"]})
    assert kinds == ["consumed", "part_of", "read"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nope@1"], "unknown dataset 'nope'"),
        (["rides@9"], "has no version 9"),
        (["rides@golden"], "unknown tag 'golden'"),
        (["rides@"], "names no dataset version"),
        (["rides", "--up", "--down"], "--up and --down exclude each other"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Path, args: list[str], says: str) -> None:
    result = thermocline("lineage", *args, cwd=project)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert says in result.stderr
    as_json = thermocline("lineage", *args, "--json", cwd=project)
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)
    assert says in error["error"]
    assert error["exit_code"] == 2


def test_a_tag_past_log_retention_traces_as_before(project: Path) -> None:
    catalog = Catalog(Lake.open(project / "lake"))
    catalog.set_tag("golden", "rides", 1)
    refs = ("rides@golden", "run:model-1")
    before = {ref: thermocline("lineage", ref, "--json", cwd=project) for ref in refs}
    assert all(r.exit_code == 0 for r in before.values()), before
    old = time.time() - 3600  # delta-rs's cleanup goes by the log files' modification time
    for path in (project / "lake" / "rides" / "_delta_log").iterdir():
        if path.name.split(".")[0].isdigit():
            os.utime(path, (old, old))
    result = apply_retention(catalog, "rides", retention_s=1)
    assert result.pinned_past_retention == [1]

    for ref in refs:
        after = thermocline("lineage", ref, "--json", cwd=project)
        assert after.exit_code == 0, after.output
        assert json.loads(after.stdout) == json.loads(before[ref].stdout), ref
    tree = thermocline("lineage", "rides@golden", "--up", cwd=project)
    assert f"consumed: file {(project / 'incoming' / 'a.csv').as_uri()}" in tree.stdout

    refused = thermocline("lineage", "rides@0", "--json", cwd=project)
    assert refused.exit_code == 2
    error = json.loads(refused.stdout)
    assert error["exit_code"] == 2
    assert (
        "rides version 0: log retention (1s, history.log_retention) removed it" in (error["error"])
    )
    plain = thermocline("lineage", "rides@0", cwd=project)
    assert plain.exit_code == 2
    assert plain.stderr.count("\n") == 1
    assert "Traceback" not in plain.output
