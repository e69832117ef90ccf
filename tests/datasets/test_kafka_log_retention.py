"""A Kafka ingester keeps its table's Delta log bounded while it runs (issue #18): with
``history.log_retention: 2s`` it trims the log between its own commits every half second, so
the log reaches back only a burst or two however many versions the stream adds, and a tag
taken mid-stream stays readable, with the same rows, after the log has passed it; so do the
restore points its turns take (``restore_points: {every: 1s}``), and a time past the log reads
the newest of them.

Log files are aged with os.utime after each burst (delta-rs's cleanup goes by modification
time), so the test does not wait for them to grow old."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.retention import RetentionResult
from thermocline.datasets.tables.versions import open_table, read_dataset

pytestmark = pytest.mark.kafka

BURST = 12


def make_project(root: Path, lake: Lake, bootstrap: str, topic: str) -> Project:
    (root / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}"}}
        kafka: {{bootstrap_servers: "{bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}, compact_every: 1s}}
            schema: {{id: int64, name: string}}
            history: {{log_retention: 2s, restore_points: {{every: 1s, keep: 1h}}}}
    """)
    )
    return load_project(root / "thermocline.yaml", environ={})


def checksum(catalog: Catalog, at: int | str) -> str:
    ids = sorted(read_dataset(catalog, "events", at=at).to_table(columns=["id"])["id"].to_pylist())
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def log_checksum(lake: Lake, version: int) -> str:
    """``checksum`` read through the Delta log itself (the truth a file list must match)."""
    table = DeltaTable(f"{lake.uri}/events", version=version)
    ids = sorted(table.to_pyarrow_dataset().to_table(columns=["id"])["id"].to_pylist())
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def log_entries(lake: Lake) -> list[Path]:
    return sorted((Path(lake.uri) / "events" / "_delta_log").glob("0*"))


def age_log(lake: Lake) -> None:
    """Every log file an hour old: past the two-second retention."""
    old = time.time() - 3600
    for path in log_entries(lake):
        os.utime(path, (old, old))


def test_the_ingester_keeps_its_log_bounded_and_a_tag_readable(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("retention")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 1})
    sent = 0
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    catalog = Catalog(local_lake)
    reports: list[BatchReport] = []
    points: dict[int, str] = {}  # each restore point a turn took: its rows, through the log

    def on_batch(report: BatchReport) -> None:
        """On the ingester's publishing thread, right after its turn: nothing can trim the
        log before this returns, so the log still reaches a point it has just taken."""
        point = report.log_retention.restore_point if report.log_retention else None
        if point is not None:
            points[point] = log_checksum(local_lake, point)
        reports.append(report)

    ingester = KafkaIngester(project, catalog, "events", max_latency_s=0.1, on_batch=on_batch)
    assert ingester.upkeep.retain_every_s == 0.5, "a quarter of the 2s retention"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingester.run()
        except BaseException as error:  # handed to the test
            errors.append(error)

    def burst() -> None:
        """Send a burst and wait until every publish of it is reported (its turn done)."""
        nonlocal sent
        for number in range(sent, sent + BURST):
            producer.produce(topic, key=str(number).encode(), value=json.dumps({"id": number}))
        sent += BURST
        assert producer.flush(30) == 0
        wait_until(
            lambda: sum(r.published for r in reports) == sent or errors,
            60,
            lambda: f"burst up to {sent}: {errors}",
        )
        assert not errors, errors

    def turns() -> list[tuple[int, RetentionResult]]:
        return [(i, r.log_retention) for i, r in enumerate(reports) if r.log_retention]

    service = threading.Thread(target=run, name="ingester")
    service.start()
    # Each aging: how many reports there were, and the newest checkpoint a turn had written.
    agings: list[tuple[int, int]] = []
    try:
        while len([r for r in reports if r.version is not None]) < 10:
            burst()
        tag = max(r.version for r in reports if r.version is not None)
        catalog.set_tag("mid", "events", tag)  # not aged yet: no turn can trim it first
        tagged = checksum(catalog, tag)
        for _ in range(400):
            burst()
            done = turns()
            agings.append((len(reports), max((r.checkpoint_version for _, r in done), default=-1)))
            age_log(local_lake)
            latest = open_table(local_lake, "events").version()
            if latest >= tag + 60 and len(done) >= 8 and tag in done[-1][1].pinned_past_retention:
                break
    finally:
        ingester.stop()
        service.join(60)
    assert not errors, errors

    done = turns()
    latest = open_table(local_lake, "events").version()
    assert latest >= tag + 60, "the stream made many versions"
    assert len(done) >= 8, "retention ran between the ingester's commits, many times"
    recorded = [i for i, r in done if tag in r.pinned_recorded]
    past = [i for i, r in done if tag in r.pinned_past_retention]
    assert len(recorded) == 1, "the tag's file list is recorded once"
    assert past, "the log no longer reaches the tag"
    assert recorded[0] <= past[0], "recorded before the log passed it"

    # Bounded: after each turn the log reaches back no further than the newest checkpoint a
    # turn had written before the latest aging (everything older was expired then).
    for index, result in done:
        before = [bound for count, bound in agings if count <= index]
        if before:
            assert result.readable_from >= before[-1], (index, result, agings)
    oldest = readable_from(local_lake, "events")
    assert oldest == done[-1][1].readable_from
    commits = [p for p in log_entries(local_lake) if p.name.endswith(".json")]
    assert len(commits) == latest - oldest + 1
    assert len(commits) < (latest + 1) / 4, f"{len(commits)} commits of {latest + 1} versions"

    # The tag reads the same rows, from its recorded file list; nothing else was lost.
    assert checksum(catalog, "mid") == tagged
    assert checksum(catalog, tag) == tagged
    ids = read_dataset(catalog, "events").to_table(columns=["id"])["id"].to_pylist()
    assert sorted(ids) == list(range(sent)), "every record once"

    # Restore points past the log read as the log read them; a time past it reads the newest.
    past_points = sorted(v for v in points if v < oldest)
    assert len(past_points) >= 2, f"turns took restore points the log has passed: {points}"
    assert set(catalog.pinned_files.restore_points("events")) >= set(points)
    for version in past_points:
        assert checksum(catalog, version) == points[version], version
    at = catalog.pinned_files.restore_points("events")[past_points[-1]]
    assert checksum(catalog, at.isoformat()) == points[past_points[-1]]
