"""Datasets that run themselves: the source sensors ticked in-process against a real local lake
(a real file folder, a real SQLite database, real materializations), and which sensors and
conditions each ``automation:`` setting gives. The daemon picking them up is test_daemon.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pyarrow.csv as pacsv
import pytest

from thermocline.catalog.config import Project
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import demo_rides
from thermocline.datasets.ingest.base import SourceFile
from thermocline.datasets.ingest.consumed import Consumed, pending_files
from thermocline.pipelines.automation import decide_files, decide_sql
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions

REPO_ROOT = Path(__file__).resolve().parents[2]

RIDES = """
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
    pii:
      columns: {{rider_email: hash}}
    automation: {automation}
"""


def write_project(tmp_path: Path, datasets: str) -> Project:
    (tmp_path / "incoming").mkdir(exist_ok=True)
    path = tmp_path / "thermocline.yaml"
    path.write_text(f"lake: {{uri: {tmp_path / 'lake'}}}\ndatasets:{datasets}")
    return load_project(path)


def add_csv(tmp_path: Path, batch: int) -> None:
    pacsv.write_csv(demo_rides(batch, 50), tmp_path / "incoming" / f"rides-{batch:04d}.csv")


class Ticker:
    """Ticks one sensor as the daemon does: one instance, the cursor carried between ticks."""

    def __init__(self, project: Project, sensor_name: str) -> None:
        self.defs = build_definitions(project, str(project.path))
        self.sensor = self.defs.get_sensor_def(sensor_name)
        self.resources = {"thermocline": ThermoclineResource(project_path=str(project.path))}
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def __call__(self) -> dg.RunRequest | dg.SkipReason:
        context = dg.build_sensor_context(
            instance=self.instance, resources=self.resources, cursor=self.cursor
        )
        answer = self.sensor(context)
        self.cursor = context.cursor
        assert isinstance(answer, dg.RunRequest | dg.SkipReason), answer
        return answer

    def materialize(self, asset: str) -> None:
        result = dg.materialize(
            [self.defs.get_assets_def(asset)], resources=self.resources, instance=self.instance
        )
        assert result.success


def test_pending_files_are_the_ones_a_run_would_read() -> None:
    new = SourceFile("file:///in/new.csv", 10)
    whole = SourceFile("file:///in/whole.csv", 10)
    partly = SourceFile("file:///in/partly.csv", 10)
    changed = SourceFile("file:///in/changed.csv", 12)
    consumed = {
        whole.url: Consumed(whole),
        partly.url: Consumed(partly, frozenset({"2026-11-02"})),
        changed.url: Consumed(SourceFile(changed.url, 10), frozenset({"2026-11-02"})),
    }
    assert pending_files([new, whole, partly, changed], consumed) == [new, partly]


def test_the_files_decision_requests_once_per_set_of_pending_files() -> None:
    a, b = SourceFile("file:///in/a.csv", 1), SourceFile("file:///in/b.csv", 2)
    first = decide_files("rides", [a], "")
    assert first.request
    assert first.cursor
    assert "a.csv" in first.reason
    again = decide_files("rides", [a], first.cursor)
    assert not again.request
    assert "already requested" in again.reason
    more = decide_files("rides", [b, a], first.cursor)
    assert more.request
    assert more.cursor != first.cursor
    assert decide_files("rides", [a, b], "").cursor == more.cursor, "order does not matter"
    bigger = decide_files("rides", [SourceFile(a.url, 5)], first.cursor)
    assert bigger.request, "a file of another size is another state"


def test_the_sql_decision_requests_once_per_watermark_state() -> None:
    assert not decide_sql("orders", 5, None, "").request
    first = decide_sql("orders", 5, 9, "")
    assert first.request
    assert first.cursor
    assert not decide_sql("orders", 5, 9, first.cursor).request
    assert decide_sql("orders", 5, 12, first.cursor).request, "more rows since"
    assert decide_sql("orders", None, 3, "").request, "an empty table"


def test_the_file_sensor_requests_a_run_for_new_files_and_only_once(tmp_path: Path) -> None:
    project = write_project(tmp_path, RIDES.format(automation="{interval_s: 5}"))
    tick = Ticker(project, "rides_source_sensor")
    assert tick.sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert tick.sensor.minimum_interval_seconds == 5

    empty = tick()
    assert isinstance(empty, dg.SkipReason)
    assert empty.skip_message == "rides: every source file is in the table"

    add_csv(tmp_path, 1)
    request = tick()
    assert isinstance(request, dg.RunRequest), request
    assert request.run_key is not None
    assert request.run_key.startswith("rides:")
    repeated = tick()
    assert isinstance(repeated, dg.SkipReason), "the same files are not requested twice"
    assert "already requested" in (repeated.skip_message or "")

    tick.materialize("rides")
    done = tick()
    assert isinstance(done, dg.SkipReason)
    assert done.skip_message == "rides: every source file is in the table"

    add_csv(tmp_path, 2)
    second = tick()
    assert isinstance(second, dg.RunRequest)
    assert second.run_key != request.run_key


def test_switching_automation_off_in_the_project_file_stops_the_running_sensor(
    tmp_path: Path,
) -> None:
    """The daemon keeps the sensor it loaded; the project file it reads at every tick says
    the dataset's automation is off now, so the sensor requests nothing."""
    project = write_project(tmp_path, RIDES.format(automation="{}"))
    tick = Ticker(project, "rides_source_sensor")
    add_csv(tmp_path, 1)
    assert project.path is not None
    project.path.write_text(
        project.path.read_text().replace("automation: {}", "automation: {enabled: false}")
    )
    skipped = tick()
    assert isinstance(skipped, dg.SkipReason)
    assert "automation is off in the project file" in (skipped.skip_message or "")


def test_the_file_sensor_waits_while_a_run_it_requested_is_going(tmp_path: Path) -> None:
    project = write_project(tmp_path, RIDES.format(automation="{}"))
    tick = Ticker(project, "rides_source_sensor")
    add_csv(tmp_path, 1)
    going = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id="0123456789ab-going",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/sensor_name": "rides_source_sensor"},
    )
    tick.instance.add_run(going)
    busy = tick()
    assert isinstance(busy, dg.SkipReason)
    assert busy.skip_message == "run 0123456789ab-going is still materializing rides"
    tick.instance.report_run_failed(going)
    assert isinstance(tick(), dg.RunRequest)


def test_the_sql_sensor_requests_a_run_when_the_watermark_moves(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
        connection.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 2.5), (2, 4.0)])
    project = write_project(
        tmp_path,
        """
  orders:
    source: {kind: sql, url: 'sqlite:///shop.db', table: orders, watermark_column: id}
    schema: {id: int64, amount: float64}
""",
    )
    tick = Ticker(project, "orders_source_sensor")
    first = tick()
    assert isinstance(first, dg.RunRequest), first
    assert isinstance(tick(), dg.SkipReason), "the same watermark is not requested twice"
    tick.materialize("orders")
    caught_up = tick()
    assert isinstance(caught_up, dg.SkipReason)
    assert caught_up.skip_message == "orders: no source row past the watermark 2"
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO orders VALUES (3, 1.0)")
    moved = tick()
    assert isinstance(moved, dg.RunRequest), moved


def test_each_automation_setting_gives_its_sensors_and_conditions(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        RIDES.format(automation="{enabled: false}")
        + """
  trips:
    source: {kind: files, url: incoming/*.csv, format: csv}
    automation: {interval_s: 7}
  fares:
    source: {kind: derived, inputs: [trips], sql: 'SELECT fare FROM trips'}
    automation: {interval_s: 9}
  manual_fares:
    source: {kind: derived, inputs: [trips], sql: 'SELECT fare FROM trips'}
    automation: {enabled: false}
  clicks:
    source: {kind: kafka, topic: clicks}
  live_clicks:
    source: {kind: kafka, topic: clicks}
    automation: {enabled: true}
  quiet_clicks:
    source: {kind: kafka, topic: clicks}
    automation: {enabled: false}
  snapshot:
    source: {kind: sql, url: 'sqlite:///shop.db', table: orders}
""",
    )
    defs = build_definitions(project, str(project.path))
    sensors = {s.name: s for s in defs.sensors or []}
    running, stopped = dg.DefaultSensorStatus.RUNNING, dg.DefaultSensorStatus.STOPPED
    assert {name: s.default_status for name, s in sensors.items()} == {
        "trips_source_sensor": running,
        "fares_automation": running,
        "clicks_kafka_sensor": stopped,
        "live_clicks_kafka_sensor": running,
    }
    assert sensors["trips_source_sensor"].minimum_interval_seconds == 7
    assert sensors["fares_automation"].minimum_interval_seconds == 9
    assert isinstance(sensors["fares_automation"], dg.AutomationConditionSensorDefinition)
    assert sensors["fares_automation"].asset_selection.resolve(defs.resolve_asset_graph()) == {
        dg.AssetKey("fares")
    }

    def condition(name: str) -> dg.AutomationCondition | None:
        return next(iter(defs.get_assets_def(name).specs)).automation_condition

    eager = condition("fares")
    assert eager is not None
    assert eager.get_label() == "eager"
    for name in ("rides", "trips", "manual_fares", "clicks", "snapshot"):
        assert condition(name) is None, name


def test_the_repository_project_runs_its_file_dataset_by_itself() -> None:
    defs = build_definitions(load_project(REPO_ROOT / "thermocline.yaml"))
    sensor = defs.get_sensor_def("rides_source_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    kafka = defs.get_sensor_def("ride_events_kafka_sensor")
    assert kafka.default_status == dg.DefaultSensorStatus.STOPPED


@pytest.mark.parametrize("interval", [5, 60])
def test_interval_s_is_the_sensors_minimum_interval(tmp_path: Path, interval: int) -> None:
    project = write_project(tmp_path, RIDES.format(automation=f"{{interval_s: {interval}}}"))
    defs = build_definitions(project, str(project.path))
    assert defs.get_sensor_def("rides_source_sensor").minimum_interval_seconds == interval


def test_a_late_day_of_an_input_recomputes_that_day_of_a_daily_derived_dataset(
    tmp_path: Path,
) -> None:
    """Dagster's eager condition looks at the latest day only; a file that lands late for an
    older day of the input must recompute that day of a partition-wise derived dataset."""
    project = write_project(
        tmp_path,
        RIDES.format(automation="{}").replace(
            "    automation: {}\n",
            "    partition_by: [day]\n    partition_start: 2026-11-01\n",
        )
        + """
  daily_fares:
    source:
      kind: derived
      inputs: [rides]
      partition_wise: true
      sql: SELECT day, sum(fare) AS fares FROM rides GROUP BY day
    partition_by: [day]
    partition_start: 2026-11-01
""",
    )
    defs = build_definitions(project, str(project.path))
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(dg.AssetMaterialization("rides", partition="2026-11-02"))
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert after.get_requested_partitions(dg.AssetKey("daily_fares")) == {"2026-11-02"}
