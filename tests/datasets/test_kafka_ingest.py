"""Kafka -> Delta against the dev stack's broker: exactly once, with dead letters."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.config import Project, load_project
from thermocline.catalog.lake import Lake
from thermocline.datasets.kafka import KafkaIngester, dead_letter_table, kafka_app_id
from thermocline.datasets.tables import open_table, read_dataset

pytestmark = pytest.mark.kafka

EVENTS = 10_000
PARTITIONS = 4


def make_project(tmp_path: Path, lake: Lake, bootstrap: str, topic: str) -> Project:
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}", storage_options: {json.dumps(dict(lake.storage_options))}}}
        kafka: {{bootstrap_servers: "{bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}}}
            schema: {{id: int64, name: string}}
    """)
    )
    return load_project(tmp_path / "thermocline.yaml", environ={})


def produce(bootstrap: str, topic: str) -> set[int]:
    """EVENTS keyed events; every 100th is poison (malformed JSON or a wrong type)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    poison = set()
    for number in range(EVENTS):
        if number % 100 == 0:
            poison.add(number)
            value = (
                b'{"id": '
                if number % 200 == 0
                else json.dumps({"id": f"not-a-number-{number}", "name": "x"}).encode()
            )
        else:
            value = json.dumps({"id": number, "name": f"event {number}"}).encode()
        producer.produce(topic, key=str(number).encode(), value=value)
        if number % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return poison


def test_every_event_lands_once_and_poison_goes_to_dead_letters(
    tmp_path: Path, lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("events")
    poison = produce(kafka_bootstrap, topic)
    project = make_project(tmp_path, lake, kafka_bootstrap, topic)

    KafkaIngester(project, lake, "events", max_records=3_000).run(until_caught_up=True)
    table = read_dataset(lake, "events").to_table()
    dead = read_dataset(lake, dead_letter_table("events")).to_table()
    assert table.num_rows + dead.num_rows == EVENTS, "good + dead = consumed"
    assert pc.count_distinct(table["id"]).as_py() == table.num_rows == EVENTS - len(poison)
    assert set(table["id"].to_pylist()) == set(range(EVENTS)) - poison
    assert {int(k) for k in dead["key"].to_pylist()} == poison
    assert all(dead["error"].to_pylist())
    positions = {
        p: open_table(lake, "events").transaction_version(kafka_app_id(topic, p))
        for p in range(PARTITIONS)
    }
    assert all(v is not None for v in positions.values())

    version = open_table(lake, "events").version()
    KafkaIngester(project, lake, "events", group_id="another-group").run(until_caught_up=True)
    assert open_table(lake, "events").version() == version, "a restart resumes from the table"
    assert read_dataset(lake, "events").count_rows() == table.num_rows
