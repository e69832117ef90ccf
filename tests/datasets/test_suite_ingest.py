"""A dataset's Great Expectations suite judging batches on the batch path (files on a local
lake) and the Kafka path, ``config check`` refusing broken suites, and ``quality suite init``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_runner import thermocline
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.judge import declared_checks
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.ingest.suites import suite_check
from thermocline.datasets.tables.versions import read_dataset
from thermocline.quality.results import CheckContext

SUITE = {
    "name": "events",
    "expectations": [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "fare", "min_value": 0, "max_value": 100},
            "meta": {"severity": "error"},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "city", "value_set": ["oslo", "bergen"]},
            "severity": "warning",
        },
    ],
}


def write_project(root: Path, lake: Lake, source: str, suite: dict[str, Any] | str) -> Project:
    (root / "suites").mkdir(exist_ok=True)
    text = suite if isinstance(suite, str) else json.dumps(suite)
    (root / "suites" / "events.json").write_text(text)
    (root / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}"}}
        datasets:
          events:
            source: {source}
            schema: {{id: int64, fare: float64, city: string}}
            quality: {{suite: suites/events.json}}
        """)
    )
    return load_project(root / "thermocline.yaml", environ={})


def quarantine_reasons(lake: Lake, path: str) -> list[str]:
    with lake.filesystem.open_input_stream(f"{path}/reasons.json") as stream:
        reasons: list[str] = json.loads(stream.read())["reasons"]
    return reasons


def test_the_suite_judges_batch_runs_error_quarantines_warn_publishes(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = write_project(
        tmp_path, local_lake, "{kind: files, url: incoming/*.csv, format: csv}", SUITE
    )
    assert [(c.name, c.severity, c.engine) for c in declared_checks(project, "events")] == [
        ("gx_column_values_to_be_between_fare", "error", "gx"),
        ("gx_column_values_to_be_in_set_city", "warn", "gx"),
    ]
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a.csv").write_text("id,fare,city\n1,12.5,oslo\n2,40,bergen\n")
    outcome = ingest(project, Catalog(local_lake), "events")
    assert (outcome.status, outcome.rows) == ("published", 2)
    assert [(c.name, c.passed) for c in outcome.checks] == [
        ("gx_column_values_to_be_between_fare", True),
        ("gx_column_values_to_be_in_set_city", True),
    ]

    (incoming / "b.csv").write_text("id,fare,city\n3,9,tromso\n")
    outcome = ingest(project, Catalog(local_lake), "events")
    assert (outcome.status, outcome.rows) == ("published", 1), "a warn expectation publishes"
    [warned] = [c for c in outcome.checks if not c.passed]
    assert (warned.name, warned.severity, warned.sample) == (
        "gx_column_values_to_be_in_set_city",
        "warn",
        ("tromso",),
    )

    (incoming / "c.csv").write_text("id,fare,city\n4,500,oslo\n5,20,oslo\n")
    outcome = ingest(project, Catalog(local_lake), "events")
    assert outcome.status == "quarantined"
    assert outcome.quarantine_path is not None
    assert read_dataset(Catalog(local_lake), "events").count_rows() == 3, "nothing published"
    assert quarantine_reasons(local_lake, outcome.quarantine_path) == [
        "expect_column_values_to_be_between on fare: 1 of 2 rows unexpected (50%), e.g. 500; "
        "every row"
    ]


def test_an_edited_suite_is_read_again_and_a_deleted_one_is_a_config_error(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = write_project(
        tmp_path, local_lake, "{kind: files, url: in/*.csv, format: csv}", SUITE
    )
    first = suite_check(project, "events")
    assert first is not None
    assert suite_check(project, "events") is first, "parsed once per file version"
    path = tmp_path / "suites" / "events.json"
    path.write_text(json.dumps({"name": "events", "expectations": SUITE["expectations"][:1]}))
    os.utime(path, ns=(1, 1))  # a new modification time even within the clock's resolution
    edited = suite_check(project, "events")
    assert edited is not first
    path.unlink()
    with pytest.raises(ConfigError, match=r"^suite suites/events.json: file not found"):
        suite_check(project, "events")


@pytest.mark.kafka
def test_the_suite_judges_kafka_micro_batches(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("suite")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    project = write_project(tmp_path, local_lake, f"{{kind: kafka, topic: {topic}}}", SUITE)
    (tmp_path / "thermocline.yaml").write_text(
        (tmp_path / "thermocline.yaml").read_text()
        + f'kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}\n'
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})

    def send(rows: list[dict[str, Any]]) -> list[BatchReport]:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
        for row in rows:
            producer.produce(topic, key=str(row["id"]).encode(), value=json.dumps(row).encode())
        assert producer.flush(30) == 0
        reports: list[BatchReport] = []
        KafkaIngester(
            project, Catalog(local_lake), "events", group_id=f"g-{topic}", on_batch=reports.append
        ).run(until_caught_up=True)
        return reports

    good = [{"id": i, "fare": 10.0 + i, "city": "oslo"} for i in range(5)]
    [report] = send(good)
    assert (report.published, report.quarantined) == (5, 0)
    assert {c.name: c.passed for c in report.checks} == {
        "gx_column_values_to_be_between_fare": True,
        "gx_column_values_to_be_in_set_city": True,
    }
    [report] = send([{"id": 5, "fare": 1.0, "city": "tromso"}])
    assert (report.published, report.quarantined) == (1, 0), "warn publishes"
    [report] = send(
        [{"id": 6, "fare": -1.0, "city": "oslo"}, {"id": 7, "fare": 2.0, "city": "oslo"}]
    )
    assert (report.published, report.quarantined) == (0, 2), "error quarantines"
    assert [c.name for c in report.checks if not c.passed] == [
        "gx_column_values_to_be_between_fare"
    ]
    assert report.quarantine_path is not None
    [reason] = quarantine_reasons(local_lake, report.quarantine_path)
    assert reason.startswith("expect_column_values_to_be_between on fare: 1 of 2 rows unexpected")
    assert read_dataset(Catalog(local_lake), "events").count_rows() == 6


@pytest.mark.parametrize(
    ("suite", "problem"),
    [
        ('{"name": "events", "expectations": [', "suite suites/events.json: not JSON"),
        (
            {"name": "events", "expectations": [{"type": "expect_fare_to_be_fair", "kwargs": {}}]},
            "suite suites/events.json: gx_fare_to_be_fair: unknown expectation type "
            "'expect_fare_to_be_fair'",
        ),
        (
            {
                "name": "events",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "fair"}}
                ],
            },
            "suite suites/events.json: gx_column_values_to_not_be_null_fair "
            "(expect_column_values_to_not_be_null) names column 'fair', which "
            "datasets.events.schema does not declare",
        ),
    ],
)
def test_config_check_refuses_a_broken_suite_in_one_line(
    tmp_path: Path, local_lake: Lake, suite: dict[str, Any] | str, problem: str
) -> None:
    write_project(tmp_path, local_lake, "{kind: files, url: in/*.csv, format: csv}", suite)
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"datasets.events.quality.suite: {problem}" in result.stderr
    as_json = thermocline("config", "check", "--json", cwd=tmp_path)
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)
    assert problem in error["error"]
    assert error["field"] == "datasets.events.quality.suite"


def test_config_check_accepts_a_good_suite(tmp_path: Path, local_lake: Lake) -> None:
    write_project(tmp_path, local_lake, "{kind: files, url: in/*.csv, format: csv}", SUITE)
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_suite_init_profiles_the_latest_version_into_a_suite_it_passes(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = write_project(
        tmp_path, local_lake, "{kind: files, url: in/*.csv, format: csv}", SUITE
    )
    (tmp_path / "in").mkdir()
    rows = "".join(f"{i},{i % 7 + 0.5},{('oslo', 'bergen')[i % 2]}\n" for i in range(40))
    (tmp_path / "in" / "a.csv").write_text("id,fare,city\n" + rows)
    assert ingest(project, Catalog(local_lake), "events").status == "published"

    output = tmp_path / "suites" / "profiled.json"
    result = thermocline(
        "quality", "suite", "init", "events", "--output", str(output), cwd=tmp_path
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"wrote {output}: ")
    assert "from events version 0 (40 rows), all severity warn" in lines[0]
    assert lines[-1].endswith("quality: {suite: suites/profiled.json}")

    again = thermocline("quality", "suite", "init", "events", "--output", str(output), cwd=tmp_path)
    assert again.exit_code == 2
    assert "exists; pass --force" in again.stderr
    forced = thermocline(
        "quality",
        "suite",
        "init",
        "events",
        "--output",
        str(output),
        "--force",
        "--json",
        cwd=tmp_path,
    )
    assert forced.exit_code == 0
    assert json.loads(forced.stdout)["rows_read"] == 40
    # Without --output it lands next to the project file (the top level has no suites/ folder).
    default = thermocline("quality", "suite", "init", "events", "--json", cwd=tmp_path)
    assert default.exit_code == 0, default.stderr
    assert json.loads(default.stdout)["suite"] == "events.suite.json"
    assert (tmp_path / "events.suite.json").is_file()

    written = json.loads(output.read_text())
    project = write_project(
        tmp_path, local_lake, "{kind: files, url: in/*.csv, format: csv}", written
    )
    assert thermocline("config", "check", cwd=tmp_path).exit_code == 0
    check = suite_check(project, "events")
    assert check is not None
    latest = read_dataset(Catalog(local_lake), "events").to_table()
    results = check(latest, CheckContext(now=datetime.now(UTC)))
    assert len(results) == len(written["expectations"]) >= 8
    assert all(r.passed for r in results), [r.message for r in results if not r.passed]


def test_a_project_without_suites_never_imports_gx_for_config_check(tmp_path: Path) -> None:
    """``config check`` imports GX only when a dataset has a suite (checked in a fresh
    interpreter: this process has GX loaded already)."""
    (tmp_path / "thermocline.yaml").write_text(
        "lake: {uri: lake}\ndatasets:\n"
        "  events: {source: {kind: files, url: in/*.csv, format: csv}}\n"
    )
    code = (
        "import sys\nfrom thermocline.pipelines.cli import cli\n"
        "try:\n    cli.main(['config', 'check'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print('great_expectations' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
