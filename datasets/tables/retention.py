"""Log retention: checkpoint, then trim the Delta log, keeping tagged and released versions
readable (DESIGN.md > Decision 14).

:func:`apply_retention` (run by ``thermocline maintain``, the Dagster maintenance job, and a
Kafka ingester between its own commits, :mod:`thermocline.datasets.ingest.stream_upkeep`):

1. sets the table's ``delta.logRetentionDuration`` and ``delta.checkpointInterval`` from the
   dataset's ``history:`` policy, and ``delta.enableExpiredLogCleanup=false`` so that writers'
   own checkpoints never trim the log: only this function does, after step 2;
2. with ``restore_points`` (``history.restore_points``), records the latest version as a
   restore point when one is due and forgets expired ones (:mod:`.restore_points`);
3. records each pinned (tagged, released or restore-point) version's live files that the
   catalog lacks (:class:`~thermocline.catalog.pinned_files.PinnedFiles`): paths, sizes,
   partition values, statistics, the schema; and its lineage provenance;
4. writes a checkpoint at the latest version and runs ``cleanup_metadata``.

What delta-rs 1.6.6 keeps (checked on a real table, see tests/datasets/test_retention.py):
cleanup deletes log files (commits *and* checkpoints) older than the retention by storage
modification time, up to the newest checkpoint at or before the oldest version it keeps: that
checkpoint and everything after it stay, so every version within the retention (and up to
``checkpoint_interval`` older ones) stays readable. A checkpoint written at a tagged version
is deleted like any other once older, so the pinned file list lives in the catalog instead:
one row per pin, written once. Measured on the local lake (a 200-version table, a tag at version
150 with 151 files): the list is 50 KB of JSON (~335 B a file); ``read_dataset`` at the tag
took 173 ms from the list after cleanup against 259 ms through the log before it (both mostly
catalog reads: tags, erasures, tiers). Reading a pinned version past retention builds the same
pyarrow dataset from that list (:func:`~.log_reach.pinned_dataset`); a rollback to it commits
the list back (:func:`rollback_to_pinned`); vacuum keeps its files (:func:`pinned_paths`).

>>> apply_retention(catalog, "rides", retention_s=30 * 86400)      # doctest: +SKIP
RetentionResult(dataset='rides', retention='30d', readable_from_before=0, readable_from=4200, ...)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deltalake import CommitProperties
from deltalake.exceptions import CommitFailedError

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import USER_KEY
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import CommitConflictError, InputError
from thermocline.datasets.tables.log_reach import readable_from, retention_text
from thermocline.datasets.tables.pins import capture_pinned
from thermocline.datasets.tables.restore_points import expire_restore_points, take_restore_point
from thermocline.datasets.tables.versions import (
    open_table,
)

__all__ = [
    "RetentionResult",
    "apply_policy",
    "apply_retention",
    "retention_properties",
]


@dataclass(frozen=True)
class RetentionResult:
    dataset: str
    retention: str
    readable_from_before: int
    readable_from: int  # the oldest version the log still reaches
    checkpoint_version: int
    pinned_recorded: list[int]  # pinned versions whose file list was recorded now
    pinned_past_retention: list[int]  # pinned versions older than readable_from
    restore_point: int | None = None  # the version recorded as a restore point now
    restore_points_expired: list[int] = field(default_factory=list)  # forgotten now


def retention_properties(retention_s: float, checkpoint_interval: int) -> dict[str, str]:
    """The Delta table properties that carry a ``history:`` policy."""
    if not math.isfinite(retention_s) or retention_s < 1:
        raise InputError(
            f"log retention must be at least one second, not {retention_s}; fix: set "
            "history.log_retention such as 7d"
        )
    if checkpoint_interval < 1:
        raise InputError(f"checkpoint_interval must be at least 1, not {checkpoint_interval}")
    return {
        "delta.logRetentionDuration": f"interval {int(retention_s)} seconds",
        "delta.checkpointInterval": str(checkpoint_interval),
        "delta.enableExpiredLogCleanup": "false",
    }


def apply_retention(
    catalog: Catalog,
    dataset: str,
    *,
    retention_s: float,
    checkpoint_interval: int = 100,
    restore_points: tuple[float, float] | None = None,
    record_event: bool = True,
) -> RetentionResult:
    """Set the retention properties, record pinned versions' files, checkpoint and trim the
    log of ``dataset``; recorded as a ``log_retention`` event unless ``record_event`` is False
    (a Kafka ingester's turns, every few minutes: the result is in its batch report).
    ``restore_points``: ``(every, keep)`` seconds of the dataset's restore points, None for
    none.

    The properties commit is the only table commit, made only when they differ, and it comes
    first: when it fails (:class:`CommitConflictError`, raised before anything else is done) it
    lost a race with another writer that changed the table's metadata (a Kafka
    ingester adding a column), and nothing was changed. A concurrent append does not fail it
    (delta-rs rebases it), but the *append* then fails ("Metadata changed since last
    commit"): a Kafka ingester re-reads its batch, so its own turn sets them first."""
    lake = lake_of(catalog)
    wanted = retention_properties(retention_s, checkpoint_interval)
    table = open_table(lake, dataset)
    configuration = table.metadata().configuration
    if any(configuration.get(key) != value for key, value in wanted.items()):
        try:
            table.alter.set_table_properties(
                wanted,
                commit_properties=CommitProperties(custom_metadata={USER_KEY: current_user()}),
            )
        except CommitFailedError as error:
            raise CommitConflictError(
                f"{dataset}: log retention's table-properties commit lost a race with another "
                f"writer ({error}); nothing was changed; the next maintenance pass applies it",
                fix="run maintenance again",
            ) from None
        table.update_incremental()
    before = readable_from(lake, dataset)
    point, expired = None, []
    if restore_points is not None:
        every_s, keep_s = restore_points
        point = take_restore_point(catalog, dataset, table, every_s=every_s)
        expired = expire_restore_points(catalog, dataset, keep_s=keep_s)
    recorded = capture_pinned(catalog, dataset, table, oldest=before)
    table.create_checkpoint()
    table.cleanup_metadata()
    after = readable_from(lake, dataset)
    pins = sorted(catalog.protected_versions(dataset, restore_points=False))
    result = RetentionResult(
        dataset,
        retention_text(table),
        before,
        after,
        table.version(),
        recorded,
        [v for v in pins if v < after],
        point,
        expired,
    )
    if not record_event:
        return result
    catalog.record(
        Event(
            "log_retention",
            dataset,
            table.version(),
            None,
            {
                "retention": result.retention,
                "readable_from_before": before,
                "readable_from": after,
                "pinned_recorded": recorded,
                "restore_point": point,
                "restore_points_expired": expired,
            },
        )
    )
    return result


def apply_policy(
    catalog: Catalog, dataset: str, spec: DatasetSpec, *, record_event: bool = True
) -> RetentionResult:
    """:func:`apply_retention` with the dataset's ``history:`` policy (its default by source
    kind when it sets none: 15 minutes and restore points for Kafka, 30 days for others)."""
    kind = spec.source.kind if spec.source is not None else None
    return apply_retention(
        catalog,
        dataset,
        retention_s=spec.history.retention_seconds(kind),
        checkpoint_interval=spec.history.checkpoint_interval,
        restore_points=spec.history.restore_points_for(kind),
        record_event=record_event,
    )
