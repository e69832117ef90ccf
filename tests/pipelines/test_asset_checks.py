"""Quality checks in Dagster: asset checks declared from the project (numbers as numeric
metadata, a checks table on the materialization) and the freshness policy, materialized
in-process on a real local lake."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

# Dagster's own freshness evaluator and clock, as its freshness daemon runs them: the test
# evaluates the policy in-process at a later time instead of waiting for it.
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time
from dagster._time import get_current_datetime

from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import DEMO_BAD_CITY, DEMO_CITIES, demo_rides
from thermocline.pipelines.asset_checks import CHECKS_TABLE, check_metadata, checks_markdown
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.quality.results import CheckResult

PROJECT = """
lake: {{uri: "{uri}"}}
datasets:
  rides:
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema:
      ride_id: int64
      started_at: timestamp[us, tz=UTC]
      day: date32
      city: string
      distance_km: float64
      fare: float64
      rider_email: string
    quality:
      checks:
        - {{check: not_null, columns: [ride_id]}}
        - {{check: range, column: fare, min: 0}}
        - {{check: freshness, column: started_at, max_age: 2h, severity: warn}}
    pii:
      columns: {{rider_email: allow}}
"""


@pytest.fixture
def project_file(tmp_path: Path, local_lake: Lake) -> Path:
    (tmp_path / "incoming").mkdir()
    path = tmp_path / "thermocline.yaml"
    path.write_text(textwrap.dedent(PROJECT.format(uri=local_lake.uri)))
    return path


def add_csv(project_file: Path, batch: int, bad_fares: int = 0, bad_city: bool = False) -> None:
    table = demo_rides(batch, 200, bad=bad_city)
    fares = table["fare"].to_pylist()
    fares[:bad_fares] = [-1.0] * bad_fares
    table = table.set_column(table.schema.get_field_index("fare"), "fare", pa.array(fares))
    pacsv.write_csv(table, project_file.parent / "incoming" / f"rides-{batch:04d}.csv")


def materialize(project_file: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(load_project(project_file), str(project_file))
    return dg.materialize(
        [defs.get_assets_def("rides")],
        resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
        instance=instance,
        raise_on_error=False,
    )


def test_declared_checks_report_their_numbers_as_numeric_metadata(project_file: Path) -> None:
    defs = build_definitions(load_project(project_file), str(project_file))
    rides = defs.get_assets_def("rides")
    specs = {spec.name: spec for spec in rides.check_specs}
    assert list(specs) == ["pii", "not_null_ride_id", "range_fare", "freshness_started_at"]
    assert specs["range_fare"].blocking
    assert not specs["freshness_started_at"].blocking, "warn checks do not block"

    add_csv(project_file, 0)
    with dg.DagsterInstance.ephemeral() as instance:
        good = materialize(project_file, instance)
        add_csv(project_file, 1, bad_fares=3)
        bad = materialize(project_file, instance)
    assert good.success
    evaluations = {e.check_name: e for e in good.get_asset_check_evaluations()}
    assert set(evaluations) == set(specs)
    fare = evaluations["range_fare"].metadata
    assert fare["rows"] == dg.IntMetadataValue(200)
    assert fare["failing_rows"] == dg.IntMetadataValue(0)
    assert fare["engine"] == dg.TextMetadataValue("builtin")
    assert fare["check"] == dg.TextMetadataValue("range")
    (event,) = good.get_asset_materialization_events()
    table = event.materialization.metadata[CHECKS_TABLE].value
    assert table.count("\n| ") == 3, "one line per check of the batch"
    assert "| range_fare | pass | error | builtin |" in table

    assert not bad.success, "a failed error check quarantines the batch and fails the run"
    failed = {e.check_name: e for e in bad.get_asset_check_evaluations() if not e.passed}
    assert failed["range_fare"].metadata["failing_rows"] == dg.IntMetadataValue(3)
    assert failed["range_fare"].severity == dg.AssetCheckSeverity.ERROR
    (failure,) = bad.get_step_failure_events()
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None
    assert (
        "| range_fare | **FAIL** | error | builtin |" in user_failure.metadata[CHECKS_TABLE].value
    )


def test_check_metadata_keeps_numbers_numeric_and_names_the_expectation() -> None:
    result = CheckResult(
        "gx_column_values_to_be_in_set_city",
        "expect_column_values_to_be_in_set",
        "error",
        False,
        "city: 4 of 200 values not in the set",
        {"rows": 200, "unexpected_percent": 2.0, "column": "city"},
        engine="gx",
        observed=0.02,
        threshold="in {amsterdam, berlin}",
        failing_rows=4,
        sample=("atlantis", "atlantis"),
    )
    metadata = check_metadata(result)
    assert metadata["observed"] == dg.FloatMetadataValue(0.02)
    assert metadata["failing_rows"] == dg.IntMetadataValue(4)
    assert metadata["rows"] == dg.IntMetadataValue(200)
    assert metadata["unexpected_percent"] == dg.FloatMetadataValue(2.0)
    assert metadata["threshold"] == dg.TextMetadataValue("in {amsterdam, berlin}")
    assert metadata["expectation"] == dg.TextMetadataValue("expect_column_values_to_be_in_set")
    assert metadata["engine"] == dg.TextMetadataValue("gx")
    assert metadata["sample"] == dg.TextMetadataValue("atlantis, atlantis")
    assert "| gx_column_values_to_be_in_set_city | **FAIL** | error | gx | 0.02 |" in (
        checks_markdown([result])
    )


def test_a_freshness_check_gives_the_asset_a_freshness_policy_that_goes_stale(
    project_file: Path,
) -> None:
    defs = build_definitions(load_project(project_file), str(project_file))
    node = defs.resolve_asset_graph().get(dg.AssetKey("rides"))
    policy = node.freshness_policy_or_from_metadata
    assert isinstance(policy, dg.FreshnessPolicy)
    assert policy.fail_window.to_timedelta() == timedelta(hours=2)  # type: ignore[attr-defined]

    add_csv(project_file, 0)
    with dg.DagsterInstance.ephemeral() as instance:

        def freshness() -> FreshnessState:
            return asyncio.run(
                TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(
                    LoadingContextForTest(instance), node
                )
            )

        assert freshness() == FreshnessState.UNKNOWN, "never materialized"
        assert materialize(project_file, instance).success
        assert freshness() == FreshnessState.PASS
        # No new run for longer than max_age: stale, without anything running.
        with freeze_time(get_current_datetime() + timedelta(hours=2, minutes=1)):
            assert freshness() == FreshnessState.FAIL
        with freeze_time(get_current_datetime() + timedelta(hours=1, minutes=59)):
            assert freshness() == FreshnessState.PASS


def test_a_dataset_without_a_freshness_check_has_no_freshness_policy(
    project_file: Path,
) -> None:
    text = project_file.read_text()
    project_file.write_text(text.replace("        - {check: freshness", "        # "))
    defs = build_definitions(load_project(project_file), str(project_file))
    node = defs.resolve_asset_graph().get(dg.AssetKey("rides"))
    assert node.freshness_policy_or_from_metadata is None


SUITE = {
    "name": "rides",
    "expectations": [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "city", "value_set": list(DEMO_CITIES)},
            "meta": {"severity": "error"},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "fare", "min_value": 100, "max_value": 200},
            "meta": {"severity": "warn"},
        },
    ],
}


def test_a_suite_is_one_asset_check_per_expectation_and_an_error_one_blocks(
    project_file: Path,
) -> None:
    (project_file.parent / "rides.json").write_text(json.dumps(SUITE))
    text = project_file.read_text()
    project_file.write_text(text.replace("    pii:", "      suite: rides.json\n    pii:"))
    defs = build_definitions(load_project(project_file), str(project_file))
    specs = {spec.name: spec for spec in defs.get_assets_def("rides").check_specs}
    assert specs["gx_column_values_to_be_in_set_city"].blocking
    assert not specs["gx_column_mean_to_be_between_fare"].blocking

    ran: list[str] = []

    @dg.asset(deps=["rides"])
    def rides_features() -> None:
        ran.append("features")

    def run(batch: int, bad_city: bool) -> dg.ExecuteInProcessResult:
        add_csv(project_file, batch, bad_city=bad_city)
        return dg.materialize(
            [defs.get_assets_def("rides"), rides_features],
            resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    good = run(0, bad_city=False)
    assert good.success
    assert ran == ["features"]
    evaluations = {e.check_name: e for e in good.get_asset_check_evaluations()}
    assert set(evaluations) == set(specs), "every expectation reported"
    mean = evaluations["gx_column_mean_to_be_between_fare"]
    assert not mean.passed, "a warn expectation fails and the batch is published anyway"
    assert mean.severity == dg.AssetCheckSeverity.WARN
    assert isinstance(mean.metadata["observed"], dg.FloatMetadataValue)
    assert mean.metadata["engine"] == dg.TextMetadataValue("gx")
    assert mean.metadata["expectation"] == dg.TextMetadataValue("expect_column_mean_to_be_between")
    (event,) = good.asset_materializations_for_node("rides")
    table = event.metadata[CHECKS_TABLE].value
    assert "| gx_column_mean_to_be_between_fare | **FAIL** | warn | gx |" in table
    assert "| gx_column_values_to_be_in_set_city | pass | error | gx |" in table

    bad = run(1, bad_city=True)
    assert not bad.success
    assert ran == ["features"], "the downstream asset did not run again"
    assert bad.get_asset_materialization_events() == []
    failed = {e.check_name: e for e in bad.get_asset_check_evaluations() if not e.passed}
    city = failed["gx_column_values_to_be_in_set_city"]
    assert city.severity == dg.AssetCheckSeverity.ERROR
    assert city.metadata["failing_rows"] == dg.IntMetadataValue(4)  # every 50th of 200 rides
    assert DEMO_BAD_CITY in str(city.metadata["sample"].value)
