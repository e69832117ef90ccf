"""Check results per version in the catalog (issue #15, item 3): recorded where a batch is
published, quarantined or replayed, read back by version after a rollback past it and after
vacuum removed its files; a restore shows the results of the version it restored; a version
whose catalog rows are missing falls back on its commit's summary. Real ingest runs on a local
lake (the catalog store is the same Delta code on S3); one Kafka run against the dev stack.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.check_results import RecordedCheck, summary_checks
from thermocline.catalog.commits import CHECKS_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import IngestOutcome, ingest
from thermocline.datasets.tables.maintenance import compact, vacuum
from thermocline.datasets.tables.quality_history import (
    checks_history,
    quarantine_checks,
    version_checks,
)
from thermocline.datasets.tables.quarantine import quarantine_id_of
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset
from thermocline.quality.results import CheckResult

PROJECT = """
lake: {{uri: {uri}}}
datasets:
  events:
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema: {{id: int64, city: string}}
    quality:
      checks:
        - {{check: not_null, columns: [id], severity: {severity}}}
        - {{check: completeness, column: city, min_ratio: 0.9, severity: warn}}
"""


def project_file(root: Path, lake: Lake, severity: str = "error") -> Project:
    (root / "incoming").mkdir(exist_ok=True)
    text = PROJECT.format(uri=json.dumps(lake.uri), severity=severity)
    (root / "thermocline.yaml").write_text(textwrap.dedent(text))
    return load_project(root / "thermocline.yaml", environ={})


def land(project: Project, name: str, text: str) -> None:
    (project.root / "incoming" / name).write_text(textwrap.dedent(text).lstrip())


def verdicts(found: list[RecordedCheck]) -> list[tuple[str, str]]:
    return [(r.name, r.status) for r in found]


def same(found: list[RecordedCheck], judged: list[CheckResult]) -> None:
    """What was read back is what judged the batch, field by field."""
    fields = ("name", "check", "engine", "severity", "passed", "message", "observed")
    fields += ("threshold", "failing_rows")
    assert [tuple(getattr(r, f) for f in fields) for r in found] == [
        tuple(getattr(r, f) for f in fields) for r in judged
    ]


@pytest.fixture
def events(tmp_path: Path, local_lake: Lake) -> tuple[Project, list[IngestOutcome]]:
    """events v0 (all good), v1 (a city missing: the warning fails), v2 (good)."""
    project = project_file(tmp_path, local_lake)
    outcomes = []
    for name, text in [
        ("a.csv", "id,city\n1,oslo\n2,bergen\n"),
        ("b.csv", "id,city\n3,oslo\n4,\n"),
        ("c.csv", "id,city\n5,oslo\n"),
    ]:
        land(project, name, text)
        outcomes.append(ingest(project, Catalog(local_lake), "events"))
    assert [(o.status, o.version) for o in outcomes] == [
        ("published", 0),
        ("published", 1),
        ("published", 2),
    ]
    return project, outcomes


def test_results_are_recorded_at_publish_and_read_back_by_version(
    events: tuple[Project, list[IngestOutcome]], local_lake: Lake
) -> None:
    _, outcomes = events
    catalog = Catalog(local_lake)
    for outcome in outcomes:
        assert outcome.version is not None
        found = version_checks(catalog, "events", outcome.version)
        assert (found.version, found.judged_version, found.note) == (
            outcome.version,
            outcome.version,
            "",
        )
        same(found.results, outcome.checks)
        assert {r.source for r in found.results} == {"catalog"}
    assert verdicts(version_checks(catalog, "events", 1).results) == [
        ("not_null_id", "pass"),
        ("completeness_city", "warn"),
    ]
    latest = version_checks(catalog, "events")
    assert latest.version == 2
    assert latest.results[0].version == 2
    assert version_checks(catalog, "events", "latest").version == 2
    catalog.set_tag("warned", "events", 1)
    assert version_checks(catalog, "events", "warned").version == 1

    history = checks_history(catalog, "events", 2)
    assert [h.version for h in history] == [2, 1]
    assert [verdicts(h.results) for h in history][1] == verdicts(
        version_checks(catalog, "events", 1).results
    )
    assert [h.version for h in checks_history(catalog, "events", 10)] == [2, 1, 0]


def test_results_survive_a_rollback_past_them_and_a_vacuum_of_their_files(
    events: tuple[Project, list[IngestOutcome]], local_lake: Lake
) -> None:
    _, outcomes = events
    catalog = Catalog(local_lake)
    files_of_v2 = {a["path"] for a in live_files(open_table(local_lake, "events", 2))}
    before = {v: version_checks(catalog, "events", v).results for v in (1, 2)}

    restored = rollback(catalog, "events", 0, reason="bad loads")
    assert restored.new_version == 3
    vacuum(catalog, "events", retention_hours=0)
    left = {a["path"] for a in live_files(open_table(local_lake, "events"))}
    assert files_of_v2 - left, "vacuum removed files only versions 1 and 2 had"
    assert not any(
        local_lake.filesystem.get_file_info(f"events/{p}").is_file for p in files_of_v2 - left
    )

    for version in (1, 2):
        found = version_checks(catalog, "events", version)
        assert found.results == before[version]
        same(found.results, outcomes[version].checks)
    assert [h.version for h in checks_history(catalog, "events", 5)] == [2, 1, 0]


def test_a_restore_version_shows_the_results_of_the_version_it_restored(
    events: tuple[Project, list[IngestOutcome]], local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    rollback(catalog, "events", 1)  # version 3 = version 1's data
    rollback(catalog, "events", 2)  # version 4
    rollback(catalog, "events", 3)  # version 5 = version 3's, a restore itself
    found = version_checks(catalog, "events", 3)
    assert (found.version, found.judged_version, found.operation) == (3, 1, "RESTORE")
    assert found.note == "restore of version 1"
    assert found.results == version_checks(catalog, "events", 1).results
    twice = version_checks(catalog, "events")
    assert (twice.version, twice.judged_version) == (5, 1)
    assert twice.note == "restore of version 3; restore of version 1"
    assert verdicts(twice.results) == [("not_null_id", "pass"), ("completeness_city", "warn")]


def test_a_quarantined_batch_and_its_replay_are_recorded(tmp_path: Path, local_lake: Lake) -> None:
    project = project_file(tmp_path, local_lake)
    catalog = Catalog(local_lake)
    land(project, "a.csv", "id,city\n1,oslo\n")
    assert ingest(project, catalog, "events").status == "published"
    land(project, "b.csv", "id,city\n,oslo\n3,bergen\n")
    kept = ingest(project, catalog, "events")
    assert kept.status == "quarantined"
    assert kept.quarantine_path is not None
    quarantine_id = quarantine_id_of(kept.quarantine_path)

    found = quarantine_checks(catalog, quarantine_id[:8])
    assert (found.quarantine_id, found.version, found.dataset) == (quarantine_id, None, "events")
    same(found.results, kept.checks)
    assert verdicts(found.results) == [("not_null_id", "fail"), ("completeness_city", "pass")]
    positions = version_checks(catalog, "events", 1)  # the positions-only commit
    assert (positions.quarantine_id, positions.judged_version) == (quarantine_id, None)
    assert positions.note == f"positions only: its batch was quarantined as {quarantine_id[:12]}"
    assert positions.results == found.results
    # The history shows the held batch as the version that published its positions.
    history = checks_history(catalog, "events", 5)
    assert [(h.version, h.quarantine_id) for h in history] == [(1, quarantine_id), (0, None)]
    assert history[0].results == found.results

    relaxed = project_file(tmp_path, local_lake, severity="warn")
    replayed = replay(relaxed, catalog, quarantine_id)
    assert replayed.version == 2
    again = version_checks(catalog, "events", 2)
    same(again.results, replayed.checks)
    assert verdicts(again.results) == [("not_null_id", "warn"), ("completeness_city", "pass")]
    assert [h.version for h in checks_history(catalog, "events", 5)] == [2, 1, 0]


def test_a_version_whose_catalog_rows_are_missing_falls_back_on_its_commit(
    events: tuple[Project, list[IngestOutcome]], local_lake: Lake
) -> None:
    """As after a crash between the publish and the catalog append: the rows never landed."""
    _, outcomes = events
    catalog = Catalog(local_lake)
    local_lake.filesystem.delete_dir("_catalog/check_results")

    found = version_checks(catalog, "events", 1)
    assert (found.version, found.judged_version) == (1, 1)
    assert found.note == "from the commit's check summary (its catalog rows are missing)"
    assert {r.source for r in found.results} == {"commit"}
    by_name = {r.name: r for r in outcomes[1].checks}
    same(found.results, [by_name[r.name] for r in found.results])  # the summary sorts by name
    assert sorted(verdicts(found.results)) == [
        ("completeness_city", "warn"),
        ("not_null_id", "pass"),
    ]
    history = checks_history(catalog, "events", 3)
    assert [(h.version, h.note) for h in history] == [(v, found.note) for v in (2, 1, 0)]


def test_a_commit_that_judged_nothing_says_so(
    events: tuple[Project, list[IngestOutcome]], local_lake: Lake
) -> None:
    catalog = Catalog(local_lake)
    compact(catalog, "events")  # three small files into one: an OPTIMIZE commit, no batch
    found = version_checks(catalog, "events")
    assert (found.version, found.operation, found.results) == (3, "OPTIMIZE", [])
    assert found.note == f"a {found.operation} that judged no batch; the last judged version is 2"


@pytest.mark.kafka
def test_kafka_micro_batches_record_their_results(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("checked")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: {json.dumps(local_lake.uri)}}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}}}
            schema: {{id: int64, city: string}}
            quality:
              checks:
                - {{check: not_null, columns: [id]}}
                - {{check: completeness, column: city, min_ratio: 0.9, severity: warn}}
        """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for row in [{"id": 1, "city": "oslo"}, {"id": 2, "city": None}, {"id": None, "city": "x"}]:
        producer.produce(topic, value=json.dumps(row).encode())
    assert producer.flush(30) == 0
    reports: list[BatchReport] = []
    ingester = KafkaIngester(
        project, Catalog(local_lake), "events", max_records=2, on_batch=reports.append
    )
    ingester.run(until_caught_up=True)  # two micro-batches: published, then quarantined
    *published, kept = reports  # the null id comes last, so its micro-batch is the last
    assert published
    assert kept.quarantine_path is not None
    catalog = Catalog(local_lake)
    commits = {e["version"]: e for e in open_table(local_lake, "events").history()}
    for report in published:
        assert report.version is not None
        assert report.quarantine_path is None
        found = version_checks(catalog, "events", report.version)
        assert {r.source for r in found.results} == {"catalog"}, "flushed when the run ended"
        same(found.results, list(report.checks))
        # Had the ingester died before its flush, the commit's summary holds the same results.
        commit = commits[report.version]
        fallback = summary_checks(
            "events", commit[CHECKS_KEY], version=report.version, judged_at=found.judged_at
        )
        by_name = {r.name: r for r in report.checks}
        same(fallback, [by_name[r.name] for r in fallback])
        assert len(fallback) == len(report.checks)
    quarantined = quarantine_checks(catalog, quarantine_id_of(kept.quarantine_path))
    same(quarantined.results, list(kept.checks))
    assert verdicts(quarantined.results)[0] == ("not_null_id", "fail")
    assert read_dataset(catalog, "events").count_rows() == 2
