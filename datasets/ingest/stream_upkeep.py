"""A Kafka ingester's turn between its own commits: compaction and log retention.

After each publish, on its publishing thread, the ingester asks :meth:`StreamUpkeep.when_due`
whether a turn is due. It compacts the table and its dead-letter table every
``source.compact_every`` (:mod:`.stream_compaction`), and applies the dataset's log retention
to both (:func:`retain_stream`: the table properties, pinned versions' file lists, a
checkpoint, ``cleanup_metadata``) every :func:`retention_every`. Both
write to the table, and compaction or a metadata commit racing an append makes one of them
fail (delta-io/delta-rs#2700; an append after a properties commit fails with "Metadata changed
since last commit"): on the writer's own thread, between its commits, nothing races.

Retention runs every quarter of the retention, at most every hour (:data:`RETENTION_EVERY_S`):
at the Kafka default of 15 minutes, every 225 s, so a table publishing once a second keeps at
most ~1,100 log entries between nightly runs instead of a day of them more; each turn also
records a restore point when one is due (``history.restore_points``, every 15 minutes by
default). A turn writes a checkpoint and lists the log; it records no catalog event (384 a day
at the default would outgrow everything else in the events table): its result is in the
ingester's batch report, and nightly maintenance records one ``log_retention`` event.

A turn that fails with an error the lake or the catalog raises (a lost commit race, storage
unreachable) logs one warning and is retried on the next turn, ``compact_every`` later (or
:func:`retention_every` when compaction is off); ingestion goes on. Any other exception is a
bug and stops the ingester.

>>> retention_every(86400), retention_every(2)
(3600.0, 0.5)
>>> upkeep = StreamUpkeep(catalog, "clicks", spec, compact_every_s=300)  # doctest: +SKIP
>>> upkeep.when_due()                    # after each publish             # doctest: +SKIP
Turn(compaction=None, retention=None)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import DatasetNotFoundError, ThermoclineError
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.stream_compaction import StreamCompaction, compact_stream
from thermocline.datasets.tables.retention import RetentionResult, apply_policy, apply_retention

__all__ = ["RETENTION_EVERY_S", "StreamUpkeep", "Turn", "retain_stream", "retention_every"]

RETENTION_EVERY_S = 3600.0
"""At most this long between a Kafka ingester's log-retention turns (see the module doc)."""

_log = logging.getLogger(__name__)

# What a retention turn may meet that is not a bug: delta-rs's errors (a lost commit race,
# a log it cannot read), storage errors (pyarrow's are OSErrors too), and ours.
_RETRIED = (DeltaError, OSError, ThermoclineError)


def retain_stream(
    catalog: Catalog, dataset: str, spec: DatasetSpec, *, record_event: bool = True
) -> RetentionResult:
    """Apply ``dataset``'s log retention to its table, then to its dead-letter table when it
    has one: each micro-batch that held poison adds a version there, so its log would grow
    without bound too. Returns the table's result (the dead letters' is a catalog event,
    when ``record_event``)."""
    retained = apply_policy(catalog, dataset, spec, record_event=record_event)
    with contextlib.suppress(DatasetNotFoundError):  # no poison yet: no dead-letter table
        apply_retention(
            catalog,
            dead_letter_table(dataset),
            retention_s=spec.history.retention_seconds("kafka"),
            checkpoint_interval=spec.history.checkpoint_interval,
            record_event=record_event,
        )
    return retained


def retention_every(retention_s: float) -> float:
    """Seconds between retention turns for a log retention of ``retention_s`` seconds."""
    return min(RETENTION_EVERY_S, retention_s / 4)


@dataclass(frozen=True)
class Turn:
    """What one turn did: None for a step that was not due (or whose retention failed)."""

    compaction: StreamCompaction | None
    retention: RetentionResult | None


class StreamUpkeep:
    """When compaction and retention of one Kafka dataset are due, and running them."""

    def __init__(
        self,
        catalog: Catalog,
        dataset: str,
        spec: DatasetSpec,
        *,
        compact_every_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog, self.dataset, self.spec = catalog, dataset, spec
        self.compact_every_s = compact_every_s
        self.retain_every_s = retention_every(spec.history.retention_seconds("kafka"))
        self.target_file_mb = spec.tiering.target_file_mb
        self._clock = clock
        started = clock()
        self._compact_at = started + (compact_every_s or 0.0)
        self._retain_at = started + self.retain_every_s

    def when_due(self) -> Turn:
        """Compact if due, then apply the log retention if due (its checkpoint then holds
        the compacted files)."""
        now = self._clock()
        compacted = None
        if self.compact_every_s is not None and now >= self._compact_at:
            self._compact_at = now + self.compact_every_s
            compacted = compact_stream(
                self.catalog, self.dataset, target_file_mb=self.target_file_mb
            )
        retained = None
        if now >= self._retain_at:
            retained = self._retain(now)
        return Turn(compacted, retained)

    def _retain(self, now: float) -> RetentionResult | None:
        try:
            # no catalog event: every few minutes they would outgrow everything else there
            retained = retain_stream(self.catalog, self.dataset, self.spec, record_event=False)
        except _RETRIED as error:
            retry = min(self.retain_every_s, self.compact_every_s or self.retain_every_s)
            self._retain_at = now + retry
            _log.warning(
                "log retention of %s failed, retried in %gs (ingestion goes on): %s: %s",
                self.dataset,
                retry,
                type(error).__name__,
                error,
            )
            return None
        self._retain_at = now + self.retain_every_s
        return retained
