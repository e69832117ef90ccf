"""What a derived dataset's run must recompute: nothing, everything, or some partitions.

Pure functions over plain values (the versions a derived table recorded, its inputs' latest
versions, the file lists of two snapshots of an input), so the rule is tested without a lake.

The rule: everything when the query or function changed; nothing when every input is at the
version the derived table recorded; some partitions when the query is partition-wise (the
derived table is partitioned and ``partition_wise`` promises each partition depends only on
the same partition of its inputs), every input it read before is recorded, and
each input that moved is partitioned by the derived table's first partition column: then the
partitions to recompute are those whose files changed between the recorded and the latest
snapshot of each moved input (a pure diff of two file lists, no log replay, so it holds
after log cleanup of the versions in between). Otherwise everything. An unchanged input that
lacks the partition column is read whole (a dimension table joined to a partitioned fact).

>>> changed_partitions([("d=1/a", "1"), ("d=2/b", "2")], [("d=1/a", "1"), ("d=2/c", "2")])
frozenset({'2'})
>>> plan = plan_recompute("day", {"trips": InputState(3, 4, True, frozenset({"2026-11-02"}))})
>>> sorted(plan.partitions), plan.reason
(['2026-11-02'], 'recompute day=2026-11-02 (trips changed since version 3)')
>>> plan_recompute("day", {"trips": InputState(4, 4, True, frozenset())}) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["InputState", "Recompute", "changed_partitions", "plan_recompute"]

_SHOWN = 5


@dataclass(frozen=True)
class InputState:
    """One input of a derived run: the version the derived table recorded (None: never read),
    its latest version, whether it is partitioned by the derived table's first partition
    column, and the partition values whose files changed between the two (None: unknown, e.g.
    the recorded version's log is gone; only read when it moved)."""

    recorded: int | None
    latest: int
    partitioned: bool
    changed: frozenset[str | None] | None = None

    @property
    def moved(self) -> bool:
        return self.recorded != self.latest


@dataclass(frozen=True)
class Recompute:
    """What to recompute: ``partitions`` (Delta string values of the first partition column)
    or everything when None; ``reason`` says why, for the commit's description."""

    partitions: frozenset[str | None] | None
    reason: str


def changed_partitions(
    before: Iterable[tuple[str, str | None]], after: Iterable[tuple[str, str | None]]
) -> frozenset[str | None]:
    """Partition values whose files differ between two snapshots, each a list of (file path,
    partition value): a file added or removed marks its partition changed. A compaction marks
    its partitions too (recomputing them gives the same rows, so that is safe)."""
    old, new = dict(before), dict(after)
    gone = {value for path, value in old.items() if path not in new}
    came = {value for path, value in new.items() if path not in old}
    return frozenset(gone | came)


def plan_recompute(
    partition_column: str | None,
    inputs: Mapping[str, InputState],
    *,
    table_exists: bool = True,
    definition_changed: bool = False,
) -> Recompute | None:
    """What a run must recompute (None: nothing, every input is at its recorded version and
    the query or function is the one recorded). ``partition_column`` is None unless the query
    is partition-wise."""
    moved = {name: state for name, state in inputs.items() if state.moved}
    if not table_exists:
        return Recompute(None, "first computation")
    if definition_changed:
        return Recompute(None, "full recompute: the query or function changed since the last run")
    if not moved:
        return None
    never = sorted(n for n, s in inputs.items() if s.recorded is None)
    if never:
        return Recompute(None, f"full recompute: never read {', '.join(never)} before")
    if partition_column is None:
        return Recompute(None, f"full recompute: {_versions(moved)}")
    unpartitioned = sorted(n for n, s in moved.items() if not s.partitioned)
    if unpartitioned:
        return Recompute(
            None,
            f"full recompute: {', '.join(unpartitioned)} changed and is not partitioned by "
            f"{partition_column} ({_versions(moved)})",
        )
    unknown = sorted(n for n, s in moved.items() if s.changed is None)
    if unknown:
        return Recompute(
            None,
            f"full recompute: the log of {', '.join(unknown)} between the recorded and the "
            f"latest version is gone, so its changed partitions are unknown ({_versions(moved)})",
        )
    partitions = frozenset().union(*(s.changed or frozenset() for s in moved.values()))
    if None in partitions:  # an overwrite can name no null partition
        return Recompute(None, f"full recompute: the null partition of {partition_column} changed")
    shown = sorted(partitions, key=str)
    values = ", ".join(f"{partition_column}={v}" for v in shown[:_SHOWN])
    more = f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    since = ", ".join(f"{n} changed since version {s.recorded}" for n, s in sorted(moved.items()))
    what = f"{values}{more}" if shown else "no partition (no data file changed)"
    return Recompute(partitions, f"recompute {what} ({since})")


def _versions(moved: Mapping[str, InputState]) -> str:
    return ", ".join(f"{n} {s.recorded} -> {s.latest}" for n, s in sorted(moved.items()))
