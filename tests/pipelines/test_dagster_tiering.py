"""The Dagster tiering job of a dataset, run in-process with the real resource on a local lake:
it applies the policy and observes the tier report as numeric metadata, on the project's
``tiering.schedule``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions

PROJECT = """
lake: {{uri: ./lake}}
tiering: {{schedule: {schedule}, prices: {{GLACIER_IR: 0.005}}}}
datasets:
  events:
    partition_by: [day]
    tiering: {{warm_after_days: 30, cold_after_days: 90}}
  empty: {{}}
"""


def project_file(root: Path, schedule: str = "'30 5 * * *'") -> Path:
    path = root / "thermocline.yaml"
    path.write_text(textwrap.dedent(PROJECT.format(schedule=schedule)))
    return path


def rows(day: str, count: int) -> pa.Table:
    payload = [os.urandom(100_000) for _ in range(count)]
    return pa.table({"day": [day] * count, "payload": pa.array(payload, pa.binary())})


def test_the_tiering_job_applies_and_observes_the_report(tmp_path: Path) -> None:
    path = project_file(tmp_path)
    project = load_project(path, environ={})
    catalog = Catalog(Lake.from_project(project))
    for _ in range(2):  # two files in an old partition: compacted on their way to cold
        write(catalog, "events", rows("2020-01-01", 2), partition_by=["day"])
    write(catalog, "events", rows("2999-01-01", 2), partition_by=["day"])  # stays hot
    before = read_dataset(catalog, "events").count_rows()

    defs = build_definitions(project, str(path))
    job = defs.get_job_def("tier_events_job")
    [op] = job.graph.node_defs
    assert op.pool == "thermocline_writer_events"  # it compacts: one writer per dataset
    result = job.execute_in_process(
        resources={"thermocline": ThermoclineResource(project_path=str(path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [observation] = result.get_asset_observation_events()
    seen = observation.asset_observation_data.asset_observation
    assert seen.asset_key == dg.AssetKey("events")
    metadata = {key: value.value for key, value in seen.metadata.items()}
    assert (metadata["tier/hot/files"], metadata["tier/cold/files"]) == (1, 1)
    assert (metadata["tier/warm/files"], metadata["tier/archive/files"]) == (0, 0)
    assert metadata["tier/moved_files"] == 1
    placed = catalog.tiers.placements("events")
    [(cold_path, where)] = placed.items()
    assert where.tier == "cold"
    assert metadata["tier/cold/bytes"] == metadata["tier/moved_bytes"] == where.size_bytes
    assert metadata["tier/cold/usd_month"] == pytest.approx(where.size_bytes / 2**30 * 0.005)
    assert metadata["tier/usd_month"] == pytest.approx(
        metadata["tier/hot/usd_month"] + metadata["tier/cold/usd_month"]
    )
    assert metadata["tier/savings_usd_month"] == pytest.approx(
        metadata["tier/all_hot_usd_month"] - metadata["tier/usd_month"]
    )
    assert all(isinstance(v, int | float) for v in metadata.values())
    assert open_table(catalog.lake, "events").history(1)[0]["operation"] == "OPTIMIZE"
    assert cold_path.startswith("day=2020-01-01/")
    assert read_dataset(catalog, "events").count_rows() == before

    # A dataset without a table yet: the job succeeds and observes nothing.
    empty = defs.get_job_def("tier_empty_job").execute_in_process(
        resources={"thermocline": ThermoclineResource(project_path=str(path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert empty.success
    assert empty.get_asset_observation_events() == []


def test_the_schedule_comes_from_the_project(tmp_path: Path) -> None:
    defs = build_definitions(load_project(project_file(tmp_path), environ={}))
    daily = defs.get_schedule_def("tier_events_job_daily")
    assert (daily.job_name, daily.cron_schedule) == ("tier_events_job", "30 5 * * *")
    unscheduled = build_definitions(load_project(project_file(tmp_path, "null"), environ={}))
    names = {s.name for s in unscheduled.schedules or ()}
    assert not [n for n in names if n.startswith("tier_")]
    assert "maintain_events_job_nightly" in names
    assert unscheduled.get_job_def("tier_events_job")  # still there, to run by hand
