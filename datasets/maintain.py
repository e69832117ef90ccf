"""Keeping a dataset healthy, in one call: compact small files (a Kafka dataset's dead letters
too), vacuum files no recent or pinned version needs, write a checkpoint and trim the log to
the dataset's ``history.log_retention`` (pinned versions stay readable). The nightly Dagster
maintenance job and ``thermocline maintain`` both run it, so they cannot drift apart.

A Kafka dataset's ingester may be publishing meanwhile. Its compaction, or the commit that sets
the retention properties, can then lose a commit race (``CommitConflictError``): that step is
left as it was for the next pass, the result says so (None), and the pass goes on. The
ingester runs both steps itself between its own commits (:mod:`.ingest.stream_upkeep`), so
the properties are usually set already and maintenance makes no commit of its own.

>>> done = maintain(catalog, "rides", project.dataset("rides"))        # doctest: +SKIP
>>> done.retention.readable_from                                        # doctest: +SKIP
12
"""

from __future__ import annotations

from dataclasses import dataclass

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, KafkaSource
from thermocline.catalog.errors import CommitConflictError
from thermocline.datasets.ingest.stream_compaction import compact_stream
from thermocline.datasets.ingest.stream_upkeep import retain_stream
from thermocline.datasets.tables.maintenance import CompactionResult, VacuumResult, compact, vacuum
from thermocline.datasets.tables.retention import RetentionResult, apply_policy

__all__ = ["Maintenance", "maintain"]


@dataclass(frozen=True)
class Maintenance:
    """What one maintenance pass did. ``compaction`` is None when a Kafka dataset's compaction
    lost a commit race with its ingester, ``retention`` when its properties commit did (the
    next pass, or the ingester's own turn, does it)."""

    dataset: str
    compaction: CompactionResult | None
    vacuum: VacuumResult
    retention: RetentionResult | None


def maintain(
    catalog: Catalog,
    dataset: str,
    spec: DatasetSpec,
    *,
    vacuum_hours: float = 168,
    reason: str = "maintenance",
) -> Maintenance:
    """Compact, vacuum (files unneeded for ``vacuum_hours``), checkpoint and trim the log."""
    target_mb = spec.tiering.target_file_mb
    streaming = isinstance(spec.source, KafkaSource)
    if streaming:  # its dead letters too; a lost race is skipped
        compacted = compact_stream(catalog, dataset, target_file_mb=target_mb).table
    else:
        compacted = compact(catalog, dataset, target_file_mb=target_mb)
    vacuumed = vacuum(catalog, dataset, retention_hours=vacuum_hours, reason=reason)
    try:
        retain = retain_stream if streaming else apply_policy  # a stream's dead letters too
        retained: RetentionResult | None = retain(catalog, dataset, spec)
    except CommitConflictError:  # its properties commit lost a race: nothing was changed
        if not streaming:
            raise
        retained = None
    return Maintenance(dataset, compacted, vacuumed, retained)
