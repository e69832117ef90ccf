"""A dataset's Kafka topic: its source settings, the consumer configuration, and where the
table stands on it.

The table, not Kafka's committed offsets, holds the position: one app transaction
``kafka:<topic>:<partition>`` per partition whose version is the last offset published
(DESIGN.md > Decision 3). :func:`pending_records` counts what is past it, for sensors and lag.

Positions are contiguous: a micro-batch holding a partition's records after offset ``a`` up to
``b`` publishes only if the table's position on that partition is still ``a`` (None: none yet),
and moves it to ``b``. :func:`continues_from` keeps that bookkeeping; ``publish`` enforces it as
a compare-and-swap (``expected_positions``) against the snapshot it commits from. A batch that
overlaps one already published (two ingesters that both read the partition), or that leaves a
gap, is refused as a whole, so no offset is published twice and none is skipped. The start is
the position the consumer continued from, not ``first offset - 1``: Kafka offsets may have gaps
(transaction markers, compaction).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from thermocline.catalog.config import KafkaSource, Project, expand_env
from thermocline.catalog.errors import (
    ConfigError,
    DatasetNotFoundError,
    SourceReadError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import open_table

__all__ = [
    "CONSUMER_DEFAULTS",
    "consumer_settings",
    "continues_from",
    "kafka_app_id",
    "kafka_source",
    "offset_after",
    "offset_of",
    "partition_of",
    "pending_records",
    "table_positions",
]


# Settings measured with Tansu (DESIGN.md > Real components > Kafka); any Kafka accepts them.
CONSUMER_DEFAULTS = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": True,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "fetch.wait.max.ms": 50,
    "fetch.queue.backoff.ms": 10,
}


def kafka_app_id(topic: str, partition: int) -> str:
    """The app transaction holding the last offset of ``topic``/``partition`` in a table."""
    return f"kafka:{topic}:{partition}"


def kafka_source(
    project: Project, dataset: str, environ: Mapping[str, str] | None = None
) -> tuple[KafkaSource, str]:
    """``dataset``'s Kafka source and its topic name (``${ENV}`` references resolved)."""
    source = project.dataset(dataset).source
    if not isinstance(source, KafkaSource):
        raise ConfigError(f"datasets.{dataset}.source: expected `kind: kafka`")
    return source, expand_env(source.topic, environ, f"datasets.{dataset}.source.topic")


def continues_from(
    after: Mapping[int, int | None], positions: Mapping[int, int]
) -> tuple[dict[int, int | None], dict[int, int | None]]:
    """The contiguity rule's bookkeeping, pure: given where each partition's consumption
    continues from (``after``: the last offset before the records being read; None: nothing
    before them) and a batch's last offset per partition (``positions``), return (the positions
    the table must hold for the batch to publish, the ``after`` for the next batch).

    >>> continues_from({0: None, 1: 41}, {1: 57})
    ({1: 41}, {0: None, 1: 57})
    """
    missing = set(positions) - set(after)
    if missing:
        raise RuntimeError(f"kafka: a batch holds partitions {sorted(missing)} never assigned")
    return {p: after[p] for p in positions}, {**after, **positions}


def table_positions(
    lake: Lake, table: str, topic: str, partitions: Iterable[int]
) -> dict[int, int | None]:
    """The last offset of each of ``topic``'s ``partitions`` that ``table`` holds (None: none
    yet), from one read of the table's log."""
    try:
        snapshot = open_table(lake, table)
    except DatasetNotFoundError:
        return dict.fromkeys(partitions)
    versions = {p: snapshot.transaction_version(kafka_app_id(topic, p)) for p in partitions}
    return {p: None if v is None else int(v) for p, v in versions.items()}


def pending_records(
    project: Project,
    lake: Lake,
    dataset: str,
    *,
    at_most: int = 10_000,
    environ: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> int:
    """Records in ``dataset``'s topic past the positions its table holds, counted up to
    ``at_most`` (0: caught up). Cheap enough for a sensor tick.

    A short-lived consumer, assigned without joining a group, reads from each partition's
    position to its end and counts. Watermarks would be cheaper, but Tansu answers watermark
    queries wrongly and its fetches carry partial ones.
    """
    _, topic = kafka_source(project, dataset, environ)
    consumer = Consumer(consumer_settings(project, f"thermocline-{dataset}-probe", environ))
    try:
        found = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise SourceReadError(f"kafka: topic {topic!r} of {dataset!r} is not there: {found}")
        done = table_positions(lake, dataset, topic, found.partitions)
        assignment = [TopicPartition(topic, p, offset_after(last)) for p, last in done.items()]
        consumer.assign(assignment)
        at_end: set[int] = set()
        count = 0
        deadline = time.monotonic() + timeout_s
        while len(at_end) < len(assignment) and count < at_most:
            if time.monotonic() > deadline:
                raise SourceReadError(f"kafka: {topic!r} did not answer in {timeout_s} s")
            for message in consumer.consume(min(10_000, at_most - count), timeout=0.1):
                error = message.error()
                if error is None:
                    count += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(partition_of(message))
                else:
                    raise SourceReadError(f"kafka: {error}")
        return min(count, at_most)
    finally:
        consumer.close()


def offset_after(last: int | None) -> int:
    """Where to continue after the last offset a table holds (the start when it holds none)."""
    return OFFSET_BEGINNING if last is None else last + 1


def consumer_settings(
    project: Project, group_id: str, environ: Mapping[str, str] | None
) -> dict[str, Any]:
    if project.kafka is None:
        raise ConfigError("kafka: missing; add `kafka: {bootstrap_servers: host:port}`")
    options = {
        k: expand_env(v, environ, f"kafka.options.{k}") for k, v in project.kafka.options.items()
    }
    bootstrap = expand_env(project.kafka.bootstrap_servers, environ, "kafka.bootstrap_servers")
    return {**CONSUMER_DEFAULTS, **options, "bootstrap.servers": bootstrap, "group.id": group_id}


def partition_of(message: Message) -> int:
    """The partition of a record or partition event (librdkafka sets it on both)."""
    partition = message.partition()
    if partition is None:
        raise RuntimeError(f"kafka: a message without a partition: {message!r}")
    return partition


def offset_of(message: Message) -> int:
    offset = message.offset()
    if offset is None:
        raise RuntimeError(f"kafka: a record without an offset: {message!r}")
    return offset
