"""Lineage past log retention: a tagged version whose commits retention removed still traces to
the same source files, checks and input versions (from the provenance recorded with its pinned
files); an unpinned one is refused with one line naming the retention. Log files are aged with
os.utime (delta-rs's cleanup goes by storage modification time), so these run on a local lake.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import INPUTS_KEY, KIND_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.errors import ExpiredVersionError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.lineage import lineage, sources
from thermocline.datasets.tables.lineage_graph import SourceFile
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.pins import capture_pinned
from thermocline.datasets.tables.retention import apply_retention, retention_properties
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import publish

PROJECT = """
datasets:
  trips:
    source: {kind: files, url: landing/*.csv, format: csv}
    schema: {id: int64, day: date32, fare: float64}
    partition_by: [day]
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: range, column: fare, min: 0, severity: warn}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "landing").mkdir()
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    return load_project(tmp_path / "thermocline.yaml", environ={})


def land(project: Project, name: str, rows: list[tuple[int, str, float]]) -> None:
    lines = ["id,day,fare", *(f"{i},{d},{f}" for i, d, f in rows)]
    (project.root / "landing" / name).write_text("\n".join(lines) + "\n")


def age_log(lake: Lake, dataset: str) -> None:
    """Make ``dataset``'s log files an hour old."""
    old = time.time() - 3600
    for path in (Path(lake.uri) / dataset / "_delta_log").iterdir():
        if path.name.split(".")[0].isdigit():
            os.utime(path, (old, old))


def trim(catalog: Catalog, lake: Lake, dataset: str, past: int) -> None:
    """Age ``dataset``'s log an hour and apply a one-second retention until the log no longer
    reaches version ``past``."""
    age_log(lake, dataset)
    wait_until(
        lambda: apply_retention(catalog, dataset, retention_s=1).readable_from > past,
        timeout=60,
        what=f"log retention of {dataset} to pass version {past}",
        every=0.5,
    )


def four_loads(project: Project, catalog: Catalog) -> None:
    """trips@0..3: a.csv, then b.csv (a negative fare: a warning), then c.csv, then d.csv."""
    land(project, "a.csv", [(1, "2026-11-01", 3.0), (2, "2026-11-02", 4.0)])
    ingest(project, catalog, "trips")
    land(project, "b.csv", [(3, "2026-11-02", -1.0)])
    ingest(project, catalog, "trips")
    land(project, "c.csv", [(4, "2026-11-03", 5.0)])
    ingest(project, catalog, "trips")
    land(project, "d.csv", [(5, "2026-11-04", 6.0)])
    ingest(project, catalog, "trips")


def derive(catalog: Catalog, lake: Lake, inputs: dict[str, int]) -> int:
    staged = stage(lake, "features", pa.table({"id": [1, 2], "fare_x2": [6.0, 8.0]}))
    metadata = {KIND_KEY: "derived", INPUTS_KEY: json.dumps(inputs)}
    return publish(catalog, staged, metadata=metadata)


def read_by_run(catalog: Catalog, dataset: str, version: int, run: str) -> None:
    from thermocline.datasets.training import TableDataset

    next(iter(TableDataset(dataset, catalog=catalog, version=version, run=run)))


def shape(catalog: Catalog, ref: str, direction: str = "both") -> dict[str, Any]:
    return lineage(catalog, ref, direction=direction).to_dict()  # type: ignore[arg-type]


def test_a_tagged_version_keeps_its_lineage_past_retention(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    assert derive(catalog, local_lake, {"trips": 1}) == 0
    read_by_run(catalog, "trips", 1, "m-1")
    refs = {"trips@golden": "both", "trips@1": "up", "run:m-1": "up", "features@0": "up"}
    before = {ref: shape(catalog, ref, d) for ref, d in refs.items()}
    files = {s.url for s in sources(lineage(catalog, "trips@golden", direction="up"))}
    assert {Path(url).name for url in files} == {"a.csv", "b.csv"}, "what the tag holds"

    trim(catalog, local_lake, "trips", past=1)
    assert readable_from(local_lake, "trips") > 1

    after = {ref: shape(catalog, ref, d) for ref, d in refs.items()}
    for ref, graph in before.items():
        assert after[ref] == graph, f"lineage of {ref} changed past retention"


def test_an_unpinned_version_past_retention_is_refused(project: Project, local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    trim(catalog, local_lake, "trips", past=2)
    oldest = readable_from(local_lake, "trips")
    with pytest.raises(ExpiredVersionError) as refused:
        lineage(catalog, "trips@2")
    message = str(refused.value)
    assert "\n" not in message
    assert "trips version 2" in message
    assert "log retention (1s, history.log_retention)" in message
    assert f"the oldest readable version is {oldest}" in message
    assert lineage(catalog, "trips@golden").nodes, "the tagged one still answers"
    # going down from a pinned version past retention reads the logs that remain
    down = lineage(catalog, "trips@golden", direction="down")
    assert down.root == "dataset:trips@1"


def test_a_derived_version_past_retention_traces_through_its_pinned_input(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    assert derive(catalog, local_lake, {"trips": 1}) == 0
    assert derive(catalog, local_lake, {"trips": 3}) == 1
    catalog.set_tag("first", "features", 0)
    # Going down from trips@1 passes trips@3 (it still holds trips@1's rows and features@1 was
    # computed from it): pinned too, so what retention removes is kept for both.
    catalog.set_tag("v3", "trips", 3)
    catalog.set_tag("second", "features", 1)
    read_by_run(catalog, "features", 0, "m-2")
    refs = {"features@first": "up", "run:m-2": "up", "trips@golden": "down"}
    before = {ref: shape(catalog, ref, d) for ref, d in refs.items()}
    down = {e["target"] for e in before["trips@golden"]["edges"]}
    assert {"dataset:trips@3", "dataset:features@1", "run:m-2"} <= down
    files = {
        Path(s.url).name
        for s in sources(lineage(catalog, "run:m-2", direction="up"))
        if isinstance(s, SourceFile)
    }
    assert files == {"a.csv", "b.csv"}

    trim(catalog, local_lake, "trips", past=1)
    trim(catalog, local_lake, "features", past=0)
    assert readable_from(local_lake, "features") > 0

    after = {ref: shape(catalog, ref, d) for ref, d in refs.items()}
    for ref, graph in before.items():
        assert after[ref] == graph, f"lineage of {ref} changed past retention"


def test_a_run_that_read_an_unpinned_version_past_retention_is_refused(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    read_by_run(catalog, "trips", 2, "m-3")
    assert sources(lineage(catalog, "run:m-3", direction="up")), "traced before retention"
    trim(catalog, local_lake, "trips", past=2)
    with pytest.raises(ExpiredVersionError) as refused:
        lineage(catalog, "run:m-3", direction="up")
    assert "trips version 2 (read by run:m-3)" in str(refused.value)
    assert "\n" not in str(refused.value)


# ``_catalog/pinned_files`` as the first release of log retention wrote it.
OLD_PINNED_FILES = pa.schema(
    [
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("schema", pa.binary()),
        ("partition_by", pa.string()),
        ("files", pa.string()),
        ("captured_at", pa.timestamp("us", tz="UTC")),
    ]
)


def downgrade_pinned_files(lake: Lake) -> None:
    """Rewrite ``_catalog/pinned_files`` as a lake from before the provenance column holds it:
    the same rows, without the column."""
    from deltalake import DeltaTable

    from thermocline.catalog.store import CatalogTable

    uri = lake.table_uri("_catalog/pinned_files")
    rows = DeltaTable(uri).to_pyarrow_table(columns=OLD_PINNED_FILES.names)
    assert rows.num_rows > 0
    lake.filesystem.delete_dir("_catalog/pinned_files")
    old = CatalogTable(lake, "pinned_files", OLD_PINNED_FILES)
    old.append(rows.cast(OLD_PINNED_FILES).to_pylist())
    assert "provenance" not in pa.schema(DeltaTable(uri).schema().to_arrow()).names


def test_pins_recorded_before_provenance_still_load_and_get_it_from_maintenance(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    before = shape(catalog, "trips@golden", "up")
    rows_before = read_dataset(catalog, "trips", at="golden").to_table().sort_by("id")
    assert capture_pinned(catalog, "trips", open_table(local_lake, "trips")) == [1]
    downgrade_pinned_files(local_lake)
    old = catalog.pinned_files.find("trips", 1, with_provenance=True)
    assert old is not None
    assert old.provenance is None, "an older row loads, without provenance"
    assert catalog.pinned_files.versions("trips") == {1}
    assert catalog.pinned_files.versions("trips", with_provenance=True) == set()

    trim(catalog, local_lake, "trips", past=1)  # maintenance adds the provenance first

    assert catalog.pinned_files.versions("trips", with_provenance=True) == {1}
    found = catalog.pinned_files.find("trips", 1, with_provenance=True)
    assert found is not None
    assert found.provenance is not None
    plain = catalog.pinned_files.find("trips", 1)
    assert plain is not None
    assert plain.provenance is None, "reads of the version do not load the provenance"
    assert (plain.files, plain.schema) == (found.files, found.schema)
    assert found.files == old.files
    assert shape(catalog, "trips@golden", "up") == before
    assert read_dataset(catalog, "trips", at="golden").to_table().sort_by("id") == rows_before


def test_a_pin_whose_provenance_retention_removed_first_says_so(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    capture_pinned(catalog, "trips", open_table(local_lake, "trips"))
    downgrade_pinned_files(local_lake)
    # The log trimmed by a release from before provenance was recorded: delta-rs's own cleanup.
    table = open_table(local_lake, "trips")
    table.alter.set_table_properties(retention_properties(1, 100))
    age_log(local_lake, "trips")
    table = open_table(local_lake, "trips")
    table.create_checkpoint()
    table.cleanup_metadata()
    assert readable_from(local_lake, "trips") > 1

    with pytest.raises(ExpiredVersionError) as refused:
        lineage(catalog, "trips@golden")
    message = str(refused.value)
    assert message.startswith("no lineage for trips version 1: log retention (1s, ")
    assert "before maintenance recorded its provenance" in message
    assert read_dataset(catalog, "trips", at="golden").count_rows() > 0, "its rows still read"


def test_two_processes_upgrading_the_pinned_files_table_both_record(
    project: Project, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both saw the table from before the provenance column; the second to add it loses that
    commit race and records its row all the same (the column is there)."""
    from thermocline.catalog.pinned_files import PinnedFiles
    from thermocline.catalog.store import CatalogTable

    catalog = Catalog(local_lake)
    four_loads(project, catalog)
    catalog.set_tag("golden", "trips", 1)
    capture_pinned(catalog, "trips", open_table(local_lake, "trips"))
    downgrade_pinned_files(local_lake)
    first = catalog.pinned_files.find("trips", 1)
    assert first is not None
    mine = PinnedFiles(local_lake)
    stale = mine._table.open()  # a snapshot from before the other process's upgrade
    PinnedFiles(local_lake).record(first)  # the other process adds the column
    opened = CatalogTable.open
    monkeypatch.setattr(CatalogTable, "open", lambda t: stale if t is mine._table else opened(t))
    mine.record(replace(first, version=2))
    assert catalog.pinned_files.versions("trips") == {1, 2}


def test_files_without_an_origin_are_counted_from_one_snapshot(local_lake: Lake) -> None:
    """Past retention, a version's count of live files whose adding commit is gone comes from
    one snapshot at the log's first commit and the kept commits' removes: the same count as a
    snapshot of every version (which cost an open per lineage node)."""
    from thermocline.datasets.tables.lineage_facts import LineageFacts
    from thermocline.datasets.tables.maintenance import compact
    from thermocline.datasets.tables.rollback import rollback
    from thermocline.datasets.tables.versions import live_files
    from thermocline.datasets.tables.writes import write

    catalog = Catalog(local_lake)
    for batch in range(8):
        write(
            catalog, "ev", pa.table({"id": [batch], "day": [f"d{batch % 2}"]}), partition_by=["day"]
        )
    log_dir = Path(local_lake.table_uri("ev")) / "_delta_log"
    old = time.time() - 3600
    for path in log_dir.iterdir():
        os.utime(path, (old, old))
    apply_retention(catalog, "ev", retention_s=1)  # the log now starts after the first writes
    write(catalog, "ev", pa.table({"id": [100], "day": ["d0"]}), partition_by=["day"])
    compact(catalog, "ev", target_file_mb=64)  # rewrites files from before the log
    rollback(catalog, "ev", to=readable_from(local_lake, "ev"))  # re-adds them: a restore
    write(catalog, "ev", pa.table({"id": [101], "day": ["d1"]}), partition_by=["day"])

    facts = LineageFacts(catalog)
    log = facts.log("ev")
    assert log is not None
    assert not log.complete
    counted = {}
    for version in range(log.first, log.latest + 1):
        exact = log.origins([a["path"] for a in live_files(open_table(local_lake, "ev", version))])
        counted[version] = (exact[1], facts._unattributed(log, version))
    assert all(exact == ours for exact, ours in counted.values()), counted
    assert any(exact > 0 for exact, _ in counted.values()), "files from before the log exist"
