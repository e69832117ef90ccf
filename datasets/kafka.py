"""Kafka topic -> Delta table, exactly once, in micro-batches (DESIGN.md > Decisions 2 and 3).

Each micro-batch is published through write-audit-publish with one app transaction per
partition, ``kafka:<topic>:<partition>`` = the last offset consumed, in the same commit as the
rows. On assignment every partition is sought to that version + 1, so the Delta table, not
Kafka's committed offsets, decides where reading resumes; a crash or a rebalance at any moment
neither loses nor repeats a record.

Records that do not decode or do not fit the schema go to the dead-letter table
``_dead_letters/<dataset>`` (raw bytes, error, topic, partition, offset, timestamp), published
just before the good rows with its own per-partition app transactions. After a crash between
the two commits the batch is read again; dead letters at or below the recorded offsets are not
written twice. So good + dead = consumed, exactly.

>>> ingester = KafkaIngester(project, lake, "clicks")          # doctest: +SKIP
>>> ingester.run(until_caught_up=True)                          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from thermocline.catalog.config import KafkaSource, Project, expand_env
from thermocline.catalog.errors import CommitConflictError, ConfigError, DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import open_table
from thermocline.datasets.writes import discard, publish, stage

__all__ = [
    "CONSUMER_DEFAULTS",
    "DEAD_LETTERS_DIR",
    "BatchReport",
    "KafkaIngester",
    "dead_letter_table",
    "kafka_app_id",
]

DEAD_LETTERS_DIR = "_dead_letters"
_DEAD_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("key", pa.binary()),
        ("raw", pa.binary()),
        ("error", pa.string()),
    ]
)
_POLL_SECONDS = 0.05
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


def dead_letter_table(dataset: str) -> str:
    """The table (path under the lake) that holds ``dataset``'s dead letters."""
    return f"{DEAD_LETTERS_DIR}/{dataset}"


@dataclass(frozen=True)
class BatchReport:
    """What one micro-batch did: rows published, dead letters, and the version it made."""

    consumed: int
    published: int
    dead: int
    version: int | None
    positions: Mapping[int, int] = field(default_factory=dict)


class KafkaIngester:
    """Consume a dataset's topic in micro-batches bounded by count, bytes and latency."""

    def __init__(
        self,
        project: Project,
        lake: Lake,
        dataset: str,
        *,
        group_id: str | None = None,
        max_records: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_latency_s: float = 1.0,
        environ: Mapping[str, str] | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        spec = project.dataset(dataset)
        if not isinstance(spec.source, KafkaSource):
            raise ConfigError(f"datasets.{dataset}.source: expected `kind: kafka`")
        if spec.source.format != "json":
            raise ConfigError(f"datasets.{dataset}.source.format: only json is supported yet")
        if project.kafka is None:
            raise ConfigError("kafka: missing; add `kafka: {bootstrap_servers: host:port}`")
        self.lake, self.dataset, self.topic = lake, dataset, spec.source.topic
        self.schema = spec.arrow_schema()
        self.partition_by = spec.partition_by or None
        self.limits = (max_records, max_bytes, max_latency_s)
        self.on_batch = on_batch
        settings = {
            k: expand_env(v, environ, f"kafka.options.{k}")
            for k, v in project.kafka.options.items()
        }
        self.consumer = Consumer(
            {
                **CONSUMER_DEFAULTS,
                **settings,
                "bootstrap.servers": expand_env(
                    project.kafka.bootstrap_servers, environ, "kafka.bootstrap_servers"
                ),
                "group.id": group_id or f"thermocline-{dataset}",
            }
        )
        self._assigned: set[int] = set()
        self._at_end: set[int] = set()
        self._buffer: list[Message] = []
        self._stopping = False

    # --- the loop -------------------------------------------------------------------------

    def run(self, *, until_caught_up: bool = False) -> None:
        """Consume and publish until :meth:`stop` (e.g. from a SIGTERM handler) or, with
        ``until_caught_up``, until every assigned partition is at its end."""
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._stopping:
                self._fill()
                self.flush()
                if until_caught_up and self._caught_up():
                    break
        finally:
            self.flush()
            self.consumer.close()

    def stop(self) -> None:
        """Finish the current micro-batch, publish it, and leave the loop."""
        self._stopping = True

    def _fill(self) -> None:
        max_records, max_bytes, max_latency = self.limits
        deadline = time.monotonic() + max_latency
        size = 0
        while not self._stopping and len(self._buffer) < max_records and size < max_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # Short waits: an end of partition is noticed at once, not at the deadline.
            wanted = min(10_000, max_records - len(self._buffer))
            for message in self.consumer.consume(wanted, timeout=min(left, _POLL_SECONDS)):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._at_end.add(_position(message)[0])
                        continue
                    raise RuntimeError(f"kafka: {error}")
                self._at_end.discard(_position(message)[0])
                self._buffer.append(message)
                size += len(message.value() or b"")
            if self._caught_up():
                break

    def _caught_up(self) -> bool:
        return bool(self._assigned) and self._assigned <= self._at_end

    def lag(self) -> int:
        """Records in the assigned partitions not consumed yet, from the watermarks the
        fetches brought back (Tansu answers watermark queries wrongly; fetches are right)."""
        behind = 0
        for partition in self.consumer.position(
            [TopicPartition(self.topic, p) for p in sorted(self._assigned)]
        ):
            _, high = self.consumer.get_watermark_offsets(partition, cached=True)
            if high >= 0 and partition.offset >= 0:
                behind += max(high - partition.offset, 0)
        return behind

    # --- rebalances: positions come from the table ----------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            done = self._position(self.dataset, partition.partition)
            partition.offset = OFFSET_BEGINNING if done is None else done + 1
        self._assigned |= {p.partition for p in partitions}
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # publish what we hold before another member takes these partitions
        self._assigned -= {p.partition for p in partitions}
        self._at_end -= {p.partition for p in partitions}

    def _position(self, table: str, partition: int) -> int | None:
        try:
            version = open_table(self.lake, table).transaction_version(
                kafka_app_id(self.topic, partition)
            )
        except DatasetNotFoundError:
            return None
        return None if version is None else int(version)

    # --- one micro-batch ------------------------------------------------------------------

    def flush(self) -> BatchReport | None:
        """Decode the buffered records and publish them (dead letters first); None if empty."""
        messages, self._buffer = self._buffer, []
        if not messages:
            return None
        good, dead = decode_json(messages, self.schema)
        positions: dict[int, int] = {}
        for message in messages:
            partition, offset = _position(message)
            positions[partition] = max(positions.get(partition, -1), offset)
        self._publish_dead(dead)
        staged = stage(self.lake, self.dataset, good, partition_by=self.partition_by)
        apps = {kafka_app_id(self.topic, p): o for p, o in positions.items()}
        try:
            version = publish(
                self.lake,
                staged,
                app_transactions=apps,
                reason=f"kafka {self.topic}: {good.num_rows} records",
                metadata={"thermocline.source.kind": "kafka"},
            )
        except CommitConflictError:
            # Another member published these offsets first (we were a zombie after a
            # rebalance): drop our copy and continue from what the table says.
            discard(self.lake, staged)
            for partition in positions:
                if partition in self._assigned:
                    done = self._position(self.dataset, partition)
                    offset = OFFSET_BEGINNING if done is None else done + 1
                    self.consumer.seek(TopicPartition(self.topic, partition, offset))
            return None
        report = BatchReport(len(messages), good.num_rows, dead.num_rows, version, positions)
        if self.on_batch is not None:
            self.on_batch(report)
        return report

    def _publish_dead(self, dead: pa.Table) -> None:
        """Write dead letters not written before (a retry after a crash re-reads them)."""
        table = dead_letter_table(self.dataset)
        rows = dead.to_pylist()
        done = {p: self._position(table, p) for p in {row["partition"] for row in rows}}
        keep = [row for row in rows if row["offset"] > (done[row["partition"]] or -1)]
        if not keep:
            return
        fresh = pa.Table.from_pylist(keep, schema=_DEAD_SCHEMA)
        last: dict[int, int] = {}
        for row in keep:
            last[row["partition"]] = max(last.get(row["partition"], -1), row["offset"])
        apps = {kafka_app_id(self.topic, p): o for p, o in last.items()}
        with contextlib.suppress(CommitConflictError):  # another member wrote them first
            publish(
                self.lake,
                stage(self.lake, table, fresh),
                app_transactions=apps,
                reason=f"dead letters from kafka {self.topic}",
            )


def decode_json(messages: list[Message], schema: pa.Schema | None) -> tuple[pa.Table, pa.Table]:
    """Parse JSON payloads into Arrow; records that fail go to the dead letters.

    The payloads are joined as JSON lines and parsed by pyarrow at once. When that fails the
    batch is halved until the bad records stand alone, so a few poison records cost a few
    extra parses, not one per record. Fields the schema lacks are inferred (and later added to
    the table); a field of the wrong type makes its record dead.
    """
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    payloads = [(m.value() or b"").replace(b"\n", b" ") for m in messages]
    tables: list[pa.Table] = []
    dead: list[dict[str, Any]] = []

    def parse(start: int, stop: int) -> None:
        try:
            table = pajson.read_json(
                io.BytesIO(b"\n".join(payloads[start:stop])), parse_options=options
            )
            if table.num_rows != stop - start:
                raise pa.ArrowInvalid(
                    f"expected {stop - start} JSON objects, found {table.num_rows}"
                )
            tables.append(table)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            if stop - start == 1:
                dead.append(_dead_row(messages[start], str(error).splitlines()[0]))
                return
            middle = (start + stop) // 2
            parse(start, middle)
            parse(middle, stop)

    if messages:
        parse(0, len(messages))
    good = (
        pa.concat_tables(tables, promote_options="permissive")
        if tables
        else (schema.empty_table() if schema is not None else pa.table({}))
    )
    return good, pa.Table.from_pylist(dead, schema=_DEAD_SCHEMA)


def _position(message: Message) -> tuple[int, int]:
    """(partition, offset) of a consumed message; librdkafka sets both on every one."""
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise RuntimeError(f"kafka: a message without partition or offset: {message!r}")
    return partition, offset


def _dead_row(message: Message, error: str) -> dict[str, Any]:
    _, millis = message.timestamp()
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": millis,
        "key": message.key(),
        "raw": message.value(),
        "error": error,
    }
