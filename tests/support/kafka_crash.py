"""The Kafka ingester of the SIGKILL test, run in a child process that the test kills.

A life stops at a chosen point of the publish path, tells the test, and waits there to be
killed; so every kill lands where it is meant to, however fast or slow the machine, and the
stream is still half done when the last one lands. The
children are forked by a multiprocessing fork server that imported this module (and with it
Thermocline, pyarrow, deltalake, confluent-kafka) once: a life then costs the broker's group
join, not the imports.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Event
from typing import Any, Literal

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import dead_letters, kafka
from thermocline.datasets.tables import keyed, writes
from thermocline.datasets.tables.staging import StagedBatch

__all__ = ["When", "fork_server", "ingest_forever", "ingest_to_the_end", "ingest_until_killed"]

When = Literal["before", "after", "on"]
MAX_RECORDS = 1_000
MAX_LATENCY_S = 0.2
ON_SPAN = 5  # a life killed at a random moment publishes at most this many more batches


def fork_server() -> ForkServerContext:
    """The fork-server context, with what this module imports loaded in the server before its
    first fork (a server started earlier serves too; its children import what they need).

    Thermocline's modules, not this one: Python 3.11's fork server ignores the parent's
    ``sys.path`` (the tests' ``pythonpath``) when it preloads, so each child imports this small
    module itself.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["thermocline.catalog.config", "thermocline.catalog.lake", kafka.__name__]
    )
    return context


def ingest_until_killed(
    project_path: str, group: str, table: str, nth: int, when: When, reached: Event
) -> None:
    """Ingest the project's ``events`` dataset for ever, and at this process's ``nth`` publish
    to ``table`` (``events`` or its dead-letter table) stop and set ``reached``: just ``before``
    that commit (the batch's Parquet files are staged), or just ``after`` it; or set ``reached``
    there and carry ``on`` (the test kills at a random moment) for at most ``ON_SPAN`` more
    publishes to ``table``. A stop holds the publishing thread only: the consuming and decoding
    threads go on until the pipeline is full, as during a slow commit.
    """
    publish = writes.publish
    calls = 0
    never = threading.Event()

    def publish_or_stop(catalog: Catalog, staged: StagedBatch, **options: Any) -> int:
        nonlocal calls
        calls += staged.dataset == table
        here = staged.dataset == table and calls == nth
        if here and when != "after":
            reached.set()
        if (here and when == "before") or (when == "on" and calls == nth + ON_SPAN):
            never.wait()
        version = publish(catalog, staged, **options)
        if here and when == "after":
            reached.set()
            never.wait()
        return version

    # The names the ingester calls (rows, dead letters), replaced in this child process only.
    # (Rows go through publish_keyed, which calls keyed.publish with or without a primary key.)
    keyed.publish = publish_or_stop
    dead_letters.publish = publish_or_stop
    _ingester(project_path, group).run()


def ingest_forever(project_path: str, group: str, max_records: int = MAX_RECORDS) -> None:
    """Ingest until killed, in micro-batches of at most ``max_records``."""
    _ingester(project_path, group, max_records).run()


def ingest_to_the_end(project_path: str, group: str, max_records: int = MAX_RECORDS) -> None:
    """Ingest until every partition is at its end, then return (exit code 0)."""
    _ingester(project_path, group, max_records).run(until_caught_up=True)


def _ingester(project_path: str, group: str, max_records: int = MAX_RECORDS) -> kafka.KafkaIngester:
    project = load_project(project_path, environ={})
    lake = Lake.from_project(project, environ={})
    return kafka.KafkaIngester(
        project,
        Catalog(lake),
        "events",
        group_id=group,
        max_records=max_records,
        max_latency_s=MAX_LATENCY_S,
    )
