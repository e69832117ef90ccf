"""Version-at-time lookups by bisection: the pure search over timestamps, and the same answer as a
scan of every commit on a real table with thousands of versions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from long_log import build_long_log, commit_times

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import VersionNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.version_index import (
    oldest_commit,
    version_at,
    version_at_time,
)
from thermocline.datasets.tables.versions import resolve_version


def scan(timestamps: list[int], moment: int, first: int = 0) -> int | None:
    """The old answer: newest first, the first version at or before the moment."""
    return next(
        (v for v in range(len(timestamps) - 1, first - 1, -1) if timestamps[v] <= moment), None
    )


def lookup(timestamps: list[int], moment: int, first: int = 0, skew: int = 0) -> int | None:
    return version_at(
        timestamps.__getitem__, moment, first=first, last=len(timestamps) - 1, skew_ms=skew
    )


def test_in_order_times_give_the_newest_version_at_or_before_the_moment() -> None:
    times = [100, 200, 200, 300, 450]
    for moment in range(50, 500, 5):
        assert lookup(times, moment) == scan(times, moment), moment
    assert lookup(times, 99) is None, "before the first version"
    assert lookup(times, 200) == 2, "ties: the newest of the versions at that time"
    assert lookup(times, 10**9) == 4, "after the last: the latest"
    assert lookup(times, 250, first=3) is None, "nothing readable before `first`"
    assert lookup([], 5) is None


def test_out_of_order_times_within_the_skew_give_the_scans_answer() -> None:
    rng = random.Random(18)
    for _ in range(300):
        skew = rng.randrange(0, 50)
        times, clock = [], 0
        for _ in range(rng.randrange(1, 120)):
            clock += rng.randrange(0, 30)
            times.append(clock - rng.randrange(0, skew + 1))  # a writer up to `skew` behind
        for moment in rng.sample(range(-10, clock + 60), 20):
            assert lookup(times, moment, skew=skew) == scan(times, moment), (times, moment, skew)


def test_reads_grow_with_the_log_of_the_history() -> None:
    times = list(range(0, 100_000 * 7, 7))
    probed: list[int] = []

    def timestamp(version: int) -> int:
        probed.append(version)
        return times[version]

    found = version_at(timestamp, 350_001, first=0, last=len(times) - 1, skew_ms=0)
    assert found == 50_000
    assert len(probed) <= 18, len(probed)


def test_a_time_resolves_like_a_scan_on_a_table_with_thousands_of_versions(
    tmp_path: Path,
) -> None:
    lake = Lake.open(tmp_path / "lake")
    build_long_log(Path(lake.table_uri("t")), 2_500)
    times = commit_times(Path(lake.table_uri("t")))
    ordered = [times[v] for v in range(len(times))]
    catalog = Catalog(lake)
    rng = random.Random(7)
    probes = [ordered[0] - 1, ordered[0], ordered[-1], ordered[-1] + 5_000]
    probes += [ordered[v] + d for v in rng.sample(range(len(ordered)), 25) for d in (-1, 0, 1)]
    for index, ms in enumerate(probes):
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        expected = scan(ordered, ms)
        assert version_at_time(lake, "t", moment, latest=len(ordered) - 1) == expected, ms
        if index % 8:
            continue  # the full resolve (catalog reads, errors) on a few of them
        if expected is None:
            with pytest.raises(VersionNotFoundError, match="did not exist yet"):
                resolve_version(catalog, "t", moment.isoformat())
        else:
            assert resolve_version(catalog, "t", moment.isoformat()) == expected


def test_a_time_before_the_oldest_commit_log_retention_kept_names_where_history_starts(
    tmp_path: Path,
) -> None:
    lake = Lake.open(tmp_path / "lake")
    root = Path(lake.table_uri("t"))
    times = build_long_log(root, 250)
    for version in range(0, 150):  # what cleanup_metadata leaves: a checkpoint at 200 and on
        (root / "_delta_log" / f"{version:020d}.json").unlink()
    assert oldest_commit(lake, "t", 249) == 150
    moment = datetime.fromtimestamp(times[120] / 1000, tz=UTC)
    with pytest.raises(VersionNotFoundError, match="readable history starts at version 150"):
        resolve_version(Catalog(lake), "t", moment.isoformat())
    later = datetime.fromtimestamp(times[180] / 1000, tz=UTC) + timedelta(milliseconds=1)
    assert resolve_version(Catalog(lake), "t", later.isoformat()) == 180
