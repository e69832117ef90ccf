"""Kafka in Dagster against the dev stack's broker: the service's runless events, the
micro-batch asset's checks, and the sensor."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import KafkaIngester
from thermocline.datasets.ingest.kafka_topic import pending_records
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.pipelines.asset_checks import CHECKS_TABLE
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.streaming import DagsterReporter

pytestmark = pytest.mark.kafka


def make_project(tmp_path: Path, lake: Lake, bootstrap: str, topic: str) -> Project:
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}"}}
        kafka: {{bootstrap_servers: "{bootstrap}"}}
        datasets:
          clicks:
            source: {{kind: kafka, topic: {topic}}}
            schema: {{id: int64, page: string}}
            quality:
              checks:
                - {{check: not_null, columns: [page]}}
    """)
    )
    return load_project(tmp_path / "thermocline.yaml", environ={})


def send(bootstrap: str, topic: str, first: int, count: int, null_page_at: int = -1) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for number in range(first, first + count):
        page = None if number == null_page_at else f"/p/{number % 7}"
        producer.produce(topic, value=json.dumps({"id": number, "page": page}).encode())
    assert producer.flush(30) == 0


@pytest.fixture
def topic(kafka_bootstrap: str, fresh_name: Callable[[str], str]) -> str:
    name = fresh_name("clicks")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3)])[name].result(timeout=30)
    return name


def test_the_service_reports_each_publish_and_its_checks_to_dagster(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, topic: str
) -> None:
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    send(kafka_bootstrap, topic, 0, 300)
    with dg.DagsterInstance.ephemeral() as instance:
        reporter = DagsterReporter(instance, "clicks")
        KafkaIngester(
            project, Catalog(local_lake), "clicks", group_id=topic, on_batch=reporter
        ).run(until_caught_up=True)
        records = instance.fetch_materializations(dg.AssetKey("clicks"), limit=100).records
        assert records
        metadata = [r.asset_materialization.metadata for r in records if r.asset_materialization]
        assert sum(m["rows_published"].value for m in metadata) == 300
        offsets: dict[str, int] = {}
        for m in metadata:
            offsets.update(m["kafka/offsets"].value)
        assert set(offsets) <= {"0", "1", "2"}
        assert sum(o + 1 for o in offsets.values()) == 300, "last offsets cover every record"
        assert all(m["kafka/lag"].value >= 0 for m in metadata)
        check = dg.AssetCheckKey(dg.AssetKey("clicks"), "not_null_page")
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=100)
        assert len(history) == len(records)
        assert {h.status.value for h in history} == {"SUCCEEDED"}
        evaluations = [h.event.asset_check_evaluation for h in history if h.event]
        assert sum(e.metadata["rows"].value for e in evaluations if e) == 300
        assert {e.metadata["engine"].value for e in evaluations if e} == {"builtin"}
        assert all("| not_null_page | pass |" in m[CHECKS_TABLE].value for m in metadata)


def test_a_micro_batch_run_reports_a_failed_check_and_the_stream_goes_on(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, topic: str
) -> None:
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    defs = build_definitions(project, str(project.path))
    clicks = defs.get_assets_def("clicks")
    assert {c.name for c in clicks.check_specs} == {"not_null_page", "pii"}
    resources = {"thermocline": ThermoclineResource(project_path=str(project.path))}

    send(kafka_bootstrap, topic, 0, 50, null_page_at=20)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [clicks], resources=resources, instance=instance, raise_on_error=False
        )
        assert not result.success, "a failed blocking check fails the run, as in batch mode"
        evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert evaluations == {"not_null_page": False, "pii": True}
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["rows_quarantined"].value + metadata["rows_published"].value == 50
        assert metadata["rows_quarantined"].value >= 1
        assert "| not_null_page | **FAIL** | error | builtin |" in metadata[CHECKS_TABLE].value

        send(kafka_bootstrap, topic, 50, 10)
        again = dg.materialize([clicks], resources=resources, instance=instance)
        evaluations = {e.check_name: e.passed for e in again.get_asset_check_evaluations()}
        assert evaluations == {"not_null_page": True, "pii": True}
        (event,) = again.get_asset_materialization_events()
        assert event.materialization.metadata["rows_published"].value == 10


def test_the_sensor_requests_a_run_only_when_the_topic_is_ahead_of_the_table(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, topic: str
) -> None:
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    defs = build_definitions(project, str(project.path))
    sensor = defs.get_sensor_def("clicks_kafka_sensor")
    resources = {"thermocline": ThermoclineResource(project_path=str(project.path))}

    def tick() -> dg.SensorResult | dg.RunRequest | dg.SkipReason | None:
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_sensor_context(instance=instance, resources=resources)
            return sensor(context)  # type: ignore[no-any-return]

    assert pending_records(project, local_lake, "clicks") == 0
    assert isinstance(tick(), dg.SkipReason), "an empty topic needs no run"
    send(kafka_bootstrap, topic, 0, 40)
    assert pending_records(project, local_lake, "clicks") == 40
    request = tick()
    assert isinstance(request, dg.RunRequest)
    assert request.tags["thermocline/pending_records"] == "40"

    KafkaIngester(project, Catalog(local_lake), "clicks", group_id=topic).run(until_caught_up=True)
    assert pending_records(project, local_lake, "clicks") == 0
    assert isinstance(tick(), dg.SkipReason)
    send(kafka_bootstrap, topic, 40, 5)
    assert pending_records(project, local_lake, "clicks") == 5


def test_the_maintenance_job_compacts_a_kafka_table_and_its_dead_letters(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, topic: str
) -> None:
    """The Dagster route for topics ingested by the micro-batch asset (a short run seldom
    reaches the ingester's own `compact_every`): both tables, every row kept."""
    project = make_project(tmp_path, local_lake, kafka_bootstrap, topic)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for run in range(3):  # three runs: small files in both tables
        send(kafka_bootstrap, topic, run * 10, 10)
        producer.produce(topic, value=b'{"id": "poison %d"}' % run)
        assert producer.flush(30) == 0
        KafkaIngester(
            project, Catalog(local_lake), "clicks", group_id=topic, compact_every_s=None
        ).run(until_caught_up=True)
    dead_table = dead_letter_table("clicks")
    before = {t: open_table(local_lake, t) for t in ("clicks", dead_table)}
    assert all(len(t.file_uris()) >= 3 for t in before.values())

    defs = build_definitions(project, str(project.path))
    result = defs.get_job_def("maintain_clicks_job").execute_in_process(
        resources={"thermocline": ThermoclineResource(project_path=str(project.path))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    for name, old in before.items():
        table = open_table(local_lake, name)
        assert "OPTIMIZE" in [h["operation"] for h in table.history(3)], name
        assert len(table.file_uris()) < len(old.file_uris()), name
        order = "id" if name == "clicks" else "offset"
        now = read_dataset(Catalog(local_lake), name).to_table().sort_by(order)
        then = read_dataset(Catalog(local_lake), name, old.version()).to_table().sort_by(order)
        assert now == then, f"{name}: compaction changed its rows"
    assert read_dataset(Catalog(local_lake), dead_table).count_rows() == 3
