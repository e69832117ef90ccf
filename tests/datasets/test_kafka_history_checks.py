"""A history-aware check on the Kafka path: distribution drift against the table's latest
version, its reference kept between micro-batches (read once, not per micro-batch)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester

pytestmark = pytest.mark.kafka

NORMAL, SHIFTED = 200, 200


def test_distribution_drift_with_a_cached_reference(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("drift")
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{local_lake.uri}"}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        datasets:
          rides:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}}}
            schema: {{id: int64, fare: double}}
            quality:
              checks:
                - {{check: distribution_drift, column: fare, method: psi}}
    """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for number in range(NORMAL + SHIFTED):
        fare = 10.0 + number % 20 + (50.0 if number >= NORMAL else 0.0)
        producer.produce(topic, value=json.dumps({"id": number, "fare": fare}).encode())
    assert producer.flush(30) == 0

    reports: list[BatchReport] = []
    ingester = KafkaIngester(
        project, Catalog(local_lake), "rides", max_records=100, on_batch=reports.append
    )
    ingester.run(until_caught_up=True)

    first_offset = 0
    judged: list[tuple[range, bool]] = []
    for report in reports:
        last = report.positions[0]
        (drift,) = report.checks
        judged.append((range(first_offset, last + 1), drift.passed))
        first_offset = last + 1
    assert first_offset == NORMAL + SHIFTED
    normal = [passed for offsets, passed in judged if offsets.stop <= NORMAL]
    shifted = [passed for offsets, passed in judged if offsets.start >= NORMAL]
    assert len(normal) >= 2  # the first (nothing to compare yet) and one against version 0
    assert all(normal)
    assert shifted
    assert not any(shifted)
    assert sum(r.quarantined for r in reports) >= SHIFTED - 99
    # One read of the reference column (version 0) for every micro-batch after the first,
    # although each publish made a newer version.
    assert ingester.decoder.baselines.reads == 1
