"""One write-audit-publish run from a project's batch source, on both lakes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import CHECKS_KEY, QUARANTINE_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.errors import CommitConflictError, DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import run as run_module
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset, stored_files

PROJECT = """
datasets:
  events:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, city: string}
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: completeness, column: city, min_ratio: 0.9, severity: warn}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "incoming").mkdir()
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    return load_project(tmp_path / "thermocline.yaml", environ={})


def add(project: Project, name: str, text: str) -> None:
    (project.root / "incoming" / name).write_text(textwrap.dedent(text).lstrip())


def quarantined_reasons(lake: Lake) -> list[str]:
    found = lake.filesystem.get_file_info(pafs.FileSelector("_quarantine", recursive=True))
    reasons = []
    for info in found:
        if info.path.endswith("reasons.json"):
            with lake.filesystem.open_input_stream(info.path) as stream:
                reasons += json.loads(stream.read())["reasons"]
    return reasons


def assert_positions_only(lake: Lake, dataset: str, quarantine_path: str | None) -> None:
    """The version after the first holds no rows: it publishes the quarantined batch's source
    positions (so the next run does not read it again) and names the quarantine."""
    table = open_table(lake, dataset)
    assert table.version() == 1
    assert table.history(1)[0][QUARANTINE_KEY] == quarantine_path
    assert read_dataset(Catalog(lake), dataset).count_rows() == (
        read_dataset(Catalog(lake), dataset, at=0).count_rows()
    )


def test_a_warn_failure_publishes_with_the_check_summary(project: Project, lake: Lake) -> None:
    add(project, "a.csv", "id,city\n1,oslo\n2,\n3,\n")
    outcome = ingest(project, Catalog(lake), "events")
    assert (outcome.status, outcome.version, outcome.rows) == ("published", 0, 3)
    warned = [c for c in outcome.checks if not c.passed]
    assert [(c.name, c.severity) for c in warned] == [("completeness_city", "warn")]
    summary = json.loads(open_table(lake, "events").history(1)[0][CHECKS_KEY])
    assert summary["completeness_city"]["passed"] is False
    assert summary["not_null_id"]["passed"] is True
    assert ingest(project, Catalog(lake), "events").status == "nothing_new"


def test_an_error_failure_quarantines_and_publishes_nothing(project: Project, lake: Lake) -> None:
    add(project, "a.csv", "id,city\n1,oslo\n")
    assert ingest(project, Catalog(lake), "events").status == "published"
    add(project, "b.csv", "id,city\n2,oslo\n,bergen\n")
    outcome = ingest(project, Catalog(lake), "events")
    assert outcome.status == "quarantined"
    assert_positions_only(lake, "events", outcome.quarantine_path)
    assert read_dataset(Catalog(lake), "events").count_rows() == 1
    assert quarantined_reasons(lake) == ["id: 1 of 2 rows are null"]
    assert ingest(project, Catalog(lake), "events").status == "nothing_new", "b.csv consumed"


def test_an_incompatible_type_quarantines_with_the_column_named(tmp_path: Path, lake: Lake) -> None:
    """Without a declared schema the first batch sets the types; a clash later is quarantined."""
    (tmp_path / "incoming").mkdir()
    (tmp_path / "thermocline.yaml").write_text(
        "datasets:\n  inferred:\n    source: {kind: files, url: incoming/*.csv, format: csv}\n"
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    add(project, "a.csv", "id,city\n1,oslo\n")
    assert ingest(project, Catalog(lake), "inferred").status == "published"
    add(project, "b.csv", "id,city\nabc,oslo\n")
    outcome = ingest(project, Catalog(lake), "inferred")
    assert outcome.status == "quarantined"
    assert_positions_only(lake, "inferred", outcome.quarantine_path)
    (reason,) = quarantined_reasons(lake)
    assert "id" in reason
    assert "int64" in reason
    assert "string" in reason


def test_a_run_that_loses_the_race_discards_its_staging_and_the_retry_loads_the_rest(
    project: Project, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #13: a rival run publishes between this run's read and its publish. This run's
    listing overlaps the rival's, so its batch must not be published and must leave no staged
    file behind; it reads again and loads what is left, and every row is in the table once."""
    catalog = Catalog(lake)
    add(project, "a.csv", "id,city\n1,oslo\n2,rome\n")
    read_new = run_module.read_new

    def read_then_lose(*args: Any, **options: Any) -> Any:
        batch = read_new(*args, **options)  # this run sees a.csv and b.csv...
        monkeypatch.setattr(run_module, "read_new", read_new)
        rival = ingest(project, catalog, "events")  # ...and a rival publishes them first
        assert (rival.status, rival.rows) == ("published", 4)
        add(project, "c.csv", "id,city\n5,lima\n")
        return batch

    add(project, "b.csv", "id,city\n3,kyiv\n4,oslo\n")
    monkeypatch.setattr(run_module, "read_new", read_then_lose)
    outcome = ingest(project, catalog, "events")  # loses, reads again: c.csv is what is left
    assert (outcome.status, outcome.rows) == ("published", 1)
    table = open_table(lake, "events")
    assert table.version() == 1, "the rival's version, then the retry's"
    data_files = {p for p in stored_files(lake, "events") if not p.startswith("_delta_log/")}
    assert data_files == {a["path"] for a in live_files(table)}, "the loser's staging is gone"
    ids = read_dataset(catalog, "events").to_table()["id"].to_pylist()
    assert sorted(ids) == [1, 2, 3, 4, 5]


def test_a_run_that_keeps_losing_the_race_says_so(
    project: Project, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its retries a run raises the conflict, with nothing of its own published."""
    catalog = Catalog(lake)
    read_new = run_module.read_new
    landed = iter(range(100))

    def read_then_lose(*args: Any, **options: Any) -> Any:
        batch = read_new(*args, **options)
        with monkeypatch.context() as inner:
            inner.setattr(run_module, "read_new", read_new)
            assert ingest(project, catalog, "events").status == "published"  # the rival
        add(project, f"n{next(landed)}.csv", "id,city\n9,oslo\n")  # and more keeps landing
        return batch

    add(project, "a.csv", "id,city\n1,oslo\n")
    monkeypatch.setattr(run_module, "read_new", read_then_lose)
    with pytest.raises(CommitConflictError, match="another run published this input first"):
        ingest(project, catalog, "events")
    assert next(landed) == run_module.CONFLICT_RETRIES + 1


def test_files_without_rows_publish_nothing_and_are_read_once_they_have_rows(
    project: Project, lake: Lake
) -> None:
    """Issue #13: an empty CSV committed an empty version. A header-only or zero-byte file
    publishes nothing (the outcome says so) and stays unconsumed, so rows written into it later
    (a file still being written when listed) are loaded."""
    catalog = Catalog(lake)
    add(project, "header.csv", "id,city\n")
    (project.root / "incoming" / "zero.csv").write_bytes(b"")
    first = ingest(project, catalog, "events")
    assert first.status == "nothing_new"
    assert "no rows" in first.description
    assert "nothing published" in first.description
    with pytest.raises(DatasetNotFoundError):
        open_table(lake, "events")

    add(project, "a.csv", "id,city\n1,oslo\n")
    assert ingest(project, catalog, "events").version == 0
    add(project, "more.csv", "id,city\n")
    assert ingest(project, catalog, "events").status == "nothing_new"
    assert open_table(lake, "events").version() == 0

    add(project, "zero.csv", "id,city\n2,rome\n")
    loaded = ingest(project, catalog, "events")
    assert (loaded.status, loaded.rows, loaded.version) == ("published", 1, 1)
    assert sorted(read_dataset(catalog, "events").to_table()["id"].to_pylist()) == [1, 2]
