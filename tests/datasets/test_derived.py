"""Derived datasets (issue #17, item 1): computed from other datasets at pinned versions,
recorded in the commit, recomputed only when an input has a new version, partition by
partition where the inputs allow, through the same write-audit-publish as every source.

Inputs are real file-sourced datasets ingested into a real lake; the derived query runs in
real DuckDB. Expected results are computed here in plain Python from the rows landed.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import INPUTS_KEY, KIND_KEY, PARTITION_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.errors import CommitConflictError, ConfigError, InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import run as run_module
from thermocline.datasets.ingest.derived import derived_app_id
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import IngestOutcome, ingest
from thermocline.datasets.tables.quarantine import quarantine_id_of
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(3)]
ZONES = {1: "harbour", 2: "old town", 3: "airport"}

PROJECT = """
lake: {uri: ./lake}
datasets:
  trips:
    source: {kind: files, url: landing/trips/*.csv, format: csv}
    schema: {id: int64, day: date32, zone: int64, fare: float64}
    partition_by: [day]
  zones:
    source: {kind: files, url: landing/zones/*.csv, format: csv}
    schema: {zone: int64, name: string}
  zone_days:
    source:
      kind: derived
      inputs: [trips, zones]
      partition_wise: true
      sql: >
        SELECT t.day, z.name AS zone_name, count(*) AS rides, sum(t.fare) AS fares
        FROM trips AS t JOIN zones AS z ON t.zone = z.zone
        GROUP BY t.day, z.name
    partition_by: [day]
"""


def make_project(root: Path, text: str = PROJECT) -> Project:
    for folder in ("trips", "zones"):
        (root / "landing" / folder).mkdir(parents=True, exist_ok=True)
    (root / "thermocline.yaml").write_text(textwrap.dedent(text))
    return load_project(root / "thermocline.yaml", environ={})


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


class Landing:
    """The source rows landed so far, to compute what the derived table must hold."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.trips: list[tuple[int, dt.date, int, float]] = []
        self.zones: dict[int, str] = {}
        self.files = 0

    def land_trips(self, rows: list[tuple[dt.date, int, float]]) -> None:
        start = len(self.trips)
        new = [(start + n, day, zone, fare) for n, (day, zone, fare) in enumerate(rows)]
        lines = ["id,day,zone,fare", *(f"{i},{d.isoformat()},{z},{f}" for i, d, z, f in new)]
        self.files += 1
        path = self.project.root / "landing" / "trips" / f"t{self.files:03d}.csv"
        path.write_text("\n".join(lines) + "\n")
        self.trips += new

    def land_zones(self, zones: dict[int, str]) -> None:
        self.files += 1
        lines = ["zone,name", *(f"{z},{n}" for z, n in zones.items())]
        path = self.project.root / "landing" / "zones" / f"z{self.files:03d}.csv"
        path.write_text("\n".join(lines) + "\n")
        self.zones.update(zones)  # new zone ids only: the zones table appends

    def expected(self, trips: list[tuple[int, dt.date, int, float]] | None = None) -> list[Any]:
        groups: dict[tuple[dt.date, str], list[float]] = defaultdict(list)
        for _, day, zone, fare in self.trips if trips is None else trips:
            if zone in self.zones:
                groups[(day, self.zones[zone])].append(fare)
        return sorted(
            (day, name, len(fares), round(sum(fares), 6)) for (day, name), fares in groups.items()
        )


def derived_rows(catalog: Catalog, version: int | None = None) -> list[Any]:
    table = read_dataset(catalog, "zone_days", at=version).to_table()
    return sorted(
        (r["day"], r["zone_name"], r["rides"], round(r["fares"], 6)) for r in table.to_pylist()
    )


def ingest_inputs(project: Project, catalog: Catalog) -> None:
    for name in ("trips", "zones"):
        outcome = ingest(project, catalog, name)
        assert outcome.status in ("published", "nothing_new"), outcome


def seeded(project: Project, catalog: Catalog) -> Landing:
    landing = Landing(project)
    landing.land_zones({1: ZONES[1], 2: ZONES[2]})
    landing.land_trips([(DAYS[0], 1, 10.0), (DAYS[0], 2, 7.5), (DAYS[1], 1, 4.25)])
    landing.land_trips([(DAYS[1], 2, 3.0), (DAYS[2], 1, 12.0)])
    ingest_inputs(project, catalog)
    return landing


def last_commit(lake: Lake, dataset: str) -> dict[str, Any]:
    entry: dict[str, Any] = open_table(lake, dataset).history(1)[0]
    return entry


def files_by_day(lake: Lake, dataset: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for f in live_files(open_table(lake, dataset)):
        found[str(f["partition_values"]["day"])].add(f["path"])
    return dict(found)


def test_a_derived_dataset_records_the_versions_of_both_inputs(
    project: Project, lake: Lake
) -> None:
    catalog = Catalog(lake)
    landing = seeded(project, catalog)
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert derived_rows(catalog) == landing.expected()
    versions = {name: open_table(lake, name).version() for name in ("trips", "zones")}
    commit = last_commit(lake, "zone_days")
    assert json.loads(commit[INPUTS_KEY]) == versions
    assert commit[KIND_KEY] == "derived"
    table = open_table(lake, "zone_days")
    assert {n: table.transaction_version(derived_app_id(n)) for n in versions} == versions
    assert table.metadata().partition_columns == ["day"]


def test_a_run_without_a_new_input_version_publishes_nothing(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    seeded(project, catalog)
    assert ingest(project, catalog, "zone_days").status == "published"
    before = open_table(local_lake, "zone_days").version()
    again = ingest(project, catalog, "zone_days")
    assert again.status == "nothing_new"
    assert open_table(local_lake, "zone_days").version() == before


def test_a_new_version_of_an_unpartitioned_input_recomputes_everything(
    project: Project, lake: Lake
) -> None:
    catalog = Catalog(lake)
    landing = seeded(project, catalog)
    first = ingest(project, catalog, "zone_days")
    landing.land_trips([(DAYS[2], 3, 9.0)])  # zone 3 is not known yet: no row for it
    assert ingest(project, catalog, "trips").status == "published"
    ingest(project, catalog, "zone_days")
    landing.land_zones({3: ZONES[3]})  # now trip 5 joins, on day 3
    assert ingest(project, catalog, "zones").status == "published"
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert "full recompute: zones changed and is not partitioned by day" in outcome.description
    assert derived_rows(catalog) == landing.expected()
    assert (DAYS[2], ZONES[3], 1, 9.0) in derived_rows(catalog)
    assert derived_rows(catalog, first.version) != derived_rows(catalog)
    commit = last_commit(lake, "zone_days")
    assert json.loads(commit[INPUTS_KEY]) == {
        "trips": open_table(lake, "trips").version(),
        "zones": open_table(lake, "zones").version(),
    }


def test_a_partition_wise_recompute_replaces_only_the_changed_day(
    project: Project, lake: Lake
) -> None:
    catalog = Catalog(lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    before = files_by_day(lake, "zone_days")
    landing.land_trips([(DAYS[1], 1, 1.5), (DAYS[1], 2, 2.5)])
    trips_before = open_table(lake, "trips").version()
    assert ingest(project, catalog, "trips").status == "published"
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert f"recompute day={DAYS[1]} (trips changed since version {trips_before})" in (
        outcome.description
    )
    after = files_by_day(lake, "zone_days")
    assert after[str(DAYS[0])] == before[str(DAYS[0])]
    assert after[str(DAYS[2])] == before[str(DAYS[2])]
    assert not after[str(DAYS[1])] & before[str(DAYS[1])]
    assert derived_rows(catalog) == landing.expected()


def test_a_partition_the_inputs_no_longer_have_is_emptied(
    project: Project, local_lake: Lake
) -> None:
    """Roll trips back to before its day-3 rows: the recompute of day 3 has no rows, and the
    derived table must drop that day rather than keep its stale rows."""
    catalog = Catalog(local_lake)
    landing = Landing(project)
    landing.land_zones(ZONES)
    landing.land_trips([(DAYS[0], 1, 10.0), (DAYS[1], 2, 7.5)])
    ingest_inputs(project, catalog)
    kept = list(landing.trips)
    landing.land_trips([(DAYS[2], 3, 5.0)])
    assert ingest(project, catalog, "trips").status == "published"
    ingest(project, catalog, "zone_days")
    assert str(DAYS[2]) in files_by_day(local_lake, "zone_days")
    rollback(catalog, "trips", 0)
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert f"day={DAYS[2]}" in outcome.description
    assert derived_rows(catalog) == landing.expected(kept)
    assert str(DAYS[2]) not in files_by_day(local_lake, "zone_days")


def test_a_query_whose_rows_leave_the_changed_day_falls_back_to_a_full_recompute(
    tmp_path: Path, local_lake: Lake
) -> None:
    """A day's rows come from the day before: recomputing the changed day from its own input
    rows gives rows of another day, so the run recomputes everything instead."""
    text = PROJECT.replace("SELECT t.day,", "SELECT t.day + 1 AS day,").replace(
        "GROUP BY t.day,", "GROUP BY t.day + 1,"
    )
    project = make_project(tmp_path, text)
    catalog = Catalog(local_lake)
    landing = Landing(project)
    landing.land_zones(ZONES)
    landing.land_trips([(DAYS[0], 1, 1.0), (DAYS[2], 1, 2.0)])
    ingest_inputs(project, catalog)
    ingest(project, catalog, "zone_days")
    landing.land_trips([(DAYS[1], 1, 4.0)])
    ingest(project, catalog, "trips")
    outcome = ingest(project, catalog, "zone_days")
    assert "does not compute partition by partition" in outcome.description
    shifted = [(d + dt.timedelta(days=1), *rest) for d, *rest in landing.expected()]
    assert derived_rows(catalog) == shifted


def test_a_partition_run_recomputes_that_day_and_moves_no_position(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    table = open_table(local_lake, "zone_days")
    recorded = {n: table.transaction_version(derived_app_id(n)) for n in ("trips", "zones")}
    before = files_by_day(local_lake, "zone_days")
    landing.land_trips([(DAYS[0], 1, 2.0), (DAYS[2], 2, 3.0)])
    ingest(project, catalog, "trips")
    outcome = ingest(project, catalog, "zone_days", partition=DAYS[0].isoformat())
    assert outcome.status == "published", outcome
    commit = last_commit(local_lake, "zone_days")
    assert commit[PARTITION_KEY] == DAYS[0].isoformat()
    assert json.loads(commit[INPUTS_KEY])["trips"] == open_table(local_lake, "trips").version()
    table = open_table(local_lake, "zone_days")
    assert {n: table.transaction_version(derived_app_id(n)) for n in recorded} == recorded
    after = files_by_day(local_lake, "zone_days")
    assert after[str(DAYS[2])] == before[str(DAYS[2])]  # not recomputed: still the old rows
    assert after[str(DAYS[1])] == before[str(DAYS[1])]
    day0 = [r for r in derived_rows(catalog) if r[0] == DAYS[0]]
    assert day0 == [r for r in landing.expected() if r[0] == DAYS[0]]
    # The plain run still recomputes what changed since the recorded versions.
    assert ingest(project, catalog, "zone_days").status == "published"
    assert derived_rows(catalog) == landing.expected()


def test_an_error_check_failure_quarantines_the_derived_batch(tmp_path: Path, lake: Lake) -> None:
    checks = "    quality:\n      checks:\n        - {check: range, column: fares, max: 8}\n"
    text = PROJECT + checks
    project = make_project(tmp_path, text)
    catalog = Catalog(lake)
    landing = seeded(project, catalog)
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "quarantined", outcome
    assert outcome.quarantine_path is not None
    assert any(not c.passed and c.name.startswith("range") for c in outcome.checks)
    # No commit: the table's positions must not claim input versions its rows were not
    # computed from. The next run computes the same batch again, and it fails again.
    assert lake.filesystem.get_file_info("zone_days/_delta_log").type.name == "NotFound"
    again = ingest(project, catalog, "zone_days")
    assert again.status == "quarantined"
    assert again.quarantine_path != outcome.quarantine_path
    landing.land_trips([(DAYS[0], 2, 0.5)])
    ingest(project, catalog, "trips")
    assert ingest(project, catalog, "zone_days").status == "quarantined"


def test_a_quarantined_partition_is_recomputed_by_the_next_run(
    tmp_path: Path, local_lake: Lake
) -> None:
    """A partition-wise run whose changed day fails a check publishes nothing and moves no
    position; the next run (after another input version) recomputes that day too, instead of
    leaving its old rows for good."""
    checks = "    quality:\n      checks:\n        - {check: range, column: fares, max: 100}\n"
    project = make_project(tmp_path, PROJECT + checks)
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    assert ingest(project, catalog, "zone_days").status == "published"
    table = open_table(local_lake, "zone_days")
    recorded = {n: table.transaction_version(derived_app_id(n)) for n in ("trips", "zones")}
    landing.land_trips([(DAYS[0], 1, 500.0)])  # day 0's harbour fares break the range
    ingest(project, catalog, "trips")
    assert ingest(project, catalog, "zone_days").status == "quarantined"
    table = open_table(local_lake, "zone_days")
    assert {n: table.transaction_version(derived_app_id(n)) for n in recorded} == recorded
    relaxed = make_project(tmp_path, PROJECT)  # the range was too strict: fixed
    landing.land_trips([(DAYS[2], 2, 1.0)])
    ingest(relaxed, catalog, "trips")
    outcome = ingest(relaxed, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert f"day={DAYS[0]}" in outcome.description
    assert f"day={DAYS[2]}" in outcome.description
    assert derived_rows(catalog) == landing.expected()


def test_a_function_source_gets_the_inputs_as_tables(
    tmp_path: Path, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # the project root joins it
    module = f"features_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            import pyarrow as pa

            def build(inputs):
                assert all(isinstance(t, pa.Table) for t in inputs.values())
                trips = inputs["trips"]
                cents = [round(f * 100) for f in trips["fare"].to_pylist()]
                return pa.table({"day": trips["day"], "fare_cents": cents})

            def broken(inputs):
                return {"day": []}
            """
        )
    )
    text = PROJECT + (
        "  cents:\n"
        f"    source: {{kind: derived, inputs: [trips], function: '{module}:build'}}\n"
        "  broken:\n"
        f"    source: {{kind: derived, inputs: [trips], function: '{module}:broken'}}\n"
    )
    project = make_project(tmp_path, text)
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    outcome = ingest(project, catalog, "cents")
    assert outcome.status == "published", outcome
    cents = read_dataset(catalog, "cents").to_table().to_pylist()
    assert sorted((r["day"], r["fare_cents"]) for r in cents) == sorted(
        (day, round(fare * 100)) for _, day, _, fare in landing.trips
    )
    with pytest.raises(InputError, match=rf"{module}:broken returned dict, not a pyarrow.Table"):
        ingest(project, catalog, "broken")


def test_two_racing_derived_runs_publish_exactly_one_version(
    project: Project, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both runs read the same input versions before either publishes (a barrier after the
    read): one publishes, the other loses the compare-and-swap and publishes nothing (its
    read-again retry is switched off, to see the loss itself)."""
    monkeypatch.setattr(run_module, "CONFLICT_RETRIES", 0)
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    landing.land_trips([(DAYS[1], 1, 6.0)])
    ingest(project, catalog, "trips")
    before = open_table(local_lake, "zone_days").version()
    barrier = threading.Barrier(2, timeout=60)
    read_new = run_module.read_new

    def read_together(*args: Any, **options: Any) -> Any:
        batch = read_new(*args, **options)
        barrier.wait()
        return batch

    monkeypatch.setattr(run_module, "read_new", read_together)
    results: list[IngestOutcome | Exception] = []

    def run() -> None:
        try:
            results.append(ingest(project, catalog, "zone_days"))
        except CommitConflictError as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    published = [r for r in results if isinstance(r, IngestOutcome) and r.status == "published"]
    lost = [r for r in results if isinstance(r, CommitConflictError)]
    assert (len(published), len(lost)) == (1, 1), results
    assert open_table(local_lake, "zone_days").version() == before + 1
    assert derived_rows(catalog) == landing.expected()


def test_cli_ingest_runs_a_derived_dataset_and_a_bad_query_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    project = make_project(tmp_path)
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    landing = seeded(project, catalog)
    result = thermocline("ingest", "batch", "zone_days", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "published"
    assert derived_rows(catalog) == landing.expected()
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(PROJECT).replace("count(*) AS rides", "count(*) AS rides, t.nope")
    )
    landing.land_trips([(DAYS[0], 1, 1.0)])
    ingest(load_project(tmp_path / "thermocline.yaml", environ={}), catalog, "trips")
    bad = thermocline("ingest", "batch", "zone_days", cwd=tmp_path)
    assert bad.exit_code == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1, bad.stderr
    assert "datasets.zone_days.source.sql failed" in lines[0]
    assert "nope" in lines[0]


def test_an_input_without_a_table_says_to_ingest_it_first(
    project: Project, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    Landing(project).land_zones(ZONES)
    ingest(project, catalog, "zones")
    with pytest.raises(InputError, match="reads trips, which has no table yet; fix: ingest"):
        ingest(project, catalog, "zone_days")


def test_a_partition_run_of_an_unpartitioned_derived_dataset_is_refused(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = make_project(
        tmp_path,
        PROJECT.replace("    partition_by: [day]\n", "", 2).replace(
            "      partition_wise: true\n", ""
        ),
    )
    catalog = Catalog(local_lake)
    seeded(project, catalog)
    with pytest.raises(ConfigError, match="derived partition runs need"):
        ingest(project, catalog, "zone_days", partition=DAYS[0].isoformat())


def test_a_replayed_derived_quarantine_keeps_the_recorded_input_versions(
    tmp_path: Path, local_lake: Lake
) -> None:
    """A replay publishes the quarantined rows; the positions stay the input versions (a file
    source's replay moves them on by one), so the next run still knows what it read."""
    checks = "    quality:\n      checks:\n        - {check: range, column: fares, max: 8}\n"
    strict = make_project(tmp_path, PROJECT + checks)
    catalog = Catalog(local_lake)
    landing = seeded(strict, catalog)
    outcome = ingest(strict, catalog, "zone_days")
    assert outcome.status == "quarantined"
    assert outcome.quarantine_path is not None
    relaxed = make_project(tmp_path, PROJECT)
    replayed = replay(relaxed, catalog, quarantine_id_of(outcome.quarantine_path))
    assert replayed.status == "published"
    assert derived_rows(catalog) == landing.expected()
    table = open_table(local_lake, "zone_days")
    versions = {n: open_table(local_lake, n).version() for n in ("trips", "zones")}
    assert {n: table.transaction_version(derived_app_id(n)) for n in versions} == versions
    assert json.loads(last_commit(local_lake, "zone_days")[INPUTS_KEY]) == versions
    assert ingest(relaxed, catalog, "zone_days").status == "nothing_new"


RUNNING_TOTAL = """
lake: {uri: ./lake}
datasets:
  trips:
    source: {kind: files, url: landing/trips/*.csv, format: csv}
    schema: {id: int64, day: date32, zone: int64, fare: float64}
    partition_by: [day]
  zones:
    source: {kind: files, url: landing/zones/*.csv, format: csv}
    schema: {zone: int64, name: string}
  zone_days:
    source:
      kind: derived
      inputs: [trips, zones]
      sql: >
        SELECT day, sum(sum(fare)) OVER (ORDER BY day) AS fares_so_far
        FROM trips GROUP BY day
    partition_by: [day]
"""


def running_totals(landing: Landing) -> dict[dt.date, float]:
    per_day: dict[dt.date, float] = defaultdict(float)
    for _, day, _, fare in landing.trips:
        per_day[day] += fare
    totals, total = {}, 0.0
    for day in sorted(per_day):
        total += per_day[day]
        totals[day] = round(total, 6)
    return totals


def test_a_query_that_mixes_days_is_recomputed_whole_unless_it_is_declared_partition_wise(
    tmp_path: Path, local_lake: Lake
) -> None:
    """A running total over days: a new row on day 1 changes every later day's total too. A
    partition-wise recompute of day 1 alone would leave days 2 and 3 stale, so partition-wise
    is a promise the project file makes (``partition_wise``), off by default."""
    project = make_project(tmp_path, RUNNING_TOTAL)
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    landing.land_trips([(DAYS[0], 1, 100.0)])
    assert ingest(project, catalog, "trips").status == "published"
    outcome = ingest(project, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert "full recompute" in outcome.description
    table = read_dataset(catalog, "zone_days").to_table()
    found = {r["day"]: round(r["fares_so_far"], 6) for r in table.to_pylist()}
    assert found == running_totals(landing)


def test_a_changed_query_recomputes_everything_although_no_input_moved(
    project: Project, tmp_path: Path, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    assert ingest(project, catalog, "zone_days").status == "published"
    assert ingest(project, catalog, "zone_days").status == "nothing_new"
    changed = make_project(
        tmp_path, PROJECT.replace("sum(t.fare) AS fares", "sum(t.fare) * 2 AS fares")
    )
    outcome = ingest(changed, catalog, "zone_days")
    assert outcome.status == "published", outcome
    assert "the query or function changed" in outcome.description
    doubled = [(d, n, rides, round(2 * fares, 6)) for d, n, rides, fares in landing.expected()]
    assert derived_rows(catalog) == doubled
    assert ingest(changed, catalog, "zone_days").status == "nothing_new"
    # Whitespace is not a change of the query.
    respaced = make_project(
        tmp_path, PROJECT.replace("sum(t.fare) AS fares", "sum(t.fare)  *  2  AS fares")
    )
    assert ingest(respaced, catalog, "zone_days").status == "nothing_new"


def test_a_partition_run_needs_a_partition_wise_query(tmp_path: Path, local_lake: Lake) -> None:
    project = make_project(tmp_path, RUNNING_TOTAL)
    catalog = Catalog(local_lake)
    seeded(project, catalog)
    with pytest.raises(ConfigError, match=r"set source\.partition_wise: true"):
        ingest(project, catalog, "zone_days", partition=DAYS[0].isoformat())


def test_a_partition_run_and_a_plain_run_racing_publish_one_of_them(
    project: Project, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain run commits after the partition run planned and checked its positions but
    before it commits: the partition run must lose (it would add the day's rows twice)."""
    from thermocline.datasets.tables import writes

    monkeypatch.setattr(run_module, "CONFLICT_RETRIES", 0)  # see the loss, not the retry
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    new_day = DAYS[2] + dt.timedelta(days=1)
    landing.land_trips([(new_day, 1, 2.0), (new_day, 2, 3.0)])
    ingest(project, catalog, "trips")
    original = writes._add_new_columns
    rival: list[IngestOutcome] = []

    def plain_run_lands_first(*args: Any, **kwargs: Any) -> Any:
        if not rival:
            monkeypatch.setattr(writes, "_add_new_columns", original)
            rival.append(ingest(project, catalog, "zone_days"))
        return original(*args, **kwargs)

    monkeypatch.setattr(writes, "_add_new_columns", plain_run_lands_first)
    with pytest.raises(CommitConflictError):
        ingest(project, catalog, "zone_days", partition=new_day.isoformat())
    assert rival[0].status == "published"
    assert derived_rows(catalog) == landing.expected()


def test_a_changed_query_is_found_however_many_commits_came_since_the_last_plain_run(
    project: Project, tmp_path: Path, local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    landing = seeded(project, catalog)
    ingest(project, catalog, "zone_days")
    for _ in range(3):
        ingest(project, catalog, "zone_days", partition=DAYS[0].isoformat())
    table = open_table(local_lake, "zone_days")
    for _ in range(60):  # commits that are not derived runs (as maintenance makes)
        table.alter.set_table_description("zone days")
    changed = make_project(
        tmp_path, PROJECT.replace("sum(t.fare) AS fares", "sum(t.fare) * 2 AS fares")
    )
    outcome = ingest(changed, catalog, "zone_days")
    assert outcome.status == "published", outcome
    doubled = [(d, n, rides, round(2 * fares, 6)) for d, n, rides, fares in landing.expected()]
    assert derived_rows(catalog) == doubled
