"""Apply a dataset's tier plan: compact and recompress what leaves hot, then move each file
to its storage class in place, recording every move in the catalog's tier inventory (IO).

``tier apply`` runs three steps, each safe to interrupt:

1. **Finish what a crash interrupted.** Moves with an ``intent`` row and no ``done`` row are
   copied again (a copy in place is idempotent) and recorded done.
2. **Compact.** Each :class:`~thermocline.datasets.tables.tier_plan.Compaction` (hot files of
   one dated partition leaving together) is compacted by delta-rs ``optimize.compact`` into
   ``target_file_mb`` files at the policy's zstd level, a ``data_change=False`` commit that
   readers and ingestion positions do not see as new data: all partitions in one call when the
   table has one partition column (delta-rs works on them in parallel), else one call per
   partition. A compaction that loses a race with a concurrent writer (delta-io/delta-rs#2700)
   is skipped: its files stay hot and the next run compacts them. The plan is then made again
   from the new log: the compacted files are what moves, and the files they replaced are left
   to vacuum or, when a tag still reads them, to a later run (never archived by the run that
   made them archive-only).
3. **Move** (:mod:`.tier_moves`): in batches, one commit of ``intent`` rows, the copies in
   parallel (:mod:`.tier_storage`), one commit of ``done`` rows. A file is never read while it
   may sit in an archive class, because readers count an archive intent as archived.

:func:`restore_version` brings a version's archived files back to a readable tier (cold when
the policy has one, else warm), where the early-deletion minimum keeps them for 90 (30) days
before a later ``tier apply`` may archive them again.

>>> result = apply_tiers(catalog, "rides", spec.tiering, project.tiering)   # doctest: +SKIP
>>> result.moved, result.moved_bytes                                          # doctest: +SKIP
(412, 52747650048)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from deltalake import CommitProperties, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import REASON_KEY, USER_KEY
from thermocline.catalog.config import Tier, TieringPolicy, TieringSettings
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.faults import InjectedFaultError, fault_point
from thermocline.datasets.tables.tier_facts import plan_dataset
from thermocline.datasets.tables.tier_moves import BATCH, WORKERS, Mover, Progress, move_files
from thermocline.datasets.tables.tier_plan import (
    Compaction,
    Move,
    TierPlan,
    count_targets,
    folder_values,
)
from thermocline.datasets.tables.version_index import commit_actions
from thermocline.datasets.tables.versions import (
    live_files,
    open_table,
    storage_path,
)

__all__ = [
    "ApplyResult",
    "Compacted",
    "RestoreResult",
    "apply_tiers",
    "restore_version",
]

TIER_EVENT = "tier"  # the catalog event of one apply or restore run
_STATS_BYTES = 64  # min/max statistics kept per column chunk (parquet-rs's column index default)


@dataclass(frozen=True)
class Compacted:
    """One partition compacted on its way out of hot (``version``: its commit; None when a
    concurrent writer won the race and it was skipped, ``error`` says why)."""

    partition: str
    files_removed: int
    files_added: int
    version: int | None
    error: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    """What ``tier apply`` did: ``plan`` is the plan whose moves it made (made again after
    compaction), ``resumed`` the moves of an interrupted earlier run it finished first."""

    dataset: str
    run_id: str
    plan: TierPlan
    compacted: tuple[Compacted, ...]
    moved: int
    moved_bytes: int
    resumed: int
    dry_run: bool


@dataclass(frozen=True)
class RestoreResult:
    """The archived files of ``dataset`` at ``version`` that a restore moved to ``tier``."""

    dataset: str
    version: int
    tier: Tier
    restored: tuple[str, ...]
    restored_bytes: int


def apply_tiers(
    catalog: Catalog,
    dataset: str,
    policy: TieringPolicy,
    settings: TieringSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int = WORKERS,
    batch_size: int = BATCH,
) -> ApplyResult:
    """Compact, then move every file of ``dataset`` to the tier ``policy`` asks for at ``now``
    (default: the current time). ``dry_run`` plans and changes nothing.

    Crash tests stop it with ``THERMOCLINE_FAULT`` (:mod:`.faults`) at
    ``tier-apply:compact`` (with ``=raise``: a compaction that lost a race),
    ``tier-apply:after-compact``, ``tier-apply:after-intent:N`` and
    ``tier-apply:after-copies:N`` (N counts batches of ``batch_size`` moves from 1)."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, not {batch_size}")
    moment = now or datetime.now(UTC)
    run_id = uuid.uuid4().hex
    if dry_run:
        plan = plan_dataset(catalog, dataset, policy, now=moment)
        return ApplyResult(dataset, run_id, plan, (), 0, 0, 0, True)
    mover = Mover.start(
        catalog,
        dataset,
        settings,
        now=moment,
        progress=progress,
        workers=workers,
        batch_size=batch_size,
        run_id=run_id,
    )
    resumed = mover.resume()  # first: the plan then sees where those files went
    plan = plan_dataset(catalog, dataset, policy, now=moment)
    compactions = plan.compactions
    compacted = _compact_all(catalog, dataset, compactions, policy)
    if any(c.version is not None for c in compacted):
        plan = plan_dataset(catalog, dataset, policy, now=moment)
    plan = _settled(plan, compactions, compacted)
    fault_point("tier-apply:after-compact")
    moved_bytes = mover.move(plan.moves)
    result = ApplyResult(
        dataset, run_id, plan, compacted, len(plan.moves), moved_bytes, resumed, False
    )
    if plan.moves or compacted or resumed:
        catalog.record(
            Event(
                TIER_EVENT,
                dataset,
                open_table(lake_of(catalog), dataset).version(),
                "tier apply",
                {
                    "run_id": run_id,
                    "moves": plan.moves_by_target(),
                    "moved_bytes": moved_bytes,
                    "resumed": resumed,
                    "compacted": [
                        {
                            "partition": c.partition,
                            "removed": c.files_removed,
                            "added": c.files_added,
                            "version": c.version,
                            "error": c.error,
                        }
                        for c in compacted
                    ],
                },
            )
        )
    return result


def restore_version(
    catalog: Catalog,
    dataset: str,
    version: int,
    policy: TieringPolicy,
    settings: TieringSettings,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    workers: int = WORKERS,
) -> RestoreResult:
    """Copy the archived files of ``dataset`` at ``version`` back to a readable tier (cold, or
    warm when the policy has no cold): afterwards the version reads and rolls back. The
    files count as moved at ``now`` (default: the current time)."""
    lake = lake_of(catalog)
    table = open_table(lake, dataset, version)
    files = {a["path"]: a["size_bytes"] for a in live_files(table)}
    archived = catalog.tiers.archived(dataset, files)
    target: Tier = "cold" if policy.cold_after_days is not None else "warm"
    why = f"restore of version {version}"
    moves = tuple(Move(p, "archive", target, files[p], why) for p in archived)
    run_id = uuid.uuid4().hex
    moved = move_files(
        catalog, dataset, moves, settings, now=now, progress=progress, workers=workers,
        run_id=run_id,
    )  # fmt: skip
    if moves:
        catalog.record(
            Event(
                TIER_EVENT,
                dataset,
                version,
                why,
                {
                    "run_id": run_id,
                    "moves": count_targets(moves),
                    "moved_bytes": moved,
                    "restored_version": version,
                },
            )
        )
    return RestoreResult(dataset, version, target, tuple(archived), moved)


def _settled(
    plan: TierPlan, compactions: Sequence[Compaction], compacted: Sequence[Compacted]
) -> TierPlan:
    """``plan`` (made after compaction) less the moves of the files the compactions were for.

    - A compaction that was skipped: each of its files alone may be under the 128 KB minimum
      (only the group passed it), and once out of hot it would never be compacted; hot, the
      next run compacts it.
    - A compaction that ran dropped its files from the latest version: where a tag or release
      still reads them, the plan made after it would archive them in the same run that made
      them archive-only, so a version tagged today would be unreadable at once. They stay
      where they are; a later run plans them like any file the latest version left.
    """
    members = {p: c.partition for c in compactions for p in c.paths}
    failed = {c.partition for c in compacted if c.error is not None}
    kept = tuple(
        m
        for m in plan.moves
        if m.path not in members or (m.target != "archive" and members[m.path] not in failed)
    )
    return plan if len(kept) == len(plan.moves) else replace(plan, moves=kept)


def _compact_all(
    catalog: Catalog, dataset: str, compactions: Sequence[Compaction], policy: TieringPolicy
) -> tuple[Compacted, ...]:
    """The plan's compactions: one ``optimize.compact`` over all of them when the table is
    partitioned by one column (delta-rs compacts the partitions side by side: about twice as
    fast on two cores as one call per partition), else one call per partition."""
    filters = [[(n, "=", v) for n, v in folder_values(c.partition)] for c in compactions]
    if filters and all(len(f) == 1 for f in filters) and len({f[0][0] for f in filters}) == 1:
        selected = [(filters[0][0][0], "in", [f[0][2] for f in filters])]
        return _compact(catalog, dataset, compactions, selected, policy)
    return tuple(
        done
        for compaction, selected_one in zip(compactions, filters, strict=True)
        for done in _compact(catalog, dataset, [compaction], selected_one, policy)
    )


def _compact(
    catalog: Catalog,
    dataset: str,
    compactions: Sequence[Compaction],
    filters: list[tuple[str, str, Any]],
    policy: TieringPolicy,
) -> tuple[Compacted, ...]:
    """One ``optimize.compact`` of the partitions ``filters`` select, at the policy's size and
    zstd level; each compaction's file counts come from the commit's actions."""
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    before = table.version()
    targets = ", ".join(sorted({c.target for c in compactions}))
    custom = {USER_KEY: current_user(), REASON_KEY: f"tier apply: to {targets}"}
    try:
        fault_point("tier-apply:compact")  # =raise: a test's stand-in for a lost race
        table.optimize.compact(
            partition_filters=filters,
            target_size=policy.target_file_mb * 1024 * 1024,
            writer_properties=WriterProperties(
                compression="ZSTD",
                compression_level=policy.zstd_level,
                # Untruncated, the footer keeps each row group's min and max of long strings
                # and binaries whole: a table of 200 KB blobs compacted to twice its size.
                statistics_truncate_length=_STATS_BYTES,
            ),
            commit_properties=CommitProperties(custom_metadata=custom),
        )
    except (CommitFailedError, DeltaError, InjectedFaultError) as error:
        why = f"skipped, retried next run: {error}"
        return tuple(Compacted(c.partition, 0, 0, None, why) for c in compactions)
    version = table.version()  # the optimize commit's (optimize updates the table it ran on)
    if version == before:
        return tuple(Compacted(c.partition, 0, 0, None) for c in compactions)
    counts: dict[str, list[int]] = {}
    for action in commit_actions(lake, dataset, version) or []:
        for kind, slot in (("remove", 0), ("add", 1)):
            if kind in action:
                folder = storage_path(action[kind]["path"]).rsplit("/", 1)[0]
                counts.setdefault(folder, [0, 0])[slot] += 1
    found = [counts.get(c.partition, [0, 0]) for c in compactions]
    return tuple(
        Compacted(c.partition, removed, added, version)
        for c, (removed, added) in zip(compactions, found, strict=True)
    )
