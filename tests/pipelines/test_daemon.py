"""Pipelines that run themselves, with the real Dagster daemon: ``dagster-daemon run`` for a
project with a file dataset and a derived one on a tmp local lake. A CSV dropped in the source
folder is published by a run that the file dataset's source sensor requested, and the derived
dataset is then recomputed by its automation condition. Nobody clicks Materialize.

The daemon runs in its own session (as ``thermocline ui up`` runs ``dagster dev``) and the whole
session is stopped afterwards. Waits poll the lake and the instance with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow.csv as pacsv
import pytest
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import demo_rides
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.pipelines.devstack.processes import log_tail, spawn

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 90.0
ROWS = 120

PROJECT = """
lake: {uri: ./lake}
datasets:
  rides:
    owners: [data@example.com]
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema:
      ride_id: int64
      started_at: timestamp[us, tz=UTC]
      day: date32
      city: string
      distance_km: float64
      fare: float64
      rider_email: string
    pii:
      columns: {rider_email: allow}
    automation: {interval_s: 5}
  city_fares:
    source:
      kind: derived
      inputs: [rides]
      sql: SELECT city, count(*) AS rides, sum(fare) AS fares FROM rides GROUP BY city
    automation: {interval_s: 5}
"""

pytestmark = pytest.mark.ui


@dataclass(frozen=True)
class Daemon:
    project: Project
    home: Path
    log: Path
    pid: int

    def tail(self) -> str:
        return f"\n--- last lines of {self.log} ---\n{log_tail(self.log, 60)}"

    def runs(self, sensor: str) -> list[dg.DagsterRun]:
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return list(
                instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": sensor}))
            )

    def materialized_by(self, asset: str) -> str | None:
        """The run id of the latest materialization of ``asset``."""
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            return event.run_id if event is not None else None


def _session_members(sid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(stat.parent.name))
    return members


def _stop_session(pid: int) -> None:
    """SIGTERM the daemon's session (it and the code servers and runs it started), then
    SIGKILL what is left after a deadline."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    try:
        wait_until(lambda: not _session_members(pid), 20, "the daemon's session to exit", every=0.2)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("automation")
    (root / "incoming").mkdir()
    (root / "thermocline.yaml").write_text(PROJECT)
    project = load_project(root / "thermocline.yaml")
    home = root / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "THERMOCLINE_PROJECT": str(root / "thermocline.yaml"),
    }
    env.pop("THERMOCLINE_LAKE", None)
    log = home / "dagster-daemon.log"
    argv = [
        str(Path(sys.executable).parent / "dagster-daemon"),
        "run",
        "-m",
        "thermocline.pipelines.definitions",
    ]
    pid = spawn(argv, pid_file=home / "dagster-daemon.pid", log_file=log, env=env)
    print(f"dagster-daemon PID {pid}, log {log}")
    try:
        yield Daemon(project, home, log, pid)
    finally:
        _stop_session(pid)


def _version(lake: Lake, name: str) -> int | None:
    try:
        return int(open_table(lake, name).version())
    except DatasetNotFoundError:
        return None


def test_a_dropped_csv_is_published_by_the_source_sensor(daemon: Daemon) -> None:
    lake = Lake.from_project(daemon.project)
    assert _version(lake, "rides") is None
    pacsv.write_csv(demo_rides(1, ROWS), daemon.project.root / "incoming" / "rides-0001.csv")

    wait_until(
        lambda: _version(lake, "rides") is not None,
        DEADLINE_S,
        lambda: f"the source sensor's run to publish rides{daemon.tail()}",
        every=0.5,
    )
    assert read_dataset(Catalog(lake), "rides").count_rows() == ROWS
    (run,) = daemon.runs("rides_source_sensor")
    assert run.tags["thermocline/automation"] == "source"
    assert daemon.materialized_by("rides") == run.run_id
    wait_until(
        lambda: daemon.runs("rides_source_sensor")[0].status == dg.DagsterRunStatus.SUCCESS,
        DEADLINE_S,
        lambda: f"the sensor's run to succeed{daemon.tail()}",
        every=0.5,
    )


def test_the_automation_condition_requests_the_derived_dataset_after_its_input(
    daemon: Daemon,
) -> None:
    """The condition's part, whichever branch the derived reader is on: once rides is
    published, the daemon's automation condition sensor requests a run of city_fares."""
    lake = Lake.from_project(daemon.project)
    wait_until(
        lambda: _version(lake, "rides") is not None,
        DEADLINE_S,
        lambda: f"rides to be published{daemon.tail()}",
        every=0.5,
    )
    (run,) = wait_until(
        lambda: daemon.runs("city_fares_automation"),
        DEADLINE_S,
        lambda: f"the automation condition to request city_fares{daemon.tail()}",
        every=0.5,
    )
    assert run.asset_selection == {dg.AssetKey("city_fares")}


def test_the_derived_dataset_is_recomputed_when_its_input_is(daemon: Daemon) -> None:
    lake = Lake.from_project(daemon.project)
    wait_until(
        lambda: _version(lake, "rides") is not None,
        DEADLINE_S,
        lambda: f"rides to be published{daemon.tail()}",
        every=0.5,
    )
    wait_until(
        lambda: _version(lake, "city_fares") is not None,
        DEADLINE_S,
        lambda: f"the automation condition to compute city_fares{daemon.tail()}",
        every=0.5,
    )
    first = read_dataset(Catalog(lake), "city_fares").to_table()
    assert sum(first["rides"].to_pylist()) == read_dataset(Catalog(lake), "rides").count_rows()

    published = _version(lake, "city_fares")
    pacsv.write_csv(demo_rides(2, ROWS), daemon.project.root / "incoming" / "rides-0002.csv")
    wait_until(
        lambda: (_version(lake, "city_fares") or 0) > (published or 0),
        DEADLINE_S,
        lambda: f"city_fares to be recomputed after the second CSV{daemon.tail()}",
        every=0.5,
    )
    again = read_dataset(Catalog(lake), "city_fares").to_table()
    assert sum(again["rides"].to_pylist()) == read_dataset(Catalog(lake), "rides").count_rows()
    assert sum(again["rides"].to_pylist()) >= 2 * ROWS
