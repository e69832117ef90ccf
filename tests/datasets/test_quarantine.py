"""Quarantine you can act on (issue #13, item 4): per source file, replayed once, discarded.

A quarantined batch of several files keeps each file's rows and failed checks under its own
name, its positions count as consumed (the next run reads on), replay publishes it once (a
second or concurrent replay publishes nothing more), and discard records an event. Through the
API on both lakes, and through ``thermocline quarantine`` on the local one.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import CommitConflictError, QuarantineError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import quarantine as quarantine_module
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.quarantine import list_quarantined
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset, stored_files

CHECKED = """
lake: {{uri: {uri}}}
datasets:
  events:
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema: {{id: int64, city: string}}
    quality:
      checks:
{checks}
"""
NOT_NULL = "        - {check: not_null, columns: [id]}"
WARN_ONLY = "        - {check: not_null, columns: [id], severity: warn}"


def project_file(root: Path, lake: Lake, checks: str) -> Project:
    (root / "thermocline.yaml").write_text(
        textwrap.dedent(CHECKED).format(uri=json.dumps(lake.uri), checks=checks)
    )
    return load_project(root / "thermocline.yaml", environ={})


def land(root: Path, name: str, ids: list[int | None]) -> None:
    lines = ["id,city", *(f"{'' if i is None else i},c{i}" for i in ids)]
    (root / "incoming" / name).write_text("\n".join(lines) + "\n")


def ids(catalog: Catalog) -> list[int]:
    return sorted(read_dataset(catalog, "events").to_table(columns=["id"])["id"].to_pylist())


@pytest.fixture
def landed(tmp_path: Path, lake: Lake) -> Project:
    """events has a.csv published; b.csv, c.csv and d.csv (b and d with null ids) quarantined."""
    (tmp_path / "incoming").mkdir()
    project = project_file(tmp_path, lake, NOT_NULL)
    land(tmp_path, "a.csv", [1])
    assert ingest(project, Catalog(lake), "events").status == "published"
    land(tmp_path, "b.csv", [10, None])
    land(tmp_path, "c.csv", [20, 21, 22])
    land(tmp_path, "d.csv", [None])
    assert ingest(project, Catalog(lake), "events").status == "quarantined"
    return project


def test_a_three_file_batch_keeps_each_files_rows_under_its_own_name(
    landed: Project, lake: Lake
) -> None:
    catalog = Catalog(lake)
    (record,) = list_quarantined(catalog, "events")
    assert [s.source.rsplit("/", 1)[-1] for s in record.sources] == ["b.csv", "c.csv", "d.csv"]
    assert [s.rows for s in record.sources] == [2, 3, 1]
    for source, expected in zip(record.sources, [[10, None], [20, 21, 22], [None]], strict=True):
        read = [
            pq.read_table(f"{record.path}/{p}", filesystem=lake.filesystem) for p in source.files
        ]
        assert sorted(read[0]["id"].to_pylist(), key=str) == sorted(expected, key=str)
        assert [r["id"] for r in source.sample] == expected
        assert source.position["size"] == Path(source.source.removeprefix("file://")).stat().st_size
    b, c, d = record.sources
    assert [(x["check"], x["failing_rows"]) for x in b.checks] == [("not_null_id", 1)]
    assert c.checks == [], "c.csv passed: it is quarantined only as part of its batch"
    assert [(x["check"], x["failing_rows"]) for x in d.checks] == [("not_null_id", 1)]
    assert record.reasons == ["id: 2 of 6 rows are null"]
    with lake.filesystem.open_input_stream(f"{record.path}/reasons.json") as stream:
        assert json.loads(stream.read())["source"]["sources"] == [s.source for s in record.sources]
    assert ingest(landed, catalog, "events").status == "nothing_new", "its input is consumed"


def test_replay_publishes_once_and_twice_publishes_nothing_more(
    landed: Project, lake: Lake, tmp_path: Path
) -> None:
    catalog = Catalog(lake)
    (record,) = list_quarantined(catalog, "events")
    with pytest.raises(QuarantineError, match="still fails id: 2 of 6 rows are null"):
        replay(landed, catalog, record.id)
    assert ids(catalog) == [1]

    relaxed = project_file(tmp_path, lake, WARN_ONLY)  # the check was too strict
    first = replay(relaxed, catalog, record.id[:8])
    assert (first.status, first.rows) == ("published", 6)
    assert read_dataset(catalog, "events").count_rows() == 7
    again = replay(relaxed, catalog, record.id)
    assert (again.status, again.version) == ("already_replayed", first.version)
    assert read_dataset(catalog, "events").count_rows() == 7
    assert open_table(lake, "events").version() == first.version
    assert [q.state for q in list_quarantined(catalog, "events")] == ["replayed"]
    assert ingest(relaxed, catalog, "events").status == "nothing_new"


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_a_concurrent_replay_loses_cleanly(
    landed: Project, lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replays of one batch: the second to publish is refused, leaves no staged file, and
    the rows are in the table once."""
    catalog = Catalog(lake)
    relaxed = project_file(tmp_path, lake, WARN_ONLY)
    (record,) = list_quarantined(catalog, "events")
    real_publish = quarantine_module.publish_keyed

    def rival_first(*args: Any, **options: Any) -> int:
        monkeypatch.setattr(quarantine_module, "publish_keyed", real_publish)
        assert replay(relaxed, catalog, record.id).status == "published"  # the rival
        return real_publish(*args, **options)

    monkeypatch.setattr(quarantine_module, "publish_keyed", rival_first)
    with pytest.raises(CommitConflictError):
        replay(relaxed, catalog, record.id)
    assert read_dataset(catalog, "events").count_rows() == 7
    table = open_table(lake, "events")
    data_files = {p for p in stored_files(lake, "events") if not p.startswith("_delta_log/")}
    assert data_files == {a["path"] for a in live_files(table)}, "the loser's staging is gone"


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_the_quarantine_commands(landed: Project, lake: Lake, tmp_path: Path) -> None:
    listed = thermocline("quarantine", "list", "--json", cwd=tmp_path)
    assert listed.exit_code == 0, listed.output
    (record,) = json.loads(listed.stdout)
    assert (record["dataset"], record["rows"], len(record["sources"])) == ("events", 6, 3)
    shown = thermocline("quarantine", "show", record["id"][:10], cwd=tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "b.csv: 2 rows" in shown.stdout
    assert "FAIL not_null_id (1 failing)" in shown.stdout
    refused = thermocline("quarantine", "replay", record["id"], cwd=tmp_path)
    assert refused.exit_code == 1
    assert "still fails" in refused.stderr
    unknown = thermocline("quarantine", "show", "nope", cwd=tmp_path)
    assert unknown.exit_code == 2
    assert "matches no quarantined batch" in unknown.stderr
    dropped = thermocline("quarantine", "discard", record["id"], "--reason", "bad", cwd=tmp_path)
    assert dropped.exit_code == 0, dropped.output
    assert "discarded 6 rows of events" in dropped.stdout
    assert json.loads(thermocline("quarantine", "list", "--json", cwd=tmp_path).stdout) == []
    (event,) = Catalog(lake).events("events", kinds=["quarantine_discard"])
    assert event.reason == "bad"
