"""Two Kafka ingesters of one dataset, with different consumer groups, killed and restarted at
random (real Tansu): every record lands exactly once, in the table or in the dead letters.

Different groups means both consume every partition and race to publish the same offsets;
only the contiguity of positions (a batch publishes only if it starts right after the table's
position, DESIGN.md > Decision 3) keeps the table and the dead letters free of duplicates and
holes.
"""

from __future__ import annotations

import contextlib
import json
import signal
import textwrap
import time
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from random import Random

import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_crash import fork_server, ingest_forever, ingest_to_the_end
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import kafka
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka_decode import DecodedBatch
from thermocline.datasets.tables.versions import read_dataset

pytestmark = pytest.mark.kafka

RECORDS = 20_000
PARTITIONS = 4
KILLS = 6
# Micro-batch sizes per slot: unequal, as two processes' batches are in practice (timing,
# settings), so their batches overlap instead of ending at the same offsets.
BATCH = {"a": 700, "b": 1_100}
DEAD = dead_letter_table("events")


def _project(tmp_path: Path, lake: Lake, bootstrap: str, topic: str) -> Project:
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


def _produce(bootstrap: str, topic: str) -> set[int]:
    """``RECORDS`` keyed records; every 97th is poison (half malformed, half a wrong type)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    poison = set()
    for number in range(RECORDS):
        value = json.dumps({"id": number, "name": f"event {number}"}).encode()
        if number % 97 == 0:
            poison.add(number)
            value = b'{"id": ' if number % 2 else b'{"id": "x%d"}' % number
        producer.produce(topic, key=str(number).encode(), value=value)
        if number % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return poison


def _landed(lake: Lake) -> int:
    """Rows plus dead letters published so far."""
    total = 0
    for table in ("events", DEAD):
        with contextlib.suppress(DatasetNotFoundError):
            total += read_dataset(Catalog(lake), table).count_rows()
    return total


def test_two_ingesters_with_different_groups_killed_at_random_land_every_record_once(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("two-groups")
    poison = _produce(kafka_bootstrap, topic)
    project = _project(tmp_path, local_lake, kafka_bootstrap, topic)
    context: ForkServerContext = fork_server()
    random = Random(13)

    def start(slot: str) -> BaseProcess:
        # A fresh group each life: each slot's group consumes every partition (the two race),
        # and no life waits on a group whose member was killed (DESIGN.md > Tansu).
        child = context.Process(
            target=ingest_forever,
            args=(str(project.path), fresh_name(f"group-{slot}"), BATCH[slot]),
        )
        child.start()
        return child

    slots = {"a": start("a"), "b": start("b")}
    try:
        # Kill when the stream is this far along (seeded), then at a random moment after it.
        for fraction in sorted(random.uniform(0.05, 0.8) for _ in range(KILLS)):
            wait_until(
                lambda f=fraction: _landed(local_lake) >= f * RECORDS,
                60,
                lambda f=fraction: f"{f:.0%} of the records published: {_landed(local_lake)}",
            )
            time.sleep(random.uniform(0, 0.3))  # the kill's moment, not a wait
            slot = random.choice(sorted(slots))
            assert slots[slot].is_alive(), f"{slot} exited {slots[slot].exitcode} before its kill"
            slots[slot].kill()
            slots[slot].join(30)
            assert slots[slot].exitcode == -signal.SIGKILL
            slots[slot] = start(slot)
    finally:
        for child in slots.values():
            child.kill()
            child.join(30)

    # Both catch up side by side (still racing), then each record is there exactly once.
    finals = [
        context.Process(
            target=ingest_to_the_end,
            args=(str(project.path), fresh_name(f"end-{slot}"), BATCH[slot]),
        )
        for slot in slots
    ]
    for final in finals:
        final.start()
    for final in finals:
        final.join(120)
        assert final.exitcode == 0

    ids = read_dataset(Catalog(local_lake), "events").to_table(columns=["id"])["id"]
    keys = read_dataset(Catalog(local_lake), DEAD).to_table(columns=["key"])["key"].to_pylist()
    dead = [int(k) for k in keys]
    assert pc.count_distinct(ids).as_py() == len(ids), "a record is in the table twice"
    assert len(set(dead)) == len(dead), "a record is in the dead letters twice"
    assert set(ids.to_pylist()) == set(range(RECORDS)) - poison
    assert set(dead) == poison


def test_a_catch_up_run_whose_last_batch_loses_a_race_reads_on_instead_of_exiting(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    """``run(until_caught_up=True)`` reaches every partition's end with one batch in flight;
    another writer publishes the first records before it, so that batch conflicts. Exiting
    then (as the run did) left the rest of the topic unpublished with exit 0; the run must
    read on from the table's positions and publish it."""
    topic = fresh_name("last-batch-race")
    poison = _produce(kafka_bootstrap, topic)
    project = _project(tmp_path, local_lake, kafka_bootstrap, topic)
    catalog = Catalog(local_lake)
    rival = kafka.KafkaIngester(
        project, catalog, "events", group_id=fresh_name("rival"), max_records=2_000
    )
    rival.on_batch = lambda report: rival.stop()  # one batch, then it leaves
    mine = kafka.KafkaIngester(
        project, catalog, "events", group_id=fresh_name("mine"), max_records=RECORDS
    )
    own_publish = mine._publish
    raced: list[bool] = []

    def rival_first(decoded: DecodedBatch) -> None:
        # On the publishing thread, once the consumer is at every end: the batch in flight is
        # the run's last, and the rival publishes the records it starts with.
        if not raced and mine._caught_up():
            raced.append(True)
            rival.run()
        own_publish(decoded)

    mine._publish = rival_first  # type: ignore[method-assign]
    mine.run(until_caught_up=True)
    assert raced, "the rival published first"

    ids = read_dataset(catalog, "events").to_table(columns=["id"])["id"]
    dead = {
        int(k) for k in read_dataset(catalog, DEAD).to_table(columns=["key"])["key"].to_pylist()
    }
    assert pc.count_distinct(ids).as_py() == len(ids), "a record is in the table twice"
    assert set(ids.to_pylist()) == set(range(RECORDS)) - poison
    assert dead == poison
