"""Kafka -> Delta against the dev stack's broker: exactly once, with dead letters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from random import Random

import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_crash import When, fork_server, ingest_to_the_end, ingest_until_killed
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import kafka_app_id
from thermocline.datasets.tables.versions import open_table, read_dataset

pytestmark = pytest.mark.kafka

EVENTS = 10_000
PARTITIONS = 4
DEAD = dead_letter_table("events")


def make_project(tmp_path: Path, lake: Lake, bootstrap: str, topic: str) -> Project:
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}", storage_options: {json.dumps(dict(lake.storage_options))}}}
        kafka: {{bootstrap_servers: "{bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}}}
            schema: {{id: int64, name: string}}
    """)
    )
    return load_project(tmp_path / "thermocline.yaml", environ={})


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)])[topic].result(timeout=30)


def table_rows(lake: Lake, table: str = "events") -> int:
    """Rows published so far (0 before the first publish)."""
    try:
        return read_dataset(Catalog(lake), table).count_rows()
    except DatasetNotFoundError:
        return 0


def produce(bootstrap: str, topic: str, events: int = EVENTS) -> set[int]:
    """``events`` keyed events; every 100th is poison (malformed JSON or a wrong type)."""
    create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    poison = set()
    for number in range(events):
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

    KafkaIngester(project, Catalog(lake), "events", max_records=3_000).run(until_caught_up=True)
    table = read_dataset(Catalog(lake), "events").to_table()
    dead = read_dataset(Catalog(lake), dead_letter_table("events")).to_table()
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
    KafkaIngester(project, Catalog(lake), "events", group_id=f"another-{topic}").run(
        until_caught_up=True
    )
    assert open_table(lake, "events").version() == version, "a restart resumes from the table"
    assert read_dataset(Catalog(lake), "events").count_rows() == table.num_rows


CRASH_EVENTS = 40_000
# Where each life of the ingester is killed, in order: (table, its nth publish in that life,
# hang before that commit / after it / carry on and be killed a random moment later). Each
# life resumes from what the lives before it left; the kills land mid-stream by construction.
CRASH_POINTS: list[tuple[str, int, When]] = [
    ("events", 1, "before"),  # dead letters committed, rows staged, rows not committed
    ("_dead_letters/events", 1, "after"),  # dead letters committed, their rows not staged
    ("_dead_letters/events", 2, "before"),  # dead letters staged, not committed
    ("events", 2, "after"),  # a batch committed, nothing after it
    ("events", 1, "on"),  # random moments while publishing (at most ON_SPAN more batches)
    ("events", 3, "on"),
]
RANDOM_KILL_S = 0.2


def test_sigkill_at_every_point_of_publishing_loses_and_repeats_nothing(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    """Exactly once through SIGKILLs: every record lands once, in the table or (poison) in the
    dead letters. Each life is killed at a chosen point of the publish path (it waits there to
    be killed) or at a random moment while publishing, so the test asserts the same whatever
    the machine's speed; the final life catches up."""
    topic = fresh_name("crash")
    poison = produce(kafka_bootstrap, topic, CRASH_EVENTS)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    context = fork_server()
    random = Random(7)
    progress: list[tuple[int, int]] = []  # (rows, dead letters) after each kill

    for life, (table, nth, when) in enumerate(CRASH_POINTS):
        reached = context.Event()
        child = context.Process(
            target=ingest_until_killed,
            args=(str(project.path), fresh_name(f"crash-{life}"), table, nth, when, reached),
        )
        child.start()
        try:
            point = f"publish {nth} to {table} ({when})"
            assert reached.wait(120), f"life {life} never reached {point}; exit {child.exitcode}"
            if when == "on":
                time.sleep(random.uniform(0, RANDOM_KILL_S))  # the kill's moment, not a wait
            assert child.is_alive(), f"life {life} exited {child.exitcode} before its SIGKILL"
        finally:
            child.kill()
            child.join(30)
        assert child.exitcode == -signal.SIGKILL
        progress.append((table_rows(local_lake), table_rows(local_lake, DEAD)))

    good = CRASH_EVENTS - len(poison)
    assert progress[1][1] > 0, f"life 1 was killed after a dead-letter commit: {progress}"
    assert progress[3][0] > 0, f"life 3 was killed after a commit of rows: {progress}"
    assert all(rows < good for rows, _ in progress), f"killed only mid-stream: {progress}"
    final = context.Process(target=ingest_to_the_end, args=(str(project.path), fresh_name("final")))
    final.start()
    final.join(300)
    assert final.exitcode == 0

    ids = read_dataset(Catalog(local_lake), "events").to_table(columns=["id"])["id"]
    assert len(ids) == good
    assert set(ids.to_pylist()) == set(range(CRASH_EVENTS)) - poison
    keys = read_dataset(Catalog(local_lake), DEAD).to_table(columns=["key"])["key"].to_pylist()
    assert len(keys) == len(poison)
    assert {int(k) for k in keys} == poison


def thermocline(project: Project, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "thermocline"), "--project", str(project.path), *args]


def test_the_cli_service_stops_gracefully_on_sigterm(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("service")
    poison = produce(kafka_bootstrap, topic)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    service = subprocess.Popen(
        thermocline(project, "ingest", "kafka", "events"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: table_rows(local_lake), 60, "the service's first publish")
    service.send_signal(signal.SIGTERM)
    out, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    assert "events: published" in out
    assert "rows/s, lag" in err, "the live progress line"

    caught_up = subprocess.run(
        thermocline(project, "ingest", "kafka", "events", "--until-caught-up"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert caught_up.returncode == 0, caught_up.stderr
    good = read_dataset(Catalog(local_lake), "events").count_rows()
    dead = read_dataset(Catalog(local_lake), dead_letter_table("events")).count_rows()
    assert (good, dead) == (EVENTS - len(poison), len(poison))


def test_two_ingesters_in_a_group_one_killed_midway_still_exactly_once(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("pair")
    create_topic(kafka_bootstrap, topic)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 20})
    total = 100_000
    for number in range(total):
        producer.produce(topic, key=str(number).encode(), value=b'{"id": %d, "name": "e"}' % number)
    assert producer.flush(60) == 0
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    group = fresh_name("pair")  # a group whose members were killed may be stuck on Tansu
    command = thermocline(
        project, "ingest", "kafka", "events", "--group", group, "--max-latency", "0.2"
    )
    first, second = (
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    )

    wait_until(lambda: table_rows(local_lake), 60, "the group's first publish")
    first.send_signal(signal.SIGKILL)  # the survivor takes its partitions after the rebalance
    first.wait()
    wait_until(
        lambda: table_rows(local_lake) >= total or second.poll() is not None,
        180,
        lambda: f"the survivor to publish all {total} records: {table_rows(local_lake)} so far",
        every=0.2,
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
    ids = read_dataset(Catalog(local_lake), "events").to_table(columns=["id"])["id"]
    assert len(ids) == total
    assert pc.count_distinct(ids).as_py() == total


def test_a_dagster_run_consumes_the_topic_in_micro_batch_mode(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    import dagster as dg

    from thermocline.pipelines.definitions import ThermoclineResource, build_definitions

    topic = fresh_name("dagster")
    poison = produce(kafka_bootstrap, topic)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    defs = build_definitions(project, str(project.path))
    events = defs.get_assets_def("events")
    assert next(iter(events.specs)).kinds == {"delta", "kafka"}

    def run() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [events],
            resources={"thermocline": ThermoclineResource(project_path=str(project.path))},
            instance=dg.DagsterInstance.ephemeral(),
        )

    first = run()
    (event,) = first.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["rows_published"].value == EVENTS - len(poison)
    assert metadata["dead_letters"].value == len(poison)
    assert set(metadata["kafka/offsets"].value) == {str(p) for p in range(PARTITIONS)}
    assert run().get_asset_materialization_events() == [], "caught up: nothing to materialize"


def test_the_ingester_compacts_its_small_files_without_changing_rows_or_positions(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("compact")
    create_topic(kafka_bootstrap, topic)
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for round_ in range(3):
        for number in range(round_ * 100, round_ * 100 + 100):
            producer.produce(topic, value=json.dumps({"id": number, "name": "x"}).encode())
        assert producer.flush(30) == 0
        KafkaIngester(project, Catalog(local_lake), "events", compact_every_s=None).run(
            until_caught_up=True
        )
    small = len(open_table(local_lake, "events").file_uris())
    assert small >= 3
    positions = {
        p: open_table(local_lake, "events").transaction_version(kafka_app_id(topic, p))
        for p in range(PARTITIONS)
    }

    for number in range(300, 310):
        producer.produce(topic, value=json.dumps({"id": number, "name": "x"}).encode())
    assert producer.flush(30) == 0
    reports: list[BatchReport] = []
    KafkaIngester(
        project,
        Catalog(local_lake),
        "events",
        compact_every_s=0,
        on_batch=reports.append,
    ).run(until_caught_up=True)
    compaction = reports[-1].compaction
    assert compaction is not None
    assert compaction.files_removed == small + 1
    table = open_table(local_lake, "events")
    assert len(table.file_uris()) == compaction.files_added < small
    assert table.history(1)[0]["operation"] == "OPTIMIZE"
    ids = read_dataset(Catalog(local_lake), "events").to_table()["id"].to_pylist()
    assert sorted(ids) == list(range(310))
    after = {p: table.transaction_version(kafka_app_id(topic, p)) for p in range(PARTITIONS)}
    # Keyless records may leave a partition empty: it has no position before or after.
    for p in range(PARTITIONS):
        if positions[p] is not None:
            assert after[p] is not None, f"compaction dropped partition {p}'s position"
            assert after[p] >= positions[p]
    assert sum(r.published for r in reports) == 10


def test_the_consumer_group_comes_from_the_option_the_source_or_the_dataset(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str
) -> None:
    project = make_project(tmp_path, local_lake, kafka_bootstrap, "groups")
    catalog = Catalog(local_lake)
    assert KafkaIngester(project, catalog, "events").group_id == "g-groups"  # the source's
    assert KafkaIngester(project, catalog, "events", group_id="cli").group_id == "cli"
    (tmp_path / "thermocline.yaml").write_text(
        (tmp_path / "thermocline.yaml").read_text().replace(", group: g-groups", "")
    )
    plain = load_project(tmp_path / "thermocline.yaml", environ={})
    assert KafkaIngester(plain, catalog, "events").group_id == "thermocline-events"
