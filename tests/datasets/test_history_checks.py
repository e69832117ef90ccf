"""The history-aware checks through real ingest runs on a local lake: each fails a crafted
batch (quarantined when its severity is error) and passes a normal one."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import QuarantineError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import IngestOutcome, ingest
from thermocline.datasets.tables.baselines import BaselineCache, check_context
from thermocline.datasets.tables.quarantine import quarantine_id_of
from thermocline.quality.results import CheckResult


def make_project(tmp_path: Path, datasets: str) -> Project:
    (tmp_path / "thermocline.yaml").write_text("datasets:\n" + textwrap.indent(datasets, "  "))
    return load_project(tmp_path / "thermocline.yaml", environ={})


def add(project: Project, folder: str, name: str, lines: list[str]) -> None:
    path = project.root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def result(outcome: IngestOutcome, name: str) -> CheckResult:
    (found,) = [c for c in outcome.checks if c.name == name]
    return found


def reasons(lake: Lake) -> list[str]:
    found = lake.filesystem.get_file_info(pafs.FileSelector("_quarantine", recursive=True))
    out: list[str] = []
    for info in found:
        if info.path.endswith("reasons.json"):
            with lake.filesystem.open_input_stream(info.path) as stream:
                out += json.loads(stream.read())["reasons"]
    return out


def rows(count: int, start: int = 0) -> list[str]:
    return ["id,city", *(f"{i},oslo" for i in range(start, start + count))]


VOLUME = """
events:
  source: {kind: files, url: in/*.csv, format: csv}
  schema: {id: int64, city: string}
  quality:
    checks:
      - {check: volume, window: 5, min_history: 3}
"""


def test_volume_fails_an_outlier_and_passes_a_normal_count(
    tmp_path: Path, local_lake: Lake
) -> None:
    project, catalog = make_project(tmp_path, VOLUME), Catalog(local_lake)
    for number, count in enumerate([10, 11, 9]):
        add(project, "in", f"{number}.csv", rows(count, number * 100))
        first = ingest(project, catalog, "events")
        assert first.status == "published"
        assert result(first, "volume").message.endswith(
            "earlier publishes needed before the volume is judged"
        )
    add(project, "in", "3.csv", rows(12, 300))
    normal = ingest(project, catalog, "events")
    assert normal.status == "published"
    volume = result(normal, "volume")
    assert (volume.passed, volume.engine) == (True, "history")
    assert volume.metadata["median"] == 10  # of 10, 11, 9
    add(project, "in", "4.csv", rows(60, 400))
    outlier = ingest(project, catalog, "events")
    assert outlier.status == "quarantined"
    assert reasons(local_lake) == [
        "batch has 60 rows, 33.3873 robust deviations from the median 10.5 of the last 4 "
        "publishes (MAD 1, max 3.5)"
    ]


DRIFT_OF_SCHEMA = """
events:
  source: {kind: files, url: in/*.csv, format: csv}
  quality:
    checks:
      - {check: schema_drift}
"""


def test_schema_drift_blocks_a_removed_column_and_warns_on_an_added_one(
    tmp_path: Path, local_lake: Lake
) -> None:
    project, catalog = make_project(tmp_path, DRIFT_OF_SCHEMA), Catalog(local_lake)
    add(project, "in", "0.csv", rows(3))
    first = ingest(project, catalog, "events")
    assert result(first, "schema_drift").message == (
        "no earlier version to compare with (the table's first batch)"
    )
    add(project, "in", "1.csv", rows(3, 10))
    same = ingest(project, catalog, "events")
    assert (same.status, result(same, "schema_drift").passed) == ("published", True)
    add(project, "in", "2.csv", ["id", "20", "21"])
    removed = ingest(project, catalog, "events")
    assert removed.status == "quarantined"
    assert reasons(local_lake) == ["removed city"]
    assert removed.quarantine_path is not None
    with pytest.raises(QuarantineError, match="still fails removed city"):
        replay(project, catalog, quarantine_id_of(removed.quarantine_path))  # judged the same
    add(project, "in", "3.csv", ["id,city,tip", "30,rome,1.5"])
    added = ingest(project, catalog, "events")
    assert added.status == "published"
    drift = result(added, "schema_drift")
    assert (drift.passed, drift.severity, drift.message) == (False, "warn", "added tip (double)")
    # tip arrives as whole numbers (int64): evolution casts it to the table's double without
    # changing a value, so the retype warns by default (CSV type inference does this often)...
    add(project, "in", "4.csv", ["id,city,tip", "40,rome,2"])
    retyped = ingest(project, catalog, "events")
    assert retyped.status == "published"
    drift = result(retyped, "schema_drift")
    assert (drift.passed, drift.severity, drift.message) == (
        False,
        "warn",
        "retyped tip (double -> int64)",
    )
    # ... and blocks where the project says a source must not change its types.
    strict = make_project(
        tmp_path,
        DRIFT_OF_SCHEMA.replace("{check: schema_drift}", "{check: schema_drift, retyped: error}"),
    )
    add(strict, "in", "5.csv", ["id,city,tip", "50,rome,3"])
    assert ingest(strict, catalog, "events").status == "quarantined"
    assert sorted(reasons(local_lake)) == ["removed city", "retyped tip (double -> int64)"]


def fares(values: list[float], start: int = 0) -> list[str]:
    return ["id,fare", *(f"{start + i},{v}" for i, v in enumerate(values))]


NORMAL = [10.0 + (i % 20) for i in range(200)]
SHIFTED = [60.0 + (i % 20) for i in range(200)]


def drift_project(tmp_path: Path, reference: str) -> Project:
    return make_project(
        tmp_path,
        f"""
rides:
  source: {{kind: files, url: in/*.csv, format: csv}}
  schema: {{id: int64, fare: double}}
  quality:
    checks:
      - {{check: distribution_drift, column: fare, reference: {reference}, method: psi}}
      - {{check: distribution_drift, column: fare, reference: {reference}, method: ks}}
""",
    )


def test_distribution_drift_against_a_tag(tmp_path: Path, local_lake: Lake) -> None:
    project, catalog = drift_project(tmp_path, "golden"), Catalog(local_lake)
    add(project, "in", "0.csv", fares(NORMAL))
    first = ingest(project, catalog, "rides")
    assert first.status == "published"  # a first batch has nothing to compare with
    add(project, "in", "1.csv", fares(NORMAL, 1000))
    untagged = ingest(project, catalog, "rides")
    assert untagged.status == "quarantined"  # the reference cannot be read, and that is said
    assert "unknown tag 'golden' of rides" in result(untagged, "distribution_drift_fare").message
    catalog.set_tag("golden", "rides", 0)
    add(project, "in", "2.csv", fares([v + 0.5 for v in NORMAL], 2000))
    normal = ingest(project, catalog, "rides")
    assert normal.status == "published"
    psi = result(normal, "distribution_drift_fare")
    assert psi.passed
    assert "against rides@golden (version 0) (200 batch, 200 reference values)" in psi.message
    add(project, "in", "3.csv", fares(SHIFTED, 3000))
    shifted = ingest(project, catalog, "rides")
    assert shifted.status == "quarantined"
    psi, ks = (
        result(shifted, "distribution_drift_fare"),
        result(shifted, "distribution_drift_fare_2"),
    )
    assert (psi.passed, ks.passed) == (False, False)
    assert ks.observed == 1.0
    assert psi.observed is not None
    assert psi.observed > 5


def test_distribution_drift_against_the_latest_version(tmp_path: Path, local_lake: Lake) -> None:
    project, catalog = drift_project(tmp_path, "null"), Catalog(local_lake)
    add(project, "in", "0.csv", fares(NORMAL))
    first = ingest(project, catalog, "rides")
    assert first.status == "published"
    assert result(first, "distribution_drift_fare").message == (
        "fare: nothing to compare with yet (rides (no version yet))"
    )
    add(project, "in", "1.csv", fares(SHIFTED, 1000))
    assert ingest(project, catalog, "rides").status == "quarantined"
    add(project, "in", "2.csv", fares(NORMAL, 2000))
    normal = ingest(project, catalog, "rides")
    assert normal.status == "published"
    assert "against rides@1" in result(normal, "distribution_drift_fare").message


REFERENTIAL = """
drivers:
  source: {kind: files, url: drivers/*.csv, format: csv}
  schema: {id: int64, name: string}
rides:
  source: {kind: files, url: rides/*.csv, format: csv}
  schema: {id: int64, driver_id: int64}
  quality:
    checks:
      - {check: referential, column: driver_id, dataset: drivers, key: id, version: 0}
"""


def test_referential_against_a_pinned_version(tmp_path: Path, local_lake: Lake) -> None:
    project, catalog = make_project(tmp_path, REFERENTIAL), Catalog(local_lake)
    add(project, "rides", "0.csv", ["id,driver_id", "1,1"])
    before = ingest(project, catalog, "rides")
    assert before.status == "quarantined"
    assert reasons(local_lake) == [
        "driver_id: keys of drivers.id (drivers@0): dataset 'drivers' has no table yet; "
        "ingest it first"
    ]
    add(project, "drivers", "0.csv", ["id,name", *(f"{i},d{i}" for i in range(1, 6))])
    assert ingest(project, catalog, "drivers").status == "published"  # version 0: 1..5
    add(project, "drivers", "1.csv", ["id,name", "6,d6"])
    assert ingest(project, catalog, "drivers").version == 1  # 6 only from version 1 on
    add(project, "rides", "1.csv", ["id,driver_id", "2,1", "3,5", "4,"])
    good = ingest(project, catalog, "rides")
    assert good.status == "published"
    assert result(good, "referential_driver_id").passed
    add(project, "rides", "2.csv", ["id,driver_id", "5,6", "6,6", "7,2"])
    bad = ingest(project, catalog, "rides")
    assert bad.status == "quarantined"
    missing = result(bad, "referential_driver_id")
    assert (missing.failing_rows, missing.sample) == (2, ("6",))
    assert missing.message == (
        "driver_id: 2 of 3 rows reference no key of drivers.id (drivers@0): 1 value, e.g. 6"
    )


DEFAULTS = """
events:
  source: {kind: files, url: in/*.csv, format: csv}
  schema: {id: int64, city: string, at: "timestamp[us, UTC]"}
  quality: {defaults: true}
"""


def test_defaults_give_completeness_of_every_column_and_freshness(
    tmp_path: Path, local_lake: Lake
) -> None:
    project, catalog = make_project(tmp_path, DEFAULTS), Catalog(local_lake)
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    add(
        project,
        "in",
        "0.csv",
        ["id,city,at", "1,oslo,2026-11-02T11:30:00Z", "2,,2026-11-02T11:40:00Z"],
    )
    outcome = ingest(project, catalog, "events", now=now)
    assert outcome.status == "published"  # the defaults warn
    assert [(c.name, c.passed, c.severity) for c in outcome.checks] == [
        ("completeness_all", False, "warn"),
        ("freshness_at", True, "warn"),
    ]
    assert outcome.checks[0].message == "1 column below min 95% non-null: city 50%"
    assert outcome.checks[1].observed == 20 * 60


def test_the_project_sets_the_defaults_thresholds_and_severity(
    tmp_path: Path, local_lake: Lake
) -> None:
    (tmp_path / "thermocline.yaml").write_text(
        "quality: {completeness: 0.5, freshness: 10m, severity: error}\ndatasets:\n"
        + textwrap.indent(DEFAULTS, "  ")
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    add(
        project,
        "in",
        "0.csv",
        ["id,city,at", "1,oslo,2026-11-02T11:30:00Z", "2,,2026-11-02T11:40:00Z"],
    )
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    outcome = ingest(project, Catalog(local_lake), "events", now=now)
    assert outcome.status == "quarantined", "error severity blocks"
    assert [(c.name, c.passed, c.severity, c.threshold) for c in outcome.checks] == [
        ("completeness_all", True, "error", ">= 0.5"),
        ("freshness_at", False, "error", "<= 10m"),
    ]


def test_a_kept_key_column_is_read_again_only_when_its_dataset_published(
    tmp_path: Path, local_lake: Lake
) -> None:
    """What a Kafka ingester does after a referential failure on kept keys: the key columns
    are due at once, and read again only if the key dataset has a newer version."""
    project = make_project(tmp_path, REFERENTIAL.replace(", version: 0", ""))
    catalog = Catalog(local_lake)
    add(project, "drivers", "0.csv", ["id,name", "1,d1"])
    assert ingest(project, catalog, "drivers").status == "published"
    cache, checks = BaselineCache(), project.checks("rides")

    def keys() -> list[int]:
        context = check_context(
            catalog, "rides", checks, now=datetime.now(UTC), schema=None, cache=cache
        )
        values = context.baselines["referential_driver_id"].values
        assert values is not None
        return sorted(values.to_pylist())

    assert (keys(), cache.reads) == ([1], 1)
    cache.recheck_keys()
    assert (keys(), cache.reads) == ([1], 1), "same version: nothing read"
    add(project, "drivers", "1.csv", ["id,name", "2,d2"])
    assert ingest(project, catalog, "drivers").status == "published"
    assert (keys(), cache.reads) == ([1], 1), "kept until due"
    cache.recheck_keys()
    assert (keys(), cache.reads) == ([1, 2], 2)
