"""OpenLineage export (issue #17): real ingest runs on a local lake send RunEvents through
openlineage-python's transports as the project file says; the file transport's events validate
against the OpenLineage JSON schema and name the published version, its schema and its checks;
a quarantined batch is a FAIL; a training read names dataset@version and its columns; ``off``
writes and imports nothing; a dead HTTP receiver neither fails a publish nor costs more than
about one timeout in all."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openlineage_schema import validate
from pydantic import ValidationError

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import CHECKS_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.config.lineage import OpenLineageConfig
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.openlineage.convert import run_event
from thermocline.datasets.openlineage.emitter import NO_EMITTER, Emitter, emitter_for
from thermocline.datasets.openlineage.events import (
    LineageDataset,
    LineageEvent,
    files_dataset,
    kafka_dataset,
    lake_dataset,
    run_uuid,
    sql_dataset,
    table_dataset,
)
from thermocline.datasets.openlineage.hooks import project_emitter
from thermocline.datasets.tables.versions import open_table

DATASETS = """
lake: {uri: lake}
datasets:
  events:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, city: string}
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: completeness, column: city, min_ratio: 0.9, severity: warn}
"""


def make_project(folder: Path, openlineage: str) -> Project:
    (folder / "incoming").mkdir(exist_ok=True)
    text = textwrap.dedent(DATASETS) + f"lineage:\n  openlineage: {openlineage}\n"
    (folder / "thermocline.yaml").write_text(text)
    return load_project(folder / "thermocline.yaml", environ={})


def land(project: Project, name: str, text: str) -> None:
    (project.root / "incoming" / name).write_text(textwrap.dedent(text).lstrip())


def sent(project: Project) -> list[dict[str, Any]]:
    """The events the file transport wrote, after the emitter drained."""
    emitter = project_emitter(project)
    assert isinstance(emitter, Emitter)
    assert emitter.flush(30.0)
    folder = project.root / "ol"
    lines = [
        line for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()
    ]
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path, "{transport: file, path: ol, namespace: rides-team}")


def test_a_csv_publish_sends_start_and_complete_naming_the_version(project: Project) -> None:
    land(project, "a.csv", "id,city\n1,oslo\n2,\n3,bergen\n")
    catalog = Catalog(Lake.from_project(project))
    outcome = ingest(project, catalog, "events")
    assert outcome.status == "published"
    events = sent(project)
    for event in events:
        validate(event)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    start, complete = events
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"] == {
        **complete["job"],
        "namespace": "rides-team",
        "name": "events.ingest",
    }
    table = open_table(catalog.lake, "events")
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("file", f"{catalog.lake.uri}/events")
    assert output["facets"]["version"]["datasetVersion"] == f"events@{table.version()}"
    columns = [f["name"] for f in output["facets"]["schema"]["fields"]]
    assert columns == [f.name for f in table.schema().fields]
    # The assertions are the checks that judged this version, as its commit records them.
    summary = json.loads(table.history(1)[0][CHECKS_KEY])
    assertions = output["facets"]["dataQualityAssertions"]["assertions"]
    assert {a["name"]: a["success"] for a in assertions} == {
        name: entry["passed"] for name, entry in summary.items()
    }
    assert {a["name"]: a["success"] for a in assertions}["completeness_city"] is False
    [source] = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(project.root / "incoming"))
    assert "version" not in start["outputs"][0]["facets"]  # nothing published yet at START


def test_a_quarantined_batch_sends_fail_with_the_failed_check(project: Project) -> None:
    land(project, "a.csv", "id,city\n,oslo\n2,bergen\n")
    outcome = ingest(project, Catalog(Lake.from_project(project)), "events")
    assert outcome.status == "quarantined"
    events = sent(project)
    for event in events:
        validate(event)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    fail = events[1]
    assert fail["run"]["facets"]["errorMessage"]["message"] == outcome.description
    [output] = fail["outputs"]
    assertions = {
        a["name"]: a["success"] for a in output["facets"]["dataQualityAssertions"]["assertions"]
    }
    assert assertions["not_null_id"] is False
    assert "version" not in output["facets"]  # nothing was published


def test_a_training_read_names_dataset_version_and_columns(project: Project) -> None:
    pytest.importorskip("torch")
    from thermocline.datasets.training import TableDataset

    land(project, "a.csv", "id,city\n1,oslo\n2,bergen\n")
    catalog = Catalog(Lake.from_project(project))
    ingest(project, catalog, "events")
    land(project, "b.csv", "id,city\n3,oslo\n")
    ingest(project, catalog, "events")
    dataset = TableDataset("events", catalog=catalog, version=0, columns=["id"], run="ride-model")
    next(iter(dataset))
    events = sent(project)
    for event in events:
        validate(event)
    [read] = [e for e in events if e["job"]["name"] == "ride-model.train"]
    assert read["eventType"] == "COMPLETE"
    assert read["run"]["runId"] == run_uuid("ride-model")
    [source] = read["inputs"]
    assert source["name"] == f"{catalog.lake.uri}/events"
    assert source["facets"]["version"]["datasetVersion"] == "events@0"
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["id"]


def test_off_writes_nothing_and_imports_no_openlineage(tmp_path: Path) -> None:
    project = make_project(tmp_path, "{transport: off, path: ol}")
    land(project, "a.csv", "id,city\n1,oslo\n")
    catalog = Catalog(Lake.from_project(project))
    assert project_emitter(project) is NO_EMITTER
    assert emitter_for(catalog) is NO_EMITTER
    assert ingest(project, catalog, "events").status == "published"
    assert not (tmp_path / "ol").exists()
    # In a fresh interpreter: an ingest with lineage off never imports openlineage.
    child = f"""
import sys
from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
import thermocline.datasets.ingest.kafka, thermocline.datasets.training.runs
project = load_project({str(tmp_path / "thermocline.yaml")!r}, environ={{}})
(project.root / "incoming" / "b.csv").write_text("id,city\\n2,oslo\\n")
assert ingest(project, Catalog(Lake.from_project(project)), "events").status == "published"
print(sorted(m for m in sys.modules if m.split(".")[0] == "openlineage"))
"""
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_console_transport_prints_each_event_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, "{transport: console}")
    land(project, "a.csv", "id,city\n1,oslo\n")
    ingest(project, Catalog(Lake.from_project(project)), "events")
    assert project_emitter(project).flush(30.0)
    err = capsys.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "events.ingest"),
        ("COMPLETE", "events.ingest"),
    ]
    for event in events:
        validate(event)


@pytest.fixture
def silent_receiver() -> Iterator[str]:
    """An HTTP receiver that accepts connections and never answers; its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    server.close()


def closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("receiver", ["silent", "closed"])
def test_a_dead_receiver_neither_fails_nor_holds_up_publishes(
    receiver: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = request.getfixturevalue("silent_receiver") if receiver == "silent" else closed_port()
    timeout_s = 1.5
    project = make_project(tmp_path, f"{{transport: http, url: '{url}', timeout_s: {timeout_s}}}")
    catalog = Catalog(Lake.from_project(project))
    caplog.set_level(logging.WARNING, logger="thermocline.datasets.openlineage.emitter")
    started = time.monotonic()
    for n in range(3):  # 3 runs: 6 events; each paying the timeout would cost 9 s
        land(project, f"{n}.csv", f"id,city\n{n},oslo\n")
        assert ingest(project, catalog, "events").status == "published"
    emitter = project_emitter(project)
    assert isinstance(emitter, Emitter)
    flushed_at = time.monotonic()
    assert emitter.flush(6 * timeout_s)
    waited = time.monotonic() - flushed_at
    # One send pays the timeout (the silent receiver) or nothing (the closed port); the rest
    # are dropped while the emitter backs off. Generous bound: one timeout plus a margin.
    assert waited <= timeout_s + 2.0, (waited, time.monotonic() - started)
    assert open_table(catalog.lake, "events").version() == 2
    assert emitter.dropped >= 5
    warnings = [r for r in caplog.records if r.name.endswith("openlineage.emitter")]
    assert len(warnings) == 1
    assert "dropping events" in warnings[0].getMessage()


def test_a_derived_event_carries_column_lineage_and_its_inputs_at_their_versions() -> None:
    """Pure: the derived run's event, as built and converted, fits the schema."""
    output = table_dataset(
        "s3://lake/prod",
        "ride_features",
        4,
        (("city", "string"), ("km", "double")),
        {"not_null_city": {"check": "not_null", "passed": True, "severity": "error"}},
        column_lineage={
            "km": [("rides", "meters")],
            "city": [("rides", "city"), ("zones", "name")],
        },
    )
    inputs = (
        table_dataset("s3://lake/prod", "rides", 7),
        table_dataset("s3://lake/prod", "zones", 2),
    )
    event = LineageEvent(
        "COMPLETE",
        datetime(2026, 12, 1, tzinfo=UTC),
        run_uuid("r"),
        "thermocline",
        "ride_features.derive",
        inputs,
        (output,),
        sql="select r.city, r.meters / 1000 as km from rides r join zones z using (city)",
    )
    from openlineage.client.serde import Serde

    body = json.loads(Serde.to_json(run_event(event)))
    validate(body)
    [out] = body["outputs"]
    assert (out["namespace"], out["name"]) == ("s3://lake", "prod/ride_features")
    lineage = out["facets"]["columnLineage"]["fields"]
    assert [(f["name"], f["field"]) for f in lineage["city"]["inputFields"]] == [
        ("prod/rides", "city"),
        ("prod/zones", "name"),
    ]
    assert [i["facets"]["version"]["datasetVersion"] for i in body["inputs"]] == [
        "rides@7",
        "zones@2",
    ]
    assert body["job"]["facets"]["sql"]["query"].startswith("select r.city")


def test_names_follow_the_openlineage_conventions() -> None:
    assert lake_dataset("/data/lake", "rides") == ("file", "/data/lake/rides")
    assert lake_dataset("s3://bucket/a/b", "rides") == ("s3://bucket", "a/b/rides")
    assert files_dataset("/landing/rides/*.csv") == ("file", "/landing/rides")
    assert files_dataset("/landing/rides/day=*/x.csv") == ("file", "/landing/rides")
    assert files_dataset("s3://landing/one.parquet") == ("s3://landing", "")
    assert kafka_dataset("SASL_SSL://k1:9093,k2:9093", "rides") == ("kafka://k1:9093", "rides")
    assert kafka_dataset("k1", "rides") == ("kafka://k1:9092", "rides")
    assert sql_dataset("postgresql+psycopg://u:secret@db:5432/shop", "orders") == (
        "postgres://db:5432",
        "shop.orders",
    )
    assert sql_dataset("sqlite:////tmp/x.db", "orders") == ("sqlite:///tmp/x.db", "orders")


def test_run_ids_are_uuids_stable_for_a_name() -> None:
    given = str(uuid.uuid4())
    assert run_uuid(given) == given
    assert run_uuid("model-1") == run_uuid("model-1") != run_uuid("model-2")
    assert uuid.UUID(run_uuid("model-1")).version == 5


@pytest.mark.parametrize(
    ("openlineage", "expected"),
    [
        ("{transport: http}", "transport http needs `url`"),
        ("{transport: file, url: 'http://x'}", "`url` is for transport http"),
        ("{transport: kafka}", "transport"),
        ("{transport: http, url: 'http://x', timeout_s: 0}", "timeout_s"),
        ("{transport: file, namespace: ''}", "namespace"),
        ("{transport: file, colour: red}", "colour"),
    ],
)
def test_bad_lineage_settings_are_refused(tmp_path: Path, openlineage: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        make_project(tmp_path, openlineage)


def test_lineage_settings_reach_the_lake_with_the_path_made_absolute(tmp_path: Path) -> None:
    project = make_project(tmp_path, "{transport: file, path: ol}")
    config = Lake.from_project(project).lineage
    assert config is not None
    assert config.path == str(tmp_path / "ol")
    assert OpenLineageConfig().transport == "off"
    with pytest.raises(ValidationError):
        OpenLineageConfig(transport="http")
    assert LineageDataset("file", "/x").version is None


@pytest.mark.kafka
def test_each_kafka_micro_batch_sends_complete_naming_its_version(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from thermocline.datasets.ingest.kafka import KafkaIngester

    topic = fresh_name("ol")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for number in range(60):
        producer.produce(topic, value=json.dumps({"id": number, "name": f"n{number}"}).encode())
    assert producer.flush(30) == 0
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{local_lake.uri}"}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        lineage: {{openlineage: {{transport: file, path: ol}}}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}}}
            schema: {{id: int64, name: string}}
        """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    catalog = Catalog(Lake.from_project(project))
    versions: list[int] = []
    KafkaIngester(
        project,
        catalog,
        "events",
        max_records=25,
        on_batch=lambda report: versions.append(report.version),  # type: ignore[arg-type]
    ).run(until_caught_up=True)
    events = sent(project)
    for event in events:
        validate(event)
    assert [e["eventType"] for e in events] == ["COMPLETE"] * len(versions)
    outputs = [e["outputs"][0] for e in events]
    assert sorted(o["facets"]["version"]["datasetVersion"] for o in outputs) == sorted(
        f"events@{v}" for v in versions
    )
    host, port = kafka_bootstrap.split(",")[0].rsplit(":", 1)
    assert {(e["inputs"][0]["namespace"], e["inputs"][0]["name"]) for e in events} == {
        (f"kafka://{host}:{port}", topic)
    }
    assert {e["job"]["facets"]["jobType"]["processingType"] for e in events} == {"STREAMING"}


def test_a_derived_run_sends_its_inputs_at_their_versions_and_the_query_columns(
    tmp_path: Path,
) -> None:
    """A real derived run: the COMPLETE event names each input at the version the commit
    recorded, and its column lineage is what the query computes each output column from."""
    (tmp_path / "incoming").mkdir()
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(DATASETS)
        + textwrap.dedent(
            """\
              per_city:
                source:
                  kind: derived
                  inputs: [events]
                  sql: SELECT city, count(id) AS n FROM events GROUP BY city
            lineage:
              openlineage: {transport: file, path: ol}
            """
        )
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    land(project, "a.csv", "id,city\n1,oslo\n2,oslo\n3,bergen\n")
    catalog = Catalog(Lake.from_project(project))
    assert ingest(project, catalog, "events").status == "published"
    assert ingest(project, catalog, "per_city").status == "published"
    events = [e for e in sent(project) if e["job"]["name"] == "per_city.derive"]
    for event in events:
        validate(event)
    complete = events[-1]
    assert complete["eventType"] == "COMPLETE"
    lake_uri = catalog.lake.uri
    [source] = complete["inputs"]
    assert source["name"] == f"{lake_uri}/events"
    version = open_table(catalog.lake, "events").version()
    assert source["facets"]["version"]["datasetVersion"] == f"events@{version}"
    fields = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    feeds = {
        column: sorted(f["field"] for f in entry["inputFields"]) for column, entry in fields.items()
    }
    assert feeds == {"city": ["city"], "n": ["id"]}
