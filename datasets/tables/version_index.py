"""Which version of a table was current at a time, in O(log n) small reads of its Delta log.

A time travel (``rides@2026-11-21T10:00:00Z``) names the newest version committed at or before
the time. Scanning every commit for it costs seconds at 10,000 versions and grows without bound
(issue #18); instead this bisects over the commit files' ``commitInfo`` timestamps: each probe
reads the first line of one ``_delta_log/%020d.json`` (delta-rs writes ``commitInfo`` first), so
a lookup over 100,000 versions reads about 17 commit files plus the few around the answer.

Timestamps. Delta commit times come from each writer's clock, so they are monotonic only
approximately (two writers' clocks may differ; a clock may step back). :func:`version_at` is
exact for any timestamps whose disorder is at most ``skew_ms`` (a commit is never more than
``skew_ms`` older than one before it); :data:`CLOCK_SKEW_MS` (1 s) is what lookups assume, and
costs only the extra reads of commits within that second of the answer. A table with in-commit
timestamps (``inCommitTimestamp``, monotonic by protocol) is read by those.

The bisection is a pure function over a ``timestamp(version)`` callable, unit-tested on lists;
:func:`commit_timestamp` and :func:`oldest_commit` are the IO.

>>> version_at(lambda v: [10, 20, 30][v], 25, first=0, last=2)
1
>>> version_at_time(lake, "rides", datetime(2026, 11, 21, tzinfo=UTC), latest=41)  # doctest: +SKIP
37
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow.fs as pafs

from thermocline.catalog.lake import Lake

__all__ = [
    "CLOCK_SKEW_MS",
    "commit_actions",
    "commit_info",
    "commit_timestamp",
    "latest_commit",
    "oldest_commit",
    "version_at",
    "version_at_time",
]

CLOCK_SKEW_MS = 1_000
"""How far out of order commit timestamps may be (writers' clocks differing) for lookups to stay
exact: the answer is the one a scan of every commit gives whenever the disorder is within it."""

_NEVER = 2**62
_HEAD_BYTES = 64 * 1024  # commitInfo is the first line; a commit's other actions can be large


def version_at(
    timestamp: Callable[[int], int],
    moment: int,
    *,
    first: int,
    last: int,
    skew_ms: int = 0,
) -> int | None:
    """The newest version in ``first..last`` whose ``timestamp(version)`` is ``<= moment``, or
    None when none is: what a scan of every version, newest first, returns.

    Exact when the timestamps are out of order by at most ``skew_ms`` (for versions ``i < j``,
    ``timestamp(i) <= timestamp(j) + skew_ms``). It bisects for the first version later than
    ``moment + skew_ms`` (after which no version can be at or before ``moment``), then walks
    back over the commits between: about ``log2(last - first)`` calls plus those within the
    skew of ``moment``.

    >>> version_at(lambda v: [10, 20, 30][v], 5, first=0, last=2) is None
    True
    >>> version_at(lambda v: [10, 31, 20, 40][v], 25, first=0, last=3, skew_ms=11)
    2
    """
    if last < first:
        return None
    seen: dict[int, int] = {}

    def at(version: int) -> int:
        if version not in seen:
            seen[version] = timestamp(version)
        return seen[version]

    bound = moment + max(skew_ms, 0)
    # Invariant: every version >= hi is later than moment; lo is first - 1 or at most bound.
    lo, hi = first - 1, last + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid) <= bound:
            lo = mid
        else:
            hi = mid
    # Walk back from the last version at most ``bound``: those above ``moment`` in between are
    # the ones within the skew of it (one step when the timestamps are in order).
    for version in range(lo, first - 1, -1):
        if at(version) <= moment:
            return version
    return None


def commit_info(lake: Lake, dataset: str, version: int) -> dict[str, Any] | None:
    """The ``commitInfo`` of ``version``'s commit file, from one read of its first 64 KiB
    (the whole file only when it does not start with it; only the file's modification time
    as ``timestamp`` when it has none); None when the file does not exist (log retention
    removed it, or the version was never written)."""
    fs = lake.table_filesystem(dataset)
    path = f"_delta_log/{version:020d}.json"
    try:
        with fs.open_input_file(path) as handle:
            head = handle.read_at(min(_HEAD_BYTES, handle.size()), 0)
            line = head.split(b"\n", 1)[0]
            if len(line) == len(head) and handle.size() > len(head):
                line = b""  # the first line is longer than the head: read it all below
            first = json.loads(line) if line.strip() else {}
            if "commitInfo" in first:
                info: dict[str, Any] = first["commitInfo"]
                return info
            rest = handle.read_at(handle.size(), 0)
    except FileNotFoundError:
        return None
    for text in rest.splitlines():
        action = json.loads(text) if text.strip() else {}
        if "commitInfo" in action:
            found: dict[str, Any] = action["commitInfo"]
            return found
    # A writer that records no commitInfo: the protocol's time is the file's modification time.
    modified = fs.get_file_info(path).mtime
    return {"timestamp": int(modified.timestamp() * 1000)} if modified is not None else {}


def commit_actions(lake: Lake, dataset: str, version: int) -> list[dict[str, Any]] | None:
    """The actions (``add``, ``remove``, ``commitInfo``, ...) of ``version``'s commit file, read
    as JSON lines in one small read, with no table opened; None when log retention removed it.
    """
    fs = lake.table_filesystem(dataset)
    path = f"_delta_log/{version:020d}.json"
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as stream:
        lines = stream.read().decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def commit_timestamp(lake: Lake, dataset: str, version: int) -> int | None:
    """Milliseconds since the epoch that ``version`` was committed at (its in-commit timestamp
    when the table has them), or None when its commit file is gone."""
    info = commit_info(lake, dataset, version)
    if info is None:
        return None
    return int(info.get("inCommitTimestamp", info.get("timestamp", 0)))


def oldest_commit(lake: Lake, dataset: str, latest: int) -> int:
    """The oldest version whose commit file still exists: 0 unless log retention removed the
    early ones, then a bisection over which files exist (retention removes a prefix)."""
    fs = lake.table_filesystem(dataset)
    if _commit_exists(fs, 0):
        return 0
    return _boundary(lambda v: _commit_exists(fs, v), 0, latest)[1]  # 0 missing, latest not


def _commit_exists(fs: pafs.FileSystem, version: int) -> bool:
    return bool(fs.get_file_info(f"_delta_log/{version:020d}.json").type != pafs.FileType.NotFound)


def _boundary(exists: Callable[[int], bool], lo: int, hi: int) -> tuple[int, int]:
    """Bisect ``lo < hi`` (where ``exists`` differs) down to neighbours that still differ.

    >>> _boundary(lambda v: v >= 6, 0, 10), _boundary(lambda v: v <= 6, 0, 10)
    ((5, 6), (6, 7))
    """
    first = exists(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if exists(mid) == first:
            lo = mid
        else:
            hi = mid
    return lo, hi


def latest_commit(lake: Lake, dataset: str) -> int | None:
    """The latest version of ``dataset`` without opening the table: from the last checkpoint
    (``_delta_log/_last_checkpoint``), probe forward for the newest commit file, doubling the
    step and then bisecting; about ``2 log2(commits since the checkpoint)`` existence checks.

    Opening a table lists its whole ``_delta_log/`` folder on a local lake (about 1.3 µs an
    entry), so callers that need only the number (time travel, a range check) use this. None
    when the table has no ``_last_checkpoint`` yet (the caller opens the table). Commit files
    are contiguous, so the newest one is the latest version; one committed during the probe
    may or may not be counted, as with any read.
    """
    fs = lake.table_filesystem(dataset)
    try:
        with fs.open_input_stream("_delta_log/_last_checkpoint") as stream:
            low = int(json.loads(stream.read())["version"])
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
        return None

    step = 1
    while _commit_exists(fs, low + step):  # galloping: low exists (the checkpoint's version does)
        low, step = low + step, step * 2
    return _boundary(lambda v: _commit_exists(fs, v), low, low + step)[0]  # low + step missing


def version_at_time(
    lake: Lake, dataset: str, moment: datetime, *, latest: int, first: int | None = None
) -> int | None:
    """The newest version of ``dataset`` committed at or before ``moment`` (timezone-aware),
    among ``first`` (default: the oldest commit file left) to ``latest``; None when every one
    of them is later."""
    start = oldest_commit(lake, dataset, latest) if first is None else first
    wanted = int(moment.timestamp() * 1000)

    def timestamp(version: int) -> int:
        found = commit_timestamp(lake, dataset, version)
        # A file removed mid-lookup (log retention running now) is no answer: it reads as later
        # than any moment, so the lookup lands on a version that is still there, or on none.
        return found if found is not None else _NEVER

    return version_at(timestamp, wanted, first=start, last=latest, skew_ms=CLOCK_SKEW_MS)
