"""Kafka topic -> Delta table, exactly once, in micro-batches (DESIGN.md > Decisions 2 and 3).

Each micro-batch is published through write-audit-publish with one app transaction per
partition, ``kafka:<topic>:<partition>`` = the last offset consumed, in the same commit as the
rows. On assignment every partition is sought to that version + 1, so the Delta table, not
Kafka's committed offsets, decides where reading resumes; a crash or a rebalance at any moment
neither loses nor repeats a record.

Positions are contiguous (:mod:`.kafka_topic`): a batch publishes only if each of its partitions
starts right after the table's position, checked against the snapshot the commit is made from.
A batch that overlaps a commit it has not seen loses the race cleanly: its staged files are
discarded, the batches behind it are dropped, and every partition is sought to the table's
position + 1. So several ingesters of one dataset are safe whatever their groups: members of one
group share the partitions; an ingester with *another* group id is not refused but races the
first for every partition, and each offset is published by exactly one of them (the other reads
again from the table). That is the same rule that makes a zombie after a rebalance harmless, and
a refusal would need a lease that a SIGKILLed holder leaves behind; the cost of a second group
is the duplicated reading, not the data.

Records that do not decode or do not fit the schema go to the dead-letter table
``_dead_letters/<dataset>`` (raw bytes, error, topic, partition, offset, timestamp), published
just before the good rows with its own per-partition app transactions
(:func:`.dead_letters.publish_dead_letters`: the same contiguity; a lost race re-reads what
the other writer published, and no record is dropped unless seen there). Whether a record fits is
decided by the schema evolution that files and SQL use (:mod:`.evolution`): new fields become
columns after the table's, all-null ones wait for a type, safe widenings are cast; what a batch
source would quarantine a whole batch for is a dead letter here, for the records at fault only,
with the error that names the column. That holds for a problem every record of a batch shares,
such as a new field whose name differs only in case from a column: the records carrying a value
in it are dead letters with that reason, the rest are published, and nothing is lost or stuck.
After a crash between the two commits the batch is read again; dead letters at or below the
recorded offsets are not written twice. So good + dead = consumed, exactly. A batch that fails
a blocking check is quarantined and its positions are published with no rows, so the stream
goes on and the quarantine holds what was consumed. The dataset's PII policy applies to each
decoded batch before its checks (:class:`.pii.StreamPolicy`: full classification when the
columns change and every minute, a small sample per batch in between); a batch it blocks is
quarantined per partition like any blocking failure, and dead letters are sealed
(:mod:`.sealing`).

Three threads, one batch each, in order (pyarrow and delta-rs release the GIL): one consumes,
one decodes and checks the previous batch (:class:`.kafka_decode.MicroBatchDecoder`), one
stages and publishes the one before. After a
failed publish the batches behind it are dropped and every partition is sought from the table
again. The publishing thread also compacts the table and its dead-letter table every
``source.compact_every`` (5 minutes; one small file per partition per second adds up), and
trims the table's log to ``history.log_retention`` (taking a restore point when one is due)
every quarter of it, at most an hour (:mod:`.stream_upkeep`), between
its own commits: compaction or a properties commit that races an append fails
(delta-io/delta-rs#2700).
Micro-batches are not catalog events; the table's history holds each of them. Their check
results go to the catalog (``catalog.checks``) in one append every half minute
(:class:`~thermocline.catalog.check_results.ResultBuffer`), on stop and before a rebalance;
what a crash loses before its flush is read back from the summary in each publish commit.

>>> ingester = KafkaIngester(project, Catalog(lake), "clicks")          # doctest: +SKIP
>>> ingester.run(until_caught_up=True)                          # doctest: +SKIP
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.check_results import ResultBuffer
from thermocline.catalog.commits import CHECKS_KEY, KIND_KEY, QUARANTINE_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.errors import (
    CommitConflictError,
    ConfigError,
)
from thermocline.datasets.ingest.dead_letters import publish_dead_letters
from thermocline.datasets.ingest.judge import part_judge
from thermocline.datasets.ingest.kafka_decode import DecodedBatch, MicroBatch, MicroBatchDecoder
from thermocline.datasets.ingest.kafka_pipeline import COLLECT_EVERY_S, Pipeline, gc_paused
from thermocline.datasets.ingest.kafka_topic import (
    consumer_settings,
    continues_from,
    kafka_app_id,
    kafka_source,
    offset_after,
    offset_of,
    partition_of,
    table_positions,
)
from thermocline.datasets.ingest.pii import record_scan
from thermocline.datasets.ingest.quarantine import quarantine_kafka
from thermocline.datasets.ingest.stream_upkeep import StreamUpkeep
from thermocline.datasets.openlineage.hooks import kafka_published
from thermocline.datasets.tables.keyed import plan_keys, publish_keyed
from thermocline.datasets.tables.maintenance import CompactionResult
from thermocline.datasets.tables.quarantine import quarantine_id_of, remove_quarantine
from thermocline.datasets.tables.retention import RetentionResult
from thermocline.datasets.tables.staging import discard, stage
from thermocline.quality.pii.policy import transformed_schema
from thermocline.quality.results import (
    CheckResult,
    blocking,
    check_summary,
)

__all__ = [
    "BatchReport",
    "KafkaIngester",
]


_POLL_SECONDS = 0.05
# Check results are recorded in the catalog every half minute, not per micro-batch: a catalog
# append costs the publishing thread 29 ms on a local lake and 150 ms on the dev S3 server
# (median of 40 micro-batches of 12 results, 2026-12), against 0.1 ms to hold them, and each
# append is a file of the catalog table (30 s: ~2,900 a day per ingester). Nothing is lost
# meanwhile: each publish commit carries its results' summary, which reads fall back on.
_RESULTS_FLUSH_S = 30.0


@dataclass(frozen=True)
class BatchReport:
    """What one micro-batch did: rows published (or quarantined), dead letters, the version it
    made, the last offset per partition, the checks, the records still behind, the
    compactions of the table and of its dead-letter table that followed it, if one was due
    (None: not due, lost a race, or no such table yet), and the log retention that followed
    it (None: not due, or failed and retried on the next turn)."""

    consumed: int
    published: int
    dead: int
    version: int | None
    positions: Mapping[int, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_path: str | None = None
    checks: tuple[CheckResult, ...] = ()
    lag: int | None = None
    compaction: CompactionResult | None = None
    dead_letter_compaction: CompactionResult | None = None
    log_retention: RetentionResult | None = None


class KafkaIngester:
    """Consume a dataset's topic in micro-batches bounded by count, bytes and latency."""

    def __init__(
        self,
        project: Project,
        catalog: Catalog,
        dataset: str,
        *,
        group_id: str | None = None,
        max_records: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_latency_s: float = 1.0,
        compact_every_s: float | Literal["source"] | None = "source",
        environ: Mapping[str, str] | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        spec = project.dataset(dataset)
        self.spec = spec
        source, self.topic = kafka_source(project, dataset, environ)
        if project.kafka is None:
            raise ConfigError("kafka: missing; add `kafka: {bootstrap_servers: host:port}`")
        self.catalog, self.lake, self.dataset = catalog, lake_of(catalog), dataset
        self.decoder = MicroBatchDecoder(project, catalog, dataset, source, environ)
        self.key, self.on_duplicate = spec.primary_key, spec.on_duplicate
        self.partition_by = spec.partition_by or None
        self.limits = (max_records, max_bytes, max_latency_s)
        # "source": the source's `compact_every` (5m by default); None: never
        self.compact_every_s = (
            source.compact_every_s if compact_every_s == "source" else compact_every_s
        )
        self.upkeep = StreamUpkeep(catalog, dataset, spec, compact_every_s=self.compact_every_s)
        self.on_batch = on_batch
        # --group, else the source's group, else one per dataset
        self.group_id = group_id or source.group or f"thermocline-{dataset}"
        self.consumer = Consumer(consumer_settings(project, self.group_id, environ))
        self._assigned: set[int] = set()
        self._after: dict[int, int | None] = {}  # per partition: what the next batch continues
        self._at_end: set[int] = set()
        self._batch = MicroBatch()
        self._publisher: Pipeline[MicroBatch, DecodedBatch] | None = None
        self._stopping = False
        self._project = project
        self.check_results = ResultBuffer(catalog.checks, flush_every_s=_RESULTS_FLUSH_S)

    # --- the loop -------------------------------------------------------------------------

    def run(self, *, until_caught_up: bool = False) -> None:
        """Consume and publish until :meth:`stop` (e.g. from a SIGTERM handler) or, with
        ``until_caught_up``, until every assigned partition is at its end."""
        self._publisher = Pipeline(self.decoder.decode, self._publish)
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        collected_at = time.monotonic()
        try:
            with gc_paused():
                while not self._stopping:
                    self._fill()
                    self._hand_over()
                    self._publisher.raise_error()
                    if self._publisher.conflicted.is_set():
                        self._resync(self._publisher)
                    if until_caught_up and self._caught_up() and self._published_to_end():
                        break
                    if time.monotonic() - collected_at > COLLECT_EVERY_S:
                        gc.collect()
                        collected_at = time.monotonic()
                self._hand_over()
                self._publisher.wait()
                self.check_results.flush()
        finally:
            try:
                self.consumer.close()
            finally:
                self._publisher.close()

    def stop(self) -> None:
        """Finish the current micro-batch, publish it, and leave the loop."""
        self._stopping = True

    def flush(self) -> None:
        """Publish what has been consumed, wait until it is published, and record its check
        results in the catalog."""
        self._hand_over()
        if self._publisher is not None:
            self._publisher.wait()
        self.check_results.flush()

    def _fill(self) -> None:
        max_records, max_bytes, max_latency = self.limits
        deadline = time.monotonic() + max_latency
        batch = self._batch
        while not self._stopping and len(batch.messages) < max_records and batch.size < max_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # Short waits: an end of partition is noticed at once, not at the deadline.
            wanted = min(10_000, max_records - len(batch.messages))
            got = self.consumer.consume(wanted, timeout=min(left, _POLL_SECONDS))
            # Comprehensions, not a loop of statements: this runs for every record.
            if any([m.error() is not None for m in got]):
                got = self._records_only(got)
            elif self._at_end:
                self._at_end -= {m.partition() for m in got}
            payloads = [m.value() or b"" for m in got]
            batch.messages += got
            batch.payloads += payloads
            batch.size += sum(map(len, payloads))
            if self._caught_up():
                break

    def _records_only(self, got: list[Message]) -> list[Message]:
        """Note partition ends (in order: records after an end reopen it); drop the events."""
        records = []
        for message in got:
            error = message.error()
            if error is None:
                self._at_end.discard(partition_of(message))
                records.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(partition_of(message))
            else:
                raise RuntimeError(f"kafka: {error}")
        return records

    def _hand_over(self) -> None:
        batch, self._batch = self._batch, MicroBatch()
        if batch.messages and self._publisher is not None:
            # The last record of each partition is its position: scan from the end.
            for message in reversed(batch.messages):
                partition = partition_of(message)
                if partition not in batch.positions:
                    batch.positions[partition] = offset_of(message)
                    if len(batch.positions) == len(self._assigned):
                        break
            batch.after, self._after = continues_from(self._after, batch.positions)
            batch.lag = self._lag_after(batch)
            self._publisher.submit(batch)

    def _caught_up(self) -> bool:
        return bool(self._assigned) and self._assigned <= self._at_end

    def _published_to_end(self) -> bool:
        """At every partition's end: publish what is held and wait. False when that lost a race
        to another writer (its records may be theirs only in part): then every partition is
        sought from the table again and the run reads on, instead of ending with the rest of
        the topic unpublished."""
        self._hand_over()
        if self._publisher is None:
            return True
        self._publisher.wait()
        if not self._publisher.conflicted.is_set():
            return True
        self._resync(self._publisher)
        return False

    # --- rebalances and conflicts: positions come from the table ---------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        done = self._positions(self.dataset, [p.partition for p in partitions])
        for partition in partitions:
            partition.offset = offset_after(done[partition.partition])
        self._after.update(done)
        self._assigned |= {p.partition for p in partitions}
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # publish what we hold before another member takes these partitions
        self._assigned -= {p.partition for p in partitions}
        self._at_end -= {p.partition for p in partitions}
        for partition in partitions:
            self._after.pop(partition.partition, None)

    def _resync(self, publisher: Pipeline[MicroBatch, DecodedBatch]) -> None:
        """Another writer published offsets we held (a zombie after a rebalance, or an
        ingester of another group): drop what we hold and continue every partition, and the
        schema, from the table. No partition is known to be at its end until it is reached
        again."""
        self._batch = MicroBatch()
        publisher.wait()
        self.decoder.reload_schema()
        done = self._positions(self.dataset, sorted(self._assigned))
        for partition, last in done.items():
            self.consumer.seek(TopicPartition(self.topic, partition, offset_after(last)))
        self._after.update(done)
        self._at_end.clear()
        publisher.conflicted.clear()

    def _positions(self, table: str, partitions: Iterable[int]) -> dict[int, int | None]:
        return table_positions(self.lake, table, self.topic, partitions)

    # --- one micro-batch: decoded on one thread, published on another ---------------------

    def _publish(self, decoded: DecodedBatch) -> None:
        """Stage and publish one decoded batch (dead letters first), or quarantine it."""
        batch, good, dead, results = decoded.batch, decoded.good, decoded.dead, decoded.results
        publish_dead_letters(self.catalog, self.dataset, self.topic, dead, batch.after)
        failed = blocking(results)
        pii = decoded.pii
        if pii.blocked:
            failed = [CheckResult("pii", "pii", "error", False, r) for r in pii.reasons]
        # Keys across batches, looked up against the table as this thread last published it.
        keys = None
        if self.key and not failed:
            keys = plan_keys(self.lake, self.dataset, good, self.key, self.on_duplicate)
            good = keys.rows
            failed = [
                CheckResult("primary_key", "primary_key", "error", False, r) for r in keys.reasons
            ]
        metadata: dict[str, Any] = {KIND_KEY: "kafka"}
        if results:
            metadata[CHECKS_KEY] = check_summary(results)
        quarantine_path = None
        rows = good
        if failed:  # kept per partition; the positions are published without the rows
            quarantine_path = quarantine_kafka(
                self.catalog,
                self.spec,
                self.dataset,
                self.topic,
                good,
                _row_positions(batch, dead),
                [r.message for r in failed],
                None
                if decoded.context is None
                else part_judge(self._project, self.dataset, decoded.context),
                pii=pii.state,
                redact=pii.redact if pii.blocked else None,
            )
            metadata[QUARANTINE_KEY] = quarantine_path
            before = decoded.schema_before or good.schema
            rows = transformed_schema(before, pii.decisions).empty_table()  # no new columns
        staged = stage(self.lake, self.dataset, rows, partition_by=self.partition_by)
        apps = {kafka_app_id(self.topic, p): o for p, o in batch.positions.items()}
        expected = {kafka_app_id(self.topic, p): a for p, a in batch.after.items()}
        reason = f"kafka {self.topic}: {staged.rows} records"
        if failed:
            reason = f"kafka {self.topic}: {good.num_rows} records quarantined, positions only"
        try:
            version = publish_keyed(
                self.catalog,
                staged,
                None if failed else keys,
                app_transactions=apps,
                expected_positions=expected,
                reason=reason,
                metadata=metadata,
                record_event=False,
            )
        except CommitConflictError:
            discard(self.lake, staged)
            if quarantine_path is not None:  # the winner has these records: not quarantined
                remove_quarantine(self.catalog, quarantine_path)
            raise
        record_scan(self.catalog, self.decoder.pii.rows_to_record(pii, None if failed else version))
        kafka_published(
            self._project,
            self.lake,
            self.dataset,
            version,
            rows.schema,
            results,
            [r.message for r in failed],
        )
        if results:  # held for the next flush; the commit carries their summary meanwhile
            kept = quarantine_id_of(quarantine_path) if quarantine_path is not None else None
            self.check_results.add(
                self.dataset,
                results,
                version=None if kept else version,
                quarantine_id=kept,
                at=decoded.context.now if decoded.context is not None else None,
            )
        self.check_results.flush_when_due()
        turn = self.upkeep.when_due()  # compaction and log retention, between our commits
        compacted = turn.compaction
        if self.on_batch is not None:
            self.on_batch(
                BatchReport(
                    consumed=len(batch.messages),
                    published=staged.rows,
                    dead=dead.num_rows,
                    version=version,
                    positions=dict(batch.positions),
                    quarantined=good.num_rows if failed else 0,
                    quarantine_path=quarantine_path,
                    checks=tuple(results),
                    lag=batch.lag,
                    compaction=compacted.table if compacted else None,
                    dead_letter_compaction=compacted.dead_letters if compacted else None,
                    log_retention=turn.retention,
                )
            )

    def _lag_after(self, batch: MicroBatch) -> int:
        """Records behind the batch's last offsets, from the watermarks fetches brought (on
        the consuming thread: the consumer blocks calls from others while it consumes)."""
        behind = 0
        for partition, offset in batch.positions.items():
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), cached=True
            )
            behind += max(high - offset - 1, 0) if high >= 0 else 0
        return behind


def _row_positions(batch: MicroBatch, dead: pa.Table) -> list[tuple[int, int]]:
    """(partition, offset) of each decoded row: the batch's records less its dead letters."""
    gone = set(zip(dead["partition"].to_pylist(), dead["offset"].to_pylist(), strict=True))
    every = ((partition_of(m), offset_of(m)) for m in batch.messages)
    return [position for position in every if position not in gone]
