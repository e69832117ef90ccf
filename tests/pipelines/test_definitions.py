"""The Dagster code location, materialized in-process with real resources on both lakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import demo_rides
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions

REPO_ROOT = Path(__file__).resolve().parents[2]

PROJECT = """
lake:
  uri: {uri}
  storage_options: {options}
datasets:
  rides:
    description: Demo rides from CSV files.
    owners: [data@example.com]
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema:
      ride_id: int64
      started_at: timestamp[us, tz=UTC]
      day: date32
      city: string
      distance_km: float64
      fare: float64
      rider_email: string
    partition_by: [day]
    quality:
      checks:
        - {{check: not_null, columns: [ride_id]}}
        - {{check: unique, columns: [ride_id]}}
        - {{check: range, column: fare, min: 0}}
        - {{check: completeness, column: city, min_ratio: 0.99, severity: warn}}
    pii:
      columns: {{rider_email: allow}}
"""


@pytest.fixture
def project_file(tmp_path: Path, lake: Lake) -> Path:
    (tmp_path / "incoming").mkdir()
    path = tmp_path / "thermocline.yaml"
    path.write_text(
        textwrap.dedent(
            PROJECT.format(uri=lake.uri, options=json.dumps(dict(lake.storage_options)))
        )
    )
    return path


def add_csv(project_file: Path, batch: int, rows: int = 500, bad_fares: int = 0) -> None:
    table = demo_rides(batch, rows)
    if bad_fares:
        fares = table["fare"].to_pylist()
        fares[:bad_fares] = [-1.0] * bad_fares
        table = table.set_column(
            table.schema.get_field_index("fare"), "fare", pa.array(fares, pa.float64())
        )
    pacsv.write_csv(table, project_file.parent / "incoming" / f"rides-{batch:04d}.csv")


def add_csv_without_emails(project_file: Path, batch: int) -> None:
    table = demo_rides(batch, 100)
    table = table.set_column(
        table.schema.get_field_index("rider_email"), "rider_email", pa.nulls(100, pa.string())
    )
    pacsv.write_csv(table, project_file.parent / "incoming" / f"rides-{batch:04d}.csv")


def materialize(project_file: Path, *extra: dg.AssetsDefinition) -> dg.ExecuteInProcessResult:
    defs = build_definitions(load_project(project_file), str(project_file))
    assets = [defs.get_assets_def("rides"), *extra]
    return dg.materialize(
        assets,
        resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_the_repository_project_loads_as_a_code_location() -> None:
    defs = build_definitions(load_project(REPO_ROOT / "thermocline.yaml"))
    dg.Definitions.validate_loadable(defs)
    rides = defs.get_assets_def("rides")
    spec = next(iter(rides.specs))
    assert spec.kinds == {"delta", "files"}
    assert spec.owners == ["data-platform@thermocline.dev"]
    assert {key.name for key in rides.check_keys} == {
        "pii",
        "not_null_ride_id_started_at",
        "unique_ride_id",
        "range_fare",
        "distribution_drift_fare",
        "gx_column_values_to_be_in_set_city",
        "gx_column_values_to_be_between_distance_km",
        "gx_column_mean_to_be_between_fare",
        "gx_table_row_count_to_be_between",
    }
    jobs = {job.name for job in defs.resolve_all_job_defs() if job.name.startswith("maintain_")}
    assert jobs == {
        "maintain_rides_job",
        "maintain_ride_events_job",
        "maintain_ride_features_job",
    }, "one per dataset"
    graph = defs.resolve_asset_graph()  # the demo's story: sources -> features -> model
    assert graph.get(dg.AssetKey("ride_features")).parent_keys == {
        dg.AssetKey("rides"),
        dg.AssetKey("ride_events"),
    }
    assert graph.get(dg.AssetKey("ride_fare_model")).parent_keys == {dg.AssetKey("ride_features")}
    (maintain,) = defs.get_job_def("maintain_rides_job").graph.node_defs
    assert maintain.name == "maintain_rides"
    assert maintain.required_resource_keys == {"thermocline"}
    # The writers' pool of the dataset's asset (limit 1): maintenance never races an ingest.
    assert maintain.pool == rides.op.pool == "thermocline_writer_rides"
    nightly = defs.get_schedule_def("maintain_rides_job_nightly")
    assert (nightly.job_name, nightly.cron_schedule) == ("maintain_rides_job", "0 3 * * *")


def test_materialize_publishes_then_a_rerun_publishes_nothing(
    project_file: Path, lake: Lake
) -> None:
    add_csv(project_file, 0)
    add_csv(project_file, 1)
    first = materialize(project_file)
    assert first.success
    (event,) = first.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["delta/version"].value == 0
    assert metadata["dagster/row_count"].value == 1000
    assert metadata["rows_published"].value == 1000
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns][:2] == [
        "ride_id",
        "started_at",
    ]
    assert "| ride_id |" in metadata["preview"].value
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks == {
        "pii": True,  # rider_email is an email in clear, as the policy allows
        "not_null_ride_id": True,
        "unique_ride_id": True,
        "range_fare": True,
        "completeness_city": True,
    }

    second = materialize(project_file)
    assert second.success
    assert second.get_asset_materialization_events() == []
    assert open_table(lake, "rides").version() == 0
    assert read_dataset(Catalog(lake), "rides").count_rows() == 1000


def test_a_blocking_check_failure_quarantines_and_stops_downstream(
    project_file: Path, lake: Lake
) -> None:
    add_csv(project_file, 0)
    assert materialize(project_file).success
    add_csv(project_file, 1, bad_fares=3)

    ran: list[str] = []

    @dg.asset(deps=["rides"])
    def rides_features() -> None:
        ran.append("features")

    result = materialize(project_file, rides_features)
    assert not result.success
    assert ran == [], "downstream assets do not run after a blocking failure"
    assert result.get_asset_materialization_events() == []
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["range_fare"]
    assert "3 of 500 rows" in (failed[0].description or "")
    # Nothing was published: the one version after the first carries the quarantined batch's
    # source positions (its files count as consumed) and no rows.
    assert open_table(lake, "rides").version() == 1
    assert read_dataset(Catalog(lake), "rides").count_rows() == 500
    quarantined = lake.filesystem.get_file_info(
        pafs.FileSelector("_quarantine/rides", recursive=True)
    )
    reasons = [i.path for i in quarantined if i.path.endswith("reasons.json")]
    assert len(reasons) == 1
    with lake.filesystem.open_input_stream(reasons[0]) as stream:
        assert "3 of 500 rows" in json.loads(stream.read())["reasons"][0]


def test_the_pii_check_fails_on_clear_pii_the_policy_does_not_allow(
    project_file: Path, lake: Lake
) -> None:
    # A table loaded before PII handling: its emails are in clear, and this project's policy
    # (the default: block) does not allow them.
    project_file.write_text(project_file.read_text().replace("rider_email: allow", ""))
    catalog = Catalog(lake)
    write(catalog, "rides", demo_rides(0, 100), partition_by=["day"])
    add_csv_without_emails(project_file, 1)  # new batches hold no PII

    result = materialize(project_file)
    assert result.success, "the check does not block: the version is published already"
    (pii,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "pii"]
    assert not pii.passed
    assert pii.severity == dg.AssetCheckSeverity.ERROR
    assert "rider_email (email; policy: default block)" in (pii.description or "")
    assert pii.metadata["in_clear_not_allowed"].value == ["rider_email"]
    email = pii.metadata["columns"].value["rider_email"]
    assert (email["class"], email["action"], email["review"]) == ("email", None, "detected")
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["pii/columns"].value, metadata["pii/in_clear"].value) == (1, 1)
    assert "| rider_email | email |" in metadata["pii/classifications"].value
    assert catalog.pii.current("rides")["rider_email"].version == 1, "the new version scanned"

    # A person decides the finding is wrong: the next materialization passes.
    catalog.pii.review("rides", "rider_email", user="reviewer", reject=True)
    add_csv_without_emails(project_file, 2)
    again = materialize(project_file)
    (pii,) = [e for e in again.get_asset_check_evaluations() if e.check_name == "pii"]
    assert pii.passed, pii.description
    assert pii.metadata["in_clear_not_allowed"].value == []


def test_dagster_yaml_is_a_valid_instance_with_one_writer_per_dataset(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert not instance.telemetry_enabled


def test_the_maintenance_job_compacts_vacuums_and_checkpoints(
    project_file: Path, lake: Lake
) -> None:
    for _ in range(4):  # four small files in one day partition
        write(Catalog(lake), "rides", demo_rides(0, 100), partition_by=["day"])
    Catalog(lake).set_tag("two-loads", "rides", 1)
    assert len(open_table(lake, "rides").file_uris()) == 4

    defs = build_definitions(load_project(project_file), str(project_file))
    result = defs.get_job_def("maintain_rides_job").execute_in_process(
        resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    table = open_table(lake, "rides")
    assert len(table.file_uris()) == 1
    assert [h["operation"] for h in table.history(2)] == ["SET TBLPROPERTIES", "OPTIMIZE"]
    # log retention ran: the batch default (30 days) is on the table, the log checkpointed
    retention = table.metadata().configuration["delta.logRetentionDuration"]
    assert retention == "interval 2592000 seconds"
    assert read_dataset(Catalog(lake), "rides").count_rows() == 400
    assert read_dataset(Catalog(lake), "rides", at="two-loads").count_rows() == 200
    log = lake.table_filesystem("rides").get_file_info(pafs.FileSelector("_delta_log"))
    assert f"{table.version():020d}.checkpoint.parquet" in {i.base_name for i in log}


def test_a_partition_run_replaces_just_that_day(tmp_path: Path, local_lake: Lake) -> None:
    project_file = tmp_path / "thermocline.yaml"
    (tmp_path / "incoming").mkdir()
    text = PROJECT.format(uri=local_lake.uri, options="{}").replace(
        "    partition_by: [day]\n", "    partition_by: [day]\n    partition_start: 2026-11-01\n"
    )
    project_file.write_text(textwrap.dedent(text))
    for batch in range(3):  # days 2026-11-01 .. 2026-11-03
        add_csv(project_file, batch, rows=100)
    defs = build_definitions(load_project(project_file), str(project_file))
    rides = defs.get_assets_def("rides")
    assert rides.partitions_def is not None
    assert rides.partitions_def.get_partition_keys()[:2] == ["2026-11-01", "2026-11-02"]

    def run(key: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [rides],
            partition_key=key,
            resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
            instance=dg.DagsterInstance.ephemeral(),
        )

    assert run("2026-11-02").success
    assert run("2026-11-03").success
    days = (
        read_dataset(Catalog(local_lake), "rides")
        .to_table()
        .group_by("day")
        .aggregate([("day", "count")])
    )
    assert sorted(days["day_count"].to_pylist()) == [100, 100]
    add_csv(project_file, 1, rows=150)  # a corrected file for the same day, same name
    assert run("2026-11-02").success  # re-running the day replaces it: no duplicates
    # One aggregation, read twice: two group_by calls may list their groups in different
    # orders (Arrow's hash aggregation is multi-threaded), which once paired the wrong counts.
    counts = read_dataset(Catalog(local_lake), "rides").to_table().group_by("day")
    counts = counts.aggregate([("day", "count")])
    per_day = dict(zip(counts["day"].to_pylist(), counts["day_count"].to_pylist(), strict=True))
    assert {str(k): v for k, v in per_day.items()} == {"2026-11-02": 150, "2026-11-03": 100}


@pytest.mark.ui  # Dagster's own command line, as `dagster dev` starts: ~10 s of imports
def test_dagster_in_the_repository_root_finds_the_code_location(tmp_path: Path) -> None:
    """`dagster dev` / `dagster definitions validate` read [tool.dagster] from pyproject.toml."""
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    env.pop("THERMOCLINE_PROJECT", None)
    result = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location thermocline." in result.stdout
