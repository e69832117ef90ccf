"""Which tier each data file of a table belongs in, and the moves that get it there (pure).

Tiering goes by the Delta log, not by access time (DESIGN.md, Decision 6): a file's age is its
partition's date (else the time its add action was written), and whether the latest version
still references it, or only a tag or release does, decides the rest:

- ``hot`` (S3 ``STANDARD``): younger than ``warm_after_days``;
- ``warm`` (``STANDARD_IA``; a later step also compacts and recompresses it): older;
- ``cold`` (``GLACIER_IR`` on AWS, the ``GLACIER`` class on the dev RGW): older than
  ``cold_after_days`` when the policy sets it;
- ``archive`` (deep archive: minutes to hours to restore): only files that the latest version
  no longer references but a tag or release still does, once older than
  ``archive_after_days`` (younger ones follow their age like any other file). A file that
  neither the latest version nor a pin references is vacuum's business, not tiering's: it
  stays where it is.

Moves that would cost more than they save are not planned, and say why: an object under 128 KB
never leaves hot (IA and Glacier bill 128 KB per object, archive classes add 40 KB of overhead),
and a file that moved to warm less than 30 days ago, or to cold or archive less than 90 or 180
days ago, stays (the early-deletion charge). Leaving archive for a file the latest version
references again is always planned: reads need it. ``_delta_log/`` and the catalog never leave
hot: a path under them is refused as input.

The plan is a function of plain values only (no storage, no clock): :mod:`.tier_facts` builds
the :class:`TierFile` list from the log and the catalog's pins.

>>> from datetime import datetime, UTC
>>> from thermocline.catalog.config import TieringPolicy
>>> now = datetime(2026, 12, 1, tzinfo=UTC)
>>> files = [
...     TierFile("day=2026-11-30/a.parquet", 4 << 20, datetime(2026, 11, 30, tzinfo=UTC)),
...     TierFile("day=2026-09-01/b.parquet", 4 << 20, datetime(2026, 9, 1, tzinfo=UTC)),
...     TierFile("day=2026-01-01/c.parquet", 4 << 20, datetime(2026, 1, 1, tzinfo=UTC)),
...     TierFile("old.parquet", 4 << 20, datetime(2025, 6, 1, tzinfo=UTC), in_latest=False,
...              pinned_by=("tag golden",)),
... ]
>>> plan = plan_tiers(files, TieringPolicy(warm_after_days=30, cold_after_days=180), now)
>>> [(m.path, m.source, m.target) for m in plan.moves]
[('day=2026-09-01/b.parquet', 'hot', 'warm'), ('day=2026-01-01/c.parquet', 'hot', 'cold'), \
('old.parquet', 'hot', 'archive')]
>>> plan.after["hot"].files, plan.after["cold"].bytes == 4 << 20
(1, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import unquote

from thermocline.catalog.config import TIERS, Tier, TieringPolicy
from thermocline.catalog.errors import InputError
from thermocline.catalog.store import CATALOG_DIR

__all__ = [
    "MIN_BILLED_BYTES",
    "MIN_DAYS",
    "Compaction",
    "Hold",
    "Move",
    "Placement",
    "TierFile",
    "TierPlan",
    "TierTotal",
    "count_targets",
    "folder_values",
    "plan_tiers",
]

MIN_BILLED_BYTES = 128 * 1024
"""IA and Glacier classes bill a smaller object as 128 KB: moving it saves nothing."""
MIN_DAYS: Mapping[Tier, int] = {"hot": 0, "warm": 30, "cold": 90, "archive": 180}
"""Days an object stays billed in a class after it moved there (the early-deletion charge)."""
_READABLE: frozenset[Tier] = frozenset({"hot", "warm", "cold"})


@dataclass(frozen=True)
class TierFile:
    """One data file of a table, as the log and the catalog's pins describe it.

    ``path`` is relative to the table root (as in the add action); ``age_basis`` is the
    partition's date, else the file's add time (``age_from`` says which); ``in_latest``: the
    latest version references it; ``pinned_by``: the tags and releases (e.g. ``tag golden``,
    ``release r1``) whose version references it.
    """

    path: str
    size_bytes: int
    age_basis: datetime
    in_latest: bool = True
    pinned_by: tuple[str, ...] = ()
    age_from: Literal["partition", "added"] = "partition"


@dataclass(frozen=True)
class Placement:
    """Where a file is now and since when (from the tier inventory; None: unknown)."""

    tier: Tier
    since: datetime | None = None


@dataclass(frozen=True)
class Move:
    """A planned move of one file: ``source`` -> ``target`` tier, and why."""

    path: str
    source: Tier
    target: Tier
    size_bytes: int
    reason: str


@dataclass(frozen=True)
class Hold:
    """A file left where it is although the policy wants it elsewhere (``wanted``), or wants
    no tier for it (None: neither the latest version nor a pin references it), and why."""

    path: str
    tier: Tier
    wanted: Tier | None
    size_bytes: int
    reason: str


@dataclass(frozen=True)
class Compaction:
    """Files of one partition (``partition``: their folder under the table root) that leave hot
    together: ``tier apply`` first compacts them into ``target_file_mb`` files recompressed at
    the policy's zstd level (a ``data_change=False`` commit), then moves the new files to
    ``target``. Only date-partitioned files are compacted: a compacted file's add time is new,
    so in an unpartitioned table compaction would make old data look young."""

    partition: str
    target: Tier
    paths: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True)
class TierTotal:
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class TierPlan:
    """The moves, the compactions before them, the files held back, and files and bytes per
    tier before and after."""

    now: datetime
    moves: tuple[Move, ...]
    held: tuple[Hold, ...]
    before: Mapping[Tier, TierTotal] = field(default_factory=dict)
    after: Mapping[Tier, TierTotal] = field(default_factory=dict)
    compactions: tuple[Compaction, ...] = ()

    @property
    def moved_bytes(self) -> int:
        return sum(m.size_bytes for m in self.moves)

    def moves_by_target(self) -> dict[Tier, int]:
        """How many files each tier receives, in tier order."""
        return count_targets(self.moves)


def count_targets(moves: Iterable[Move]) -> dict[Tier, int]:
    """How many of ``moves`` go to each tier, in tier order (tiers receiving none left out)."""
    counts = {tier: 0 for tier in TIERS}
    for move in moves:
        counts[move.target] += 1
    return {tier: n for tier, n in counts.items() if n}


def plan_tiers(
    files: Iterable[TierFile],
    policy: TieringPolicy,
    now: datetime,
    current: Mapping[str, Placement] | None = None,
) -> TierPlan:
    """The tier moves ``policy`` asks for at ``now``; ``current`` is where files are (the
    inventory; a file it does not name is hot). Raises :class:`InputError` for a path under
    ``_delta_log/`` or the catalog, or given twice.

    Hot files of one partition that leave hot for the same tier form a :class:`Compaction`
    when there are two or more: their sizes count together against the 128 KB minimum, since
    the compacted file is what moves.
    """
    placed = current or {}
    seen: set[str] = set()
    listed = list(files)
    wants: list[tuple[TierFile, Placement, Tier | None, str]] = []
    groups: dict[tuple[str, Tier], list[TierFile]] = {}
    for file in listed:
        _check_path(file.path, seen)
        where = placed.get(file.path, Placement("hot"))
        wanted, why = _wanted(file, policy, now)
        wants.append((file, where, wanted, why))
        if _compactable(file, where, wanted):
            groups.setdefault((_folder(file.path), wanted), []).append(file)  # type: ignore[arg-type]
    grouped = {
        file.path: sum(f.size_bytes for f in members)
        for members in groups.values()
        if len(members) > 1
        for file in members
    }
    moves: list[Move] = []
    held: list[Hold] = []
    before = {tier: [0, 0] for tier in TIERS}
    after = {tier: [0, 0] for tier in TIERS}
    for file, where, wanted, why in wants:
        tier: Tier = where.tier
        if wanted is None:
            held.append(Hold(file.path, where.tier, None, file.size_bytes, why))
        elif wanted != where.tier:
            blocked = _blocked(file, where, wanted, now, grouped.get(file.path, file.size_bytes))
            if blocked is None:
                moves.append(Move(file.path, where.tier, wanted, file.size_bytes, why))
                tier = wanted
            else:
                held.append(Hold(file.path, where.tier, wanted, file.size_bytes, blocked))
        for totals, at in ((before, where.tier), (after, tier)):
            totals[at][0] += 1
            totals[at][1] += file.size_bytes
    moving = {m.path for m in moves}
    compactions = tuple(
        Compaction(
            folder,
            target,
            tuple(f.path for f in members),
            sum(f.size_bytes for f in members),
        )
        for (folder, target), members in sorted(groups.items())
        if len(members) > 1 and all(f.path in moving for f in members)
    )
    return TierPlan(
        now,
        tuple(moves),
        tuple(held),
        {t: TierTotal(*before[t]) for t in TIERS},
        {t: TierTotal(*after[t]) for t in TIERS},
        compactions,
    )


def folder_values(folder: str) -> list[tuple[str, str]]:
    """The partition (column, value) pairs a Hive-style folder names, as stored:
    ``day=2026-01-01/zone=a%20b`` -> [("day", "2026-01-01"), ("zone", "a b")].

    >>> folder_values("day=2026-01-01/zone=a%20b")
    [('day', '2026-01-01'), ('zone', 'a b')]
    """
    pairs = []
    for part in folder.split("/"):
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _compactable(file: TierFile, where: Placement, wanted: Tier | None) -> bool:
    """A hot file of the latest version in a dated partition that leaves for warm or cold."""
    return (
        file.in_latest
        and file.age_from == "partition"
        and where.tier == "hot"
        and wanted in ("warm", "cold")
        and "/" in file.path
    )


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _check_path(path: str, seen: set[str]) -> None:
    parts = path.split("/")
    if "_delta_log" in parts or parts[0] == CATALOG_DIR or ".." in parts or ":" in parts[0]:
        raise InputError(
            f"{path!r} is not a data file of the table: the log (_delta_log/) and the "
            f"catalog ({CATALOG_DIR}/) always stay hot, and paths are relative to the table root"
        )
    if path.startswith("/") or not path:
        raise InputError(f"{path!r}: give data file paths relative to the table root")
    if path in seen:
        raise InputError(f"{path!r} is given twice: one TierFile per data file")
    seen.add(path)


def _wanted(file: TierFile, policy: TieringPolicy, now: datetime) -> tuple[Tier | None, str]:
    """The tier the policy asks for, and why (None: no tier, the file is vacuum's business)."""
    age = now - file.age_basis
    days = age.days
    basis = "partition" if file.age_from == "partition" else "added"
    if not file.in_latest:
        if not file.pinned_by:
            return None, "no longer in the latest version and pinned by no tag or release: vacuum's"
        pins = ", ".join(file.pinned_by)
        if policy.archive_after_days is not None and age >= timedelta(
            days=policy.archive_after_days
        ):
            return "archive", (
                f"only {pins} still reads it, {basis} {days} days ago "
                f"(archive after {policy.archive_after_days})"
            )
    if policy.cold_after_days is not None and age >= timedelta(days=policy.cold_after_days):
        return "cold", f"{basis} {days} days ago (cold after {policy.cold_after_days})"
    if age >= timedelta(days=policy.warm_after_days):
        return "warm", f"{basis} {days} days ago (warm after {policy.warm_after_days})"
    return "hot", f"{basis} {days} days ago (hot until {policy.warm_after_days})"


def _blocked(
    file: TierFile, where: Placement, wanted: Tier, now: datetime, moving_bytes: int
) -> str | None:
    """Why the move ``where`` -> ``wanted`` would cost more than it saves (None: it does not);
    ``moving_bytes`` is what moves: the file, or the compaction it is part of."""
    if where.tier == "archive" and wanted in _READABLE and file.in_latest:
        return None  # the latest version reads it: it must come back whatever it costs
    if wanted != "hot" and moving_bytes < MIN_BILLED_BYTES:
        return (
            f"{moving_bytes} bytes, under the {MIN_BILLED_BYTES // 1024} KB every colder "
            "class bills per object: moving it saves nothing"
        )
    minimum = MIN_DAYS[where.tier]
    if minimum:
        if where.since is None:
            return f"in {where.tier} since an unknown time: it may be inside its {minimum} days"
        stayed = now - where.since
        if stayed < timedelta(days=minimum):
            return (
                f"in {where.tier} for {stayed.days} days: leaving before {minimum} days pays "
                "the early-deletion charge"
            )
    return None
