"""Compaction of a Kafka dataset's two tables: the data table and its dead-letter table.

A micro-batch a second leaves a small file per partition per second in the table, and one in
``_dead_letters/<dataset>`` for each batch that held poison. Both are compacted as
``data_change=False`` commits (:func:`~thermocline.datasets.tables.maintenance.compact`): the
same rows (dead letters byte for byte, sealed payloads included: a row's associated data is its
topic, partition and offset, which compaction keeps), the same app-transaction positions.

Compaction that races an append fails with ``CommitFailedError`` (delta-io/delta-rs#2700), so
the long-lived ingester calls this on its publishing thread, between its own commits
(``source.compact_every``, 5 minutes by default). Any other caller (the nightly maintenance job,
while a service publishes) may lose that race: the table is then left as it was, for the next
turn, and the result says so.

>>> done = compact_stream(catalog, "clicks", target_file_mb=128)       # doctest: +SKIP
>>> done.table.files_removed, done.dead_letters is None               # doctest: +SKIP
(300, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from deltalake.exceptions import CommitFailedError

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.tables.maintenance import CompactionResult, compact

__all__ = ["StreamCompaction", "compact_stream"]


@dataclass(frozen=True)
class StreamCompaction:
    """What compacting both tables did; None for a table that does not exist yet or whose
    compaction lost a commit race (a result with ``version`` None: nothing to compact)."""

    table: CompactionResult | None
    dead_letters: CompactionResult | None


def compact_stream(catalog: Catalog, dataset: str, *, target_file_mb: int) -> StreamCompaction:
    """Compact ``dataset``'s table, then its dead-letter table, each in its own commit."""
    return StreamCompaction(
        _compact(catalog, dataset, target_file_mb),
        _compact(catalog, dead_letter_table(dataset), target_file_mb),
    )


def _compact(catalog: Catalog, table: str, target_file_mb: int) -> CompactionResult | None:
    try:
        return compact(catalog, table, target_file_mb=target_file_mb)
    except (CommitFailedError, DatasetNotFoundError):  # a race lost / nothing written yet
        return None
