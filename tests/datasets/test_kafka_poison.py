"""Poison of every kind in a real stream (Tansu): each record goes to the dead letters with its
reason, the good records around it are published, and the ingester keeps running."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import KafkaIngester
from thermocline.datasets.ingest.sealing import unseal
from thermocline.datasets.tables.versions import read_dataset

pytestmark = pytest.mark.kafka

LIMIT = 4 * 1024 * 1024  # the source's max_record_bytes
BIG = "x" * (3 * 1024 * 1024)  # a field over pyarrow's 1 MiB JSON block, under the limit
# Each kind of poison, keyed by the id it replaces, with the words its reason must carry.
POISON: dict[int, tuple[bytes | None, str]] = {
    3: (b'{"id": 3, "name": "\xff\xfe"}', "not valid UTF-8"),
    5: (b"null", "null payload"),
    7: (None, "empty payload"),  # a tombstone: no value at all
    9: (b'{"id": 9, "name": "n", "score": NaN}', "'score': NaN or Infinity"),
    11: (b'{"id": 11, "name": "n", "score": Infinity}', "'score': NaN or Infinity"),
    13: (b'{"id": 13, "name": "a"}{"id": 14, "name": "b"}', "2 values in one record"),
    15: (b'{"id": 15, "name": "' + b"y" * (LIMIT + 1) + b'"}', "over the limit"),
    17: (b"[17]", "not a JSON object"),
}
GOOD_BEFORE = 20  # ids 0..19: the poison among them; more good records come after it


def _rows(lake: Lake, table: str) -> int:
    try:
        return read_dataset(Catalog(lake), table).count_rows()
    except DatasetNotFoundError:
        return 0


def test_each_kind_of_poison_is_a_dead_letter_and_the_stream_goes_on(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("poison")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{local_lake.uri}"}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, max_record_bytes: {LIMIT}}}
            schema: {{id: int64, name: string, score: float64}}
    """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 2 * LIMIT})

    def send(number: int, value: bytes | None) -> None:
        producer.produce(topic, key=str(number).encode(), value=value)

    good = set()
    for number in range(GOOD_BEFORE):
        if number in POISON:
            send(number, POISON[number][0])
            continue
        name = BIG if number == 1 else f"event {number}"
        send(number, json.dumps({"id": number, "name": name, "score": 0.5}).encode())
        good.add(number)
    assert producer.flush(30) == 0

    ingester = KafkaIngester(
        project, Catalog(local_lake), "events", group_id=fresh_name("poison"), max_latency_s=0.2
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingester.run()
        except BaseException as error:  # handed to the test
            errors.append(error)

    service = threading.Thread(target=run, name="ingester")
    service.start()
    try:
        dead_table = dead_letter_table("events")
        wait_until(
            lambda: (
                _rows(local_lake, "events") == len(good)
                and _rows(local_lake, dead_table) == len(POISON)
            ),
            60,
            lambda: f"{len(good)} rows and {len(POISON)} dead letters: {errors}",
        )
        for number in range(GOOD_BEFORE, GOOD_BEFORE + 10):  # the stream goes on after them
            send(number, json.dumps({"id": number, "name": "later", "score": 1.0}).encode())
            good.add(number)
        assert producer.flush(30) == 0
        wait_until(
            lambda: _rows(local_lake, "events") == len(good),
            60,
            lambda: f"the records after the poison: {errors}",
        )
        assert service.is_alive(), f"the ingester stopped: {errors}"
    finally:
        ingester.stop()
        service.join(60)
    assert not errors

    table = read_dataset(Catalog(local_lake), "events").to_table()
    assert sorted(table["id"].to_pylist()) == sorted(good)
    names = dict(zip(table["id"].to_pylist(), table["name"].to_pylist(), strict=True))
    assert names[1] == BIG, "the large field is read whole"
    # The dataset's PII policy is active (scan: true by default): raw payloads are sealed.
    sealed = read_dataset(Catalog(local_lake), dead_table).to_table()
    assert all(sealed["sealed"].to_pylist())
    dead = unseal(sealed, os.environ["THERMOCLINE_PII_KEY"].encode()).to_pylist()
    reasons = {int(row["key"]): row["error"] for row in dead}
    assert len(dead) == len(reasons) == len(POISON)
    for number, (_, reason) in POISON.items():
        assert reason in reasons[number], (number, reasons[number])
    raws = {int(row["key"]): row["raw"] for row in dead}
    assert raws[3] == POISON[3][0], "the raw bytes are kept as they came"
