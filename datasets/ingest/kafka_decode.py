"""The middle stage of Kafka ingestion: a consumed micro-batch decoded, put under the
dataset's PII policy and judged by its checks, on its own thread (:mod:`.kafka` consumes before
it and publishes after it).

The decoder owns what that stage keeps between batches: the schema batches decode with (grown by
the batches before, unless a blocking check failed: the batch is then quarantined, its new
columns with it), the PII stream policy (:class:`.pii.StreamPolicy`), the dead-letter sealer,
and the checks' baselines (:class:`~thermocline.datasets.tables.baselines.BaselineCache`,
refreshed about once a minute, not per micro-batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from confluent_kafka import Message

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import KafkaSource, Project, expand_env
from thermocline.datasets.ingest.base import arrow_schema, open_or_none
from thermocline.datasets.ingest.dead_letters import dead_letter_rows
from thermocline.datasets.ingest.judge import context_for, declared_checks, judge
from thermocline.datasets.ingest.payloads import SchemaRegistry, decode_avro, decode_json
from thermocline.datasets.ingest.pii import PiiResult, StreamPolicy, hash_key
from thermocline.datasets.ingest.schema_changes import schema_changes
from thermocline.datasets.ingest.sealing import Sealer
from thermocline.datasets.tables.baselines import BaselineCache
from thermocline.quality.results import CheckContext, CheckResult, SchemaChanges, blocking

__all__ = ["DecodedBatch", "MicroBatch", "MicroBatchDecoder"]


@dataclass
class MicroBatch:
    """Consumed records in order, their payloads, the last offset of each partition, and the
    table position each partition continues from (the batch publishes only onto that)."""

    messages: list[Message] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)
    after: dict[int, int | None] = field(default_factory=dict)
    size: int = 0
    lag: int | None = None


@dataclass(frozen=True)
class DecodedBatch:
    """A batch decoded and checked, ready to publish."""

    batch: MicroBatch
    good: pa.Table
    dead: pa.Table
    results: list[CheckResult]
    schema_before: pa.Schema | None  # what it was decoded with, before its new fields
    pii: PiiResult  # the policy applied to ``good`` (as it came when blocked)
    context: CheckContext | None  # what the checks judged it with (None: not judged)


class MicroBatchDecoder:
    """Decode, protect and judge the micro-batches of one dataset's topic, one at a time."""

    def __init__(
        self,
        project: Project,
        catalog: Catalog,
        dataset: str,
        source: KafkaSource,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        spec = project.dataset(dataset)
        self.catalog, self.lake, self.dataset, self.spec = catalog, lake_of(catalog), dataset, spec
        self.format = source.format
        self.max_record_bytes = source.max_record_bytes
        registry_url = project.kafka.schema_registry_url if project.kafka else None
        self.registry = (
            SchemaRegistry(expand_env(registry_url, environ, "kafka.schema_registry_url"))
            if registry_url
            else None
        )
        self.judged = bool(declared_checks(project, dataset))  # checks or a suite to run
        self.declared = spec.arrow_schema()
        # The schema the next batch decodes with, grown by the batches decoded before it
        # (this stage runs a batch ahead of the publishing one).
        self.schema = self._table_schema(self.declared)
        self.pii = StreamPolicy(project, catalog, dataset, environ=environ)
        self.baselines = BaselineCache()
        self._sealer: Sealer | None = None
        self._project, self._environ = project, environ

    def reload_schema(self) -> None:
        """Continue from the table's schema (after another writer published over ours)."""
        self.schema = self._table_schema(self.declared)

    def _table_schema(self, declared: pa.Schema | None) -> pa.Schema | None:
        """The schema batches are conformed to: the table's (what it stores decides, as for
        files and SQL), then declared columns it lacks; the declared one before the table
        exists."""
        table = open_or_none(self.lake, self.dataset)
        if table is None:
            return declared
        existing = arrow_schema(table)
        if declared is None:
            return existing
        return pa.schema([*existing, *(f for f in declared if f.name not in existing.names)])

    def decode(self, batch: MicroBatch) -> DecodedBatch:
        """Decode and check one batch; the schema grows (by :mod:`.evolution`'s rules) unless
        a blocking check failed (the batch is then quarantined, and its new columns with it)."""
        before = self.schema
        if self.format == "avro":
            good, failures, schema = decode_avro(
                batch.payloads, before, self.registry, max_record_bytes=self.max_record_bytes
            )
        else:
            good, failures, schema = decode_json(
                batch.payloads, before, max_record_bytes=self.max_record_bytes
            )
        pii = self.pii.enforce(good)
        context: CheckContext | None = None
        results: list[CheckResult] = []
        if self.judged and not pii.blocked:
            context, results = self._judge(pii.table, schema_changes(before, schema))
        if not blocking(results) and not pii.blocked:
            self.schema = schema
        dead = dead_letter_rows(batch.messages, failures, self._sealing() if failures else None)
        return DecodedBatch(batch, pii.table, dead, results, before, pii, context)

    def _sealing(self) -> Sealer | None:
        """The dead-letter sealer when the dataset's PII policy is active (the key is read on
        the first dead letter; see :mod:`.sealing`)."""
        if not self.pii.active:
            return None
        if self._sealer is None:
            key = hash_key(self._project, self._environ)
            self._sealer = Sealer(key, [*self.spec.pii.columns, *self.pii.known_columns()])
        return self._sealer

    def _check_context(self, changes: SchemaChanges | None = None) -> CheckContext:
        """What the checks compare a micro-batch with, through the one :func:`context_for`.
        The baselines (drift references, referential keys) come from a cache refreshed about
        once a minute, not per micro-batch. Micro-batch sizes follow the traffic, so there is
        no row-count baseline (``volume`` is refused for Kafka sources)."""
        return context_for(
            self._project,
            self.catalog,
            self.dataset,
            now=datetime.now(tz=UTC),
            schema=self.declared,
            schema_changes=changes,
            cache=self.baselines,
            row_counts=False,
        )

    def _judge(
        self, rows: pa.Table, changes: SchemaChanges | None
    ) -> tuple[CheckContext, list[CheckResult]]:
        """Judge a micro-batch. A blocking referential failure judged on kept keys is judged
        again once the key datasets' versions are checked: a key published in the last minute
        must not quarantine a row (the keys are read again only if their dataset published)."""
        reads = self.baselines.reads
        context = self._check_context(changes)
        results = judge(self._project, self.dataset, rows, context)
        stale = self.baselines.reads == reads
        if stale and any(r.check == "referential" for r in blocking(results)):
            self.baselines.recheck_keys()
            reads = self.baselines.reads
            context = self._check_context(changes)
            if self.baselines.reads > reads:  # newer keys: judge again
                results = judge(self._project, self.dataset, rows, context)
        return context, results
