"""Kafka -> Delta beyond plain JSON, against the dev stack's broker and schema registry:
Avro in the Confluent wire format, schema evolution, and the dataset's checks."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import QUARANTINE_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import kafka_app_id
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.tables.quarantine import list_quarantined
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.pipelines.devstack import StackInfo

pytestmark = pytest.mark.kafka


def make_project(
    tmp_path: Path, lake: Lake, bootstrap: str, source: str, extra: str = ""
) -> Project:
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}", storage_options: {json.dumps(dict(lake.storage_options))}}}
        kafka: {{bootstrap_servers: "{bootstrap}"{extra}}}
        datasets:
          events:
            source: {source}
            schema: {{id: int64, name: string}}
            quality:
              checks:
                - {{check: not_null, columns: [name]}}
    """)
    )
    return load_project(tmp_path / "thermocline.yaml", environ={})


def create_topic(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(timeout=30)


def send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for number, value in enumerate(values):
        producer.produce(topic, key=str(number).encode(), value=value)
    assert producer.flush(30) == 0


def ingest(project: Project, lake: Lake) -> list[BatchReport]:
    reports: list[BatchReport] = []
    # A group of its own: a group whose members left together may never get partitions again
    # on Tansu (DESIGN.md), and every test would otherwise share `thermocline-events`.
    source = project.dataset("events").source
    group = f"g-{getattr(source, 'topic', 'events')}"
    KafkaIngester(project, Catalog(lake), "events", group_id=group, on_batch=reports.append).run(
        until_caught_up=True
    )
    return reports


def test_avro_through_the_schema_registry_lands_with_dead_letters(
    tmp_path: Path,
    local_lake: Lake,
    kafka_bootstrap: str,
    dev_stack: StackInfo,
    fresh_name: Callable[[str], str],
) -> None:
    assert dev_stack.registry is not None
    url = dev_stack.registry.url
    topic = fresh_name("avro")
    create_topic(kafka_bootstrap, topic)
    fields: list[dict[str, Any]] = [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
    ]
    serialize = AvroSerializer(
        SchemaRegistryClient({"url": url}),
        json.dumps({"type": "record", "name": "event", "fields": fields}),
    )
    context = SerializationContext(topic, MessageField.VALUE)
    values = [serialize({"id": i, "name": f"event {i}"}, context) for i in range(2_000)]
    poison = {7, 1_500}
    for number in poison:
        values[number] = b"not avro at all"
    send(kafka_bootstrap, topic, values)
    source = f"{{kind: kafka, topic: {topic}, format: avro}}"
    project = make_project(
        tmp_path, local_lake, kafka_bootstrap, source, f', schema_registry_url: "{url}"'
    )

    ingest(project, local_lake)
    table = read_dataset(Catalog(local_lake), "events").to_table()
    dead = read_dataset(Catalog(local_lake), dead_letter_table("events")).to_table()
    assert sorted(table["id"].to_pylist()) == sorted(set(range(2_000)) - poison)
    assert {int(k) for k in dead["key"].to_pylist()} == poison
    assert all("wire format" in e for e in dead["error"].to_pylist())


def test_new_fields_become_columns_and_a_type_conflict_is_a_dead_letter(
    tmp_path: Path, lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("evolve")
    create_topic(kafka_bootstrap, topic)
    project = make_project(tmp_path, lake, kafka_bootstrap, f"{{kind: kafka, topic: {topic}}}")
    send(kafka_bootstrap, topic, [json.dumps({"id": 1, "name": "a"}).encode()])
    ingest(project, lake)
    send(kafka_bootstrap, topic, [json.dumps({"id": 2, "name": "b", "score": 0.5}).encode()])
    ingest(project, lake)
    assert "score" in open_table(lake, "events").schema().to_arrow().names

    # A new process learns `score` from the table: a string there is a dead letter.
    send(kafka_bootstrap, topic, [json.dumps({"id": 3, "name": "c", "score": "high"}).encode()])
    ingest(project, lake)
    rows = read_dataset(Catalog(lake), "events").to_table().sort_by("id").to_pylist()
    assert rows == [
        {"id": 1, "name": "a", "score": None},
        {"id": 2, "name": "b", "score": 0.5},
    ]
    dead = read_dataset(Catalog(lake), dead_letter_table("events")).to_table().to_pylist()
    assert len(dead) == 1
    assert "score" in dead[0]["error"]


def test_a_batch_failing_a_blocking_check_is_quarantined_and_the_stream_goes_on(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("checked")
    create_topic(kafka_bootstrap, topic, partitions=1)
    project = make_project(
        tmp_path, local_lake, kafka_bootstrap, f"{{kind: kafka, topic: {topic}}}"
    )
    good = [json.dumps({"id": i, "name": f"n{i}"}).encode() for i in range(10)]
    send(kafka_bootstrap, topic, good)
    assert [r.published for r in ingest(project, local_lake)] == [10]

    bad = [json.dumps({"id": 10 + i, "name": None if i == 3 else "x"}).encode() for i in range(5)]
    send(kafka_bootstrap, topic, bad)
    [report] = ingest(project, local_lake)
    assert (report.published, report.quarantined) == (0, 5)
    assert report.quarantine_path is not None
    assert [c.name for c in report.checks if not c.passed] == ["not_null_name"]
    table = open_table(local_lake, "events")
    assert table.transaction_version(kafka_app_id(topic, 0)) == 14, "positions move on"
    assert read_dataset(Catalog(local_lake), "events").count_rows() == 10, "nothing published"
    reasons = json.loads(
        local_lake.filesystem.open_input_stream(f"{report.quarantine_path}/reasons.json").read()
    )
    assert reasons["rows"] == 5
    assert reasons["source"] == {"kafka_last_offsets": {f"{topic}:0": 14}}
    files = local_lake.filesystem.get_file_info(
        pafs.FileSelector(report.quarantine_path, recursive=True)
    )
    assert any(f.path.endswith(".parquet") for f in files), "the rows are kept"
    [latest] = open_table(local_lake, "events").history(1)
    assert latest[QUARANTINE_KEY] == report.quarantine_path
    assert "quarantined" in (history(local_lake, "events", limit=1)[0].reason or "")

    send(kafka_bootstrap, topic, [json.dumps({"id": 99, "name": "later"}).encode()])
    assert [r.published for r in ingest(project, local_lake)] == [1]
    assert read_dataset(Catalog(local_lake), "events").count_rows() == 11


def test_a_quarantined_micro_batch_keeps_each_partitions_rows_and_offsets(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    """Issue #13, item 4: per Kafka partition its rows, offsets, failed checks and a sample;
    replayed once (a second replay adds nothing)."""
    topic = fresh_name("parts")
    create_topic(kafka_bootstrap, topic, partitions=2)
    project = make_project(
        tmp_path, local_lake, kafka_bootstrap, f"{{kind: kafka, topic: {topic}}}"
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(6):  # partition 0: ids 0, 2, 4 (4 has no name); partition 1: ids 1, 3, 5
        value = {"id": i, "name": None if i == 4 else f"n{i}"}
        producer.produce(topic, value=json.dumps(value).encode(), partition=i % 2)
    assert producer.flush(30) == 0
    [report] = ingest(project, local_lake)
    assert (report.published, report.quarantined) == (0, 6)
    catalog = Catalog(local_lake)
    (record,) = list_quarantined(catalog, "events")
    assert [s.source for s in record.sources] == [f"{topic}:0", f"{topic}:1"]
    zero, one = record.sources
    assert [r["id"] for r in zero.sample] == [0, 2, 4]
    assert [r["id"] for r in one.sample] == [1, 3, 5]
    assert (zero.position["first_offset"], zero.position["last_offset"]) == (0, 2)
    assert (one.position["first_offset"], one.position["last_offset"]) == (0, 2)
    assert [(c["check"], c["failing_rows"]) for c in zero.checks] == [("not_null_name", 1)]
    assert one.checks == [], "partition 1 passed: quarantined only as part of its batch"

    relaxed = make_project(
        tmp_path, local_lake, kafka_bootstrap, f"{{kind: kafka, topic: {topic}}}"
    ).model_copy(deep=True)
    relaxed.datasets["events"].quality.checks.clear()
    assert replay(relaxed, catalog, record.id).rows == 6
    assert replay(relaxed, catalog, record.id).status == "already_replayed"
    ids = read_dataset(catalog, "events").to_table(columns=["id"])["id"].to_pylist()
    assert sorted(ids) == [0, 1, 2, 3, 4, 5]
