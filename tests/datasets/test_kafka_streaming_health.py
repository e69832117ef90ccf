"""A Kafka table that lives for years stays healthy (issue #18): micro-batches add no commit to
the catalog's events table and only a bounded number to its check results (each version's
results still shown by ``thermocline checks``), and the ingester compacts its table and its
dead-letter table between its own commits, keeping every record, sealed ones included."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import thermocline
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import kafka_app_id
from thermocline.datasets.ingest.sealing import unseal
from thermocline.datasets.tables.versions import open_table, read_dataset

pytestmark = pytest.mark.kafka

PARTITIONS = 2
DEAD = dead_letter_table("events")
CHECKS = ["not_null_id", "range_id"]
RESULTS_FLUSH_S = 30  # the ingester's check-result buffer (kafka._RESULTS_FLUSH_S)


def make_project(root: Path, lake: Lake, bootstrap: str, topic: str, extra: str = "") -> Project:
    (root / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}"}}
        kafka: {{bootstrap_servers: "{bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}{extra}}}
            schema: {{id: int64, name: string}}
            quality:
              checks:
                - {{check: not_null, columns: [id]}}
                - {{check: range, column: id, min: 0}}
    """)
    )
    return load_project(root / "thermocline.yaml", environ={})


class Stream:
    """A fresh topic and a producer: ids in order, every ``poison_every``-th one poison."""

    def __init__(self, bootstrap: str, topic: str, poison_every: int = 10) -> None:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)])[topic].result(30)
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
        self.topic, self.poison_every = topic, poison_every
        self.good: set[int] = set()
        self.poison: dict[int, bytes] = {}
        self.sent = 0

    def send(self, count: int) -> None:
        for number in range(self.sent, self.sent + count):
            if number % self.poison_every == 0:
                value = f'{{"id": "not a number {number}", "email": "p{number}@example.com"}}'
                self.poison[number] = value.encode()
            else:
                value = json.dumps({"id": number, "name": f"event {number}"})
                self.good.add(number)
            self.producer.produce(self.topic, key=str(number).encode(), value=value.encode())
        self.sent += count
        assert self.producer.flush(30) == 0


def rows(lake: Lake, table: str) -> int:
    try:
        return read_dataset(Catalog(lake), table).count_rows()
    except DatasetNotFoundError:
        return 0


def catalog_versions(lake: Lake) -> dict[str, int]:
    """Each ``_catalog`` table's latest version (the local lake's folder lists them)."""
    root = Path(lake.uri) / "_catalog"
    return {
        table.name: DeltaTable(str(table)).version()
        for table in sorted(root.iterdir())
        if (table / "_delta_log").is_dir()
    }


def operations(lake: Lake, table: str) -> list[str]:
    """The table's commits' operations, oldest first."""
    return [entry["operation"] for entry in reversed(open_table(lake, table).history())]


def dead_rows(lake: Lake, at: int | None = None) -> list[dict[str, object]]:
    table = read_dataset(Catalog(lake), DEAD, at).to_table()
    return table.sort_by([("partition", "ascending"), ("offset", "ascending")]).to_pylist()


def test_micro_batches_add_no_catalog_events_and_their_check_results_few_commits(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("health")
    stream = Stream(kafka_bootstrap, topic)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    stream.send(40)  # the first run creates the table and the catalog's tables
    KafkaIngester(project, Catalog(local_lake), "events").run(until_caught_up=True)
    Catalog(local_lake).set_tag("first", "events", 0)  # an event: the events table exists
    before = catalog_versions(local_lake)
    assert {"events", "check_results"} <= set(before), before

    stream.send(400)
    reports: list[BatchReport] = []
    started = time.monotonic()
    KafkaIngester(
        project, Catalog(local_lake), "events", max_records=25, on_batch=reports.append
    ).run(until_caught_up=True)
    elapsed = time.monotonic() - started
    after = catalog_versions(local_lake)

    versions = [r.version for r in reports if r.version is not None]
    assert len(versions) >= 10, f"only {len(versions)} micro-batches: the test needs many"
    assert after["events"] == before["events"], "a micro-batch recorded a catalog event"
    # One append per half minute of publishing, plus the one on stop.
    bound = 1 + int(elapsed // RESULTS_FLUSH_S)
    assert 1 <= after["check_results"] - before["check_results"] <= bound, (before, after)
    others = {t: v for t, v in after.items() if t != "check_results"}
    assert others == {t: before.get(t) for t in others}, "another catalog table moved"
    assert rows(local_lake, "events") == len(stream.good)

    # Each micro-batch's own results, read back from the catalog (not the commit's summary).
    for version in versions:
        shown = thermocline("checks", f"events@{version}", "--json", cwd=tmp_path)
        assert shown.exit_code == 0, shown.output
        found = json.loads(shown.stdout)
        assert found["judged_version"] == version
        assert [r["name"] for r in found["results"]] == CHECKS
        assert {r["source"] for r in found["results"]} == {"catalog"}
        assert all(r["passed"] for r in found["results"])


def test_dead_letter_compaction_keeps_every_record_and_its_sealed_payload(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("dead")
    stream = Stream(kafka_bootstrap, topic, poison_every=3)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    for _ in range(3):  # three runs, each leaving small dead-letter files
        stream.send(30)
        KafkaIngester(project, Catalog(local_lake), "events", compact_every_s=None).run(
            until_caught_up=True
        )
    small = len(open_table(local_lake, DEAD).file_uris())
    assert small >= 3
    stream.send(30)

    reports: list[BatchReport] = []
    KafkaIngester(
        project, Catalog(local_lake), "events", compact_every_s=0, on_batch=reports.append
    ).run(until_caught_up=True)
    compaction = reports[-1].dead_letter_compaction
    assert compaction is not None
    assert compaction.version is not None
    dead = open_table(local_lake, DEAD)
    assert dead.version() == compaction.version
    assert operations(local_lake, DEAD)[-1] == "OPTIMIZE"
    assert len(dead.file_uris()) == compaction.files_added < small

    # The same rows, byte for byte, as the version the compaction started from.
    compacted = dead_rows(local_lake)
    assert compacted == dead_rows(local_lake, compaction.version - 1)
    assert sorted(map(key_of, compacted)) == sorted(stream.poison)
    assert all(row["sealed"] for row in compacted), "the PII policy seals dead letters"
    opened = unseal(read_dataset(Catalog(local_lake), DEAD).to_table(), pii_key())
    raws = {key_of(row): row["raw"] for row in opened.to_pylist()}
    assert raws == stream.poison, "sealed payloads open to the bytes that were sent"
    # Positions stay: a restart publishes no dead letter twice.
    for partition in range(PARTITIONS):
        app = kafka_app_id(topic, partition)
        assert dead.transaction_version(app) == max(
            row["offset"] for row in compacted if row["partition"] == partition
        )
    assert rows(local_lake, "events") == len(stream.good)


def pii_key() -> bytes:
    return os.environ["THERMOCLINE_PII_KEY"].encode()


def key_of(row: dict[str, object]) -> int:
    """The id a dead letter's Kafka key carries."""
    key = row["key"]
    assert isinstance(key, bytes)
    return int(key)


def test_the_service_compacts_between_its_own_commits(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    """``compact_every: 1s`` in the project file; a stream that keeps arriving, with poison in
    every burst: the long-lived ingester compacts both tables while it publishes, and no
    commit of either kind fails (every publish is reported once, every compaction lands)."""
    topic = fresh_name("service")
    stream = Stream(kafka_bootstrap, topic, poison_every=7)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic, ", compact_every: 1s")
    reports: list[BatchReport] = []
    ingester = KafkaIngester(
        project, Catalog(local_lake), "events", max_latency_s=0.1, on_batch=reports.append
    )
    assert ingester.compact_every_s == 1.0
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingester.run()
        except BaseException as error:  # handed to the test
            errors.append(error)

    def compactions(field: str) -> int:
        return sum(1 for r in reports if (c := getattr(r, field)) is not None and c.version)

    service = threading.Thread(target=run, name="ingester")
    service.start()
    try:
        # Bursts, each waited for: publishes keep coming while compactions fall due.
        for _ in range(200):
            stream.send(14)
            wait_until(
                lambda: rows(local_lake, "events") == len(stream.good) or errors,
                60,
                lambda: f"burst up to {stream.sent}: {errors}",
            )
            assert not errors, errors
            if compactions("compaction") >= 2 and compactions("dead_letter_compaction") >= 2:
                break
        wait_until(lambda: rows(local_lake, DEAD) == len(stream.poison) or errors, 60, "dead")
    finally:
        ingester.stop()
        service.join(60)
    assert not errors, errors
    assert compactions("compaction") >= 2
    assert compactions("dead_letter_compaction") >= 2

    table = read_dataset(Catalog(local_lake), "events").to_table(columns=["id"])
    ids = table["id"].to_pylist()
    assert len(ids) == len(set(ids)), "every record once"
    assert set(ids) == stream.good
    dead = dead_rows(local_lake)
    assert sorted(map(key_of, dead)) == sorted(stream.poison)

    # Publishes and compactions interleave on both tables, and none was lost: each report
    # is one data commit, each compaction it reports is one OPTIMIZE commit.
    done = operations(local_lake, "events")
    published = [r for r in reports if r.version is not None]
    assert len(done) - done.count("OPTIMIZE") == len(published)
    assert done.count("OPTIMIZE") == compactions("compaction")
    first, last = done.index("OPTIMIZE"), len(done) - 1 - done[::-1].index("OPTIMIZE")
    assert any(op != "OPTIMIZE" for op in done[first:last]), "a publish between compactions"
    dead_done = operations(local_lake, DEAD)
    assert dead_done.count("OPTIMIZE") == compactions("dead_letter_compaction")
    assert len(open_table(local_lake, DEAD).file_uris()) < len(dead_done)
