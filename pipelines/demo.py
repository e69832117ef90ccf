"""The demo: a new batch of rides lands in the source folder and Dagster ingests it (its
checks: built-in, a distribution drift check and the expectations of the project's Great
Expectations suite, one asset check each; a bad batch breaks the suite's ``error``
expectation and is quarantined); ride events go through the dev Kafka broker into their own
table.

The run and the stream's publishes go to the project's Dagster instance
(``.thermocline/dagster``), the same one ``thermocline ui up`` serves, so they show in the UI
afterwards with their checks.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import dagster as dg
import pyarrow.fs as pafs
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project, expand_env
from thermocline.catalog.errors import ConfigError, DevStackError
from thermocline.datasets.demo import (
    DEMO_DATASET,
    DEMO_EVENTS_DATASET,
    demo_ride_events,
    write_next_demo_batch,
)
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import kafka_source
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.streaming import DagsterReporter
from thermocline.pipelines.ui import dagster_instance

__all__ = ["DemoCheck", "DemoRun", "EventDemo", "run_demo", "run_event_demo"]


@dataclass(frozen=True)
class DemoCheck:
    """One check the demo run evaluated."""

    name: str
    passed: bool
    description: str | None
    blocking: bool = False  # a failure of this check quarantines the batch


@dataclass(frozen=True)
class DemoRun:
    """What the batch part of the demo did, in plain values for the command line to print."""

    path: Path  # the batch file written
    run_id: str
    success: bool
    checks: list[DemoCheck]
    version: int | None  # the version the run published; None when it published nothing


def run_demo(project: Project, rows: int = 5_000, *, bad: bool = False) -> DemoRun:
    """Write the next demo batch (``bad``: one that breaks the suite's ``error`` expectation),
    then materialize the demo asset in a recorded Dagster run."""
    path = write_next_demo_batch(project, rows, bad=bad)
    project_path = str(project.path) if project.path else None
    defs = build_definitions(project, project_path)
    asset = defs.get_assets_def(DEMO_DATASET)
    blocking = {spec.key.name for spec in asset.check_specs if spec.blocking}
    with dagster_instance(project) as instance:
        result = dg.materialize(
            [asset],
            resources={"thermocline": ThermoclineResource(project_path=project_path)},
            instance=instance,
            raise_on_error=False,
            # The run's events are in the UI; the terminal gets the summary the CLI prints (a
            # bad batch's quarantine is the expected outcome: no step failure on the terminal).
            run_config={
                "loggers": {"console": {"config": {"log_level": "CRITICAL" if bad else "WARNING"}}}
            },
        )
    checks = [
        DemoCheck(c.check_name, c.passed, c.description, c.check_name in blocking)
        for c in result.get_asset_check_evaluations()
    ]
    published = result.get_asset_materialization_events()
    version = published[0].materialization.metadata["delta/version"].value if published else None
    return DemoRun(path, result.run_id, result.success, checks, cast("int | None", version))


@dataclass(frozen=True)
class EventDemo:
    """What the Kafka part of the demo did."""

    topic: str
    produced: int
    malformed: int
    reports: list[BatchReport]
    restarted: bool  # the broker had lost the topic, so the demo table started afresh

    @property
    def published(self) -> int:
        """Rows published, over every micro-batch."""
        return sum(r.published for r in self.reports)

    @property
    def dead(self) -> int:
        """Dead letters written, over every micro-batch."""
        return sum(r.dead for r in self.reports)


def run_event_demo(project: Project, catalog: Catalog, events: int = 20_000) -> EventDemo:
    """Produce ``events`` synthetic ride events (0.5% malformed) into the dev broker, then
    ingest them exactly once; each publish is reported to the project's Dagster instance."""
    _, topic = kafka_source(project, DEMO_EVENTS_DATASET)
    if project.kafka is None:
        raise ConfigError("kafka: missing; the demo needs `kafka: {bootstrap_servers: ...}`")
    bootstrap = expand_env(project.kafka.bootstrap_servers, None, "kafka.bootstrap_servers")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        topics = admin.list_topics(timeout=10).topics
    except KafkaException as error:
        raise DevStackError(
            f"no Kafka broker answers at {bootstrap} ({error}); start the dev one with "
            "`thermocline dev up --no-s3`"
        ) from error
    restarted = False
    if topic not in topics:
        admin.create_topics([NewTopic(topic, num_partitions=3)])[topic].result(timeout=30)
        # Tansu keeps topics in memory: a new topic after a restart starts at offset 0 again,
        # below the positions an old demo table holds, so the demo starts that table afresh.
        for table in (DEMO_EVENTS_DATASET, dead_letter_table(DEMO_EVENTS_DATASET)):
            if catalog.lake.filesystem.get_file_info(table).type == pafs.FileType.Directory:
                catalog.lake.filesystem.delete_dir(table)
                restarted = True
    payloads = demo_ride_events(int(time.time()), events)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for payload in payloads:
        producer.produce(topic, value=payload)
        producer.poll(0)
    if producer.flush(60):
        raise DevStackError(f"some demo events were not delivered to {bootstrap}")
    malformed = sum(1 for p in payloads if not p.endswith(b"}"))
    reports: list[BatchReport] = []
    with dagster_instance(project) as instance:
        to_dagster = DagsterReporter(instance, DEMO_EVENTS_DATASET)

        def on_batch(report: BatchReport) -> None:
            reports.append(report)
            to_dagster(report)

        KafkaIngester(
            project, catalog, DEMO_EVENTS_DATASET, max_latency_s=0.5, on_batch=on_batch
        ).run(until_caught_up=True)
    return EventDemo(topic, len(payloads), malformed, reports, restarted)
