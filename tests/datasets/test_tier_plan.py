"""The tier plan, pure: plain values in, moves out; no lake, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from thermocline.catalog.config import TieringPolicy
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.tier_plan import (
    MIN_BILLED_BYTES,
    Placement,
    TierFile,
    TierTotal,
    plan_tiers,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = TieringPolicy(warm_after_days=30, cold_after_days=180)
BIG = 8 << 20


def aged(
    days: float,
    path: str = "day=x/a.parquet",
    *,
    size: int = BIG,
    in_latest: bool = True,
    pinned_by: tuple[str, ...] = (),
) -> TierFile:
    """A data file whose partition is ``days`` old at NOW."""
    return TierFile(path, size, NOW - timedelta(days=days), in_latest, pinned_by)


def targets(*files: TierFile, policy: TieringPolicy = POLICY) -> dict[str, str]:
    """Path -> planned tier of every file that moves."""
    return {m.path: m.target for m in plan_tiers(files, policy, NOW).moves}


def test_a_file_younger_than_warm_after_days_stays_hot() -> None:
    plan = plan_tiers([aged(29.9), aged(0, "b"), aged(-3, "future")], POLICY, NOW)
    assert plan.moves == ()
    assert plan.held == ()
    assert plan.after["hot"] == TierTotal(3, 3 * BIG) == plan.before["hot"]


def test_age_decides_warm_then_cold_at_the_policy_days() -> None:
    files = [aged(30, "w"), aged(179, "w2"), aged(180, "c"), aged(2000, "c2")]
    assert targets(*files) == {"w": "warm", "w2": "warm", "c": "cold", "c2": "cold"}
    without_cold = TieringPolicy(warm_after_days=30, cold_after_days=None)
    assert targets(*files, policy=without_cold) == dict.fromkeys(("w", "w2", "c", "c2"), "warm")


def test_a_file_pinned_by_a_tag_is_never_archived_while_the_latest_version_reads_it() -> None:
    """A tag on an old version pins its files; while the latest version still references them
    they follow their age, never archive."""
    pinned = [
        aged(5, "young", pinned_by=("tag golden",)),
        aged(40, "warm", pinned_by=("tag golden", "release r1")),
        aged(400, "cold", pinned_by=("tag golden",)),
    ]
    assert targets(*pinned) == {"warm": "warm", "cold": "cold"}


def test_only_a_tag_or_release_keeps_a_file_the_latest_version_dropped_and_it_is_archived() -> None:
    kept = aged(365, "tagged", in_latest=False, pinned_by=("tag golden",))
    released = aged(900, "released", in_latest=False, pinned_by=("release r1",))
    plan = plan_tiers([kept, released], POLICY, NOW)
    assert {(m.path, m.source, m.target) for m in plan.moves} == {
        ("tagged", "hot", "archive"),
        ("released", "hot", "archive"),
    }
    assert "tag golden" in plan.moves[0].reason


def test_a_pinned_only_file_younger_than_archive_after_days_follows_its_age() -> None:
    """A compaction or an update that drops a file from the latest version today does not send
    a recently tagged version to a class that takes hours to restore."""
    files = [
        aged(1, "young", in_latest=False, pinned_by=("tag t",)),
        aged(40, "warm", in_latest=False, pinned_by=("tag t",)),
        aged(364, "cold", in_latest=False, pinned_by=("tag t",)),
        aged(365, "archive", in_latest=False, pinned_by=("tag t",)),
    ]
    assert targets(*files) == {"warm": "warm", "cold": "cold", "archive": "archive"}
    never = TieringPolicy(warm_after_days=30, cold_after_days=180, archive_after_days=None)
    assert targets(*files, policy=never) == {"warm": "warm", "cold": "cold", "archive": "cold"}


def test_a_file_neither_the_latest_version_nor_a_pin_references_is_left_to_vacuum() -> None:
    """Once the tag is gone the file is no tier's: it is not archived, it is held for vacuum."""
    orphan = aged(400, "orphan", in_latest=False, pinned_by=())
    plan = plan_tiers([orphan], POLICY, NOW)
    assert plan.moves == ()
    [hold] = plan.held
    assert (hold.path, hold.tier, hold.wanted) == ("orphan", "hot", None)
    assert "vacuum" in hold.reason


def test_an_object_under_128_kb_never_leaves_hot() -> None:
    small = [
        aged(40, "warm", size=MIN_BILLED_BYTES - 1),
        aged(400, "cold", size=1000),
        aged(400, "archive", size=1000, in_latest=False, pinned_by=("tag t",)),
    ]
    plan = plan_tiers([*small, aged(40, "exactly", size=MIN_BILLED_BYTES)], POLICY, NOW)
    assert {m.path for m in plan.moves} == {"exactly"}
    assert {(h.path, h.wanted) for h in plan.held} == {
        ("warm", "warm"),
        ("cold", "cold"),
        ("archive", "archive"),
    }
    assert all("128 KB" in h.reason for h in plan.held)
    assert plan.after["hot"] == TierTotal(3, MIN_BILLED_BYTES - 1 + 2000)


def test_a_file_leaves_warm_only_after_30_days_and_cold_after_90() -> None:
    in_ia = [
        aged(200, "ia-29", size=BIG),
        aged(200, "ia-30", size=BIG),
    ]
    current = {
        "ia-29": Placement("warm", NOW - timedelta(days=29)),
        "ia-30": Placement("warm", NOW - timedelta(days=30)),
        "cold-89": Placement("cold", NOW - timedelta(days=89)),
        "cold-90": Placement("cold", NOW - timedelta(days=90)),
    }
    # Leaving cold only happens when the file left the latest version (cold -> archive).
    leaving_cold = [
        aged(400, "cold-89", in_latest=False, pinned_by=("tag t",)),
        aged(400, "cold-90", in_latest=False, pinned_by=("tag t",)),
    ]
    plan = plan_tiers([*in_ia, *leaving_cold], POLICY, NOW, current)
    assert {(m.path, m.source, m.target) for m in plan.moves} == {
        ("ia-30", "warm", "cold"),
        ("cold-90", "cold", "archive"),
    }
    assert {(h.path, h.tier, h.wanted) for h in plan.held} == {
        ("ia-29", "warm", "cold"),
        ("cold-89", "cold", "archive"),
    }
    assert all("early-deletion" in h.reason for h in plan.held)


def test_a_move_out_of_a_class_with_a_minimum_since_an_unknown_time_is_not_planned() -> None:
    plan = plan_tiers([aged(400, "a")], POLICY, NOW, {"a": Placement("warm", None)})
    assert plan.moves == ()
    assert "unknown" in plan.held[0].reason


def test_a_file_the_latest_version_reads_again_leaves_archive_whatever_it_costs() -> None:
    """After a restore and rollback the latest version references an archived file again:
    reads need it, so the early-deletion charge does not hold it back."""
    back = aged(40, "back")
    plan = plan_tiers([back], POLICY, NOW, {"back": Placement("archive", NOW - timedelta(1))})
    assert [(m.source, m.target) for m in plan.moves] == [("archive", "warm")]


def test_files_already_in_their_tier_are_not_moved_and_totals_add_up() -> None:
    files = [aged(40, "w"), aged(400, "c"), aged(1, "h", size=100)]
    since = NOW - timedelta(days=100)
    current = {"w": Placement("warm", since), "c": Placement("cold", since)}
    plan = plan_tiers(files, POLICY, NOW, current)
    assert plan.moves == ()
    assert plan.before == plan.after
    assert plan.after["warm"] == TierTotal(1, BIG)
    assert plan.after["archive"] == TierTotal(0, 0)
    assert plan.moved_bytes == 0


def test_totals_before_and_after_follow_the_moves() -> None:
    plan = plan_tiers([aged(40, "w"), aged(400, "c"), aged(1, "h")], POLICY, NOW)
    assert plan.before["hot"] == TierTotal(3, 3 * BIG)
    assert (plan.after["hot"], plan.after["warm"], plan.after["cold"]) == (
        TierTotal(1, BIG),
        TierTotal(1, BIG),
        TierTotal(1, BIG),
    )
    assert plan.moved_bytes == 2 * BIG
    assert [m.reason for m in plan.moves] == [
        "partition 40 days ago (warm after 30)",
        "partition 400 days ago (cold after 180)",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "_delta_log/00000000000000000000.json",
        "_delta_log/_last_checkpoint",
        "day=1/_delta_log/x.parquet",
        "_catalog/tags/part-0.parquet",
        "../_catalog/events/part-0.parquet",
        "/abs/a.parquet",
        "s3://bucket/a.parquet",
        "",
    ],
)
def test_the_log_and_the_catalog_are_never_planned(path: str) -> None:
    with pytest.raises(InputError, match="table root"):
        plan_tiers([aged(1000, path)], POLICY, NOW)


def test_a_file_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match="twice"):
        plan_tiers([aged(1, "a"), aged(2, "a")], POLICY, NOW)


def test_hot_files_of_one_partition_leaving_together_form_a_compaction() -> None:
    """Small files of an old partition are compacted and then moved: their sizes count together
    against the 128 KB minimum, and pinned-only or young files are never part of one."""
    small = MIN_BILLED_BYTES // 2
    files = [
        aged(40, "day=a/1.parquet", size=small),
        aged(40, "day=a/2.parquet", size=small),
        aged(400, "day=b/1.parquet"),
        aged(400, "day=b/2.parquet"),
        aged(400, "day=b/3.parquet", in_latest=False, pinned_by=("tag t",)),
        aged(1, "day=c/1.parquet"),
        aged(1, "day=c/2.parquet"),
        aged(40, "day=d/lonely.parquet", size=small),
    ]
    plan = plan_tiers(files, POLICY, NOW)
    assert [(c.partition, c.target, c.paths) for c in plan.compactions] == [
        ("day=a", "warm", ("day=a/1.parquet", "day=a/2.parquet")),
        ("day=b", "cold", ("day=b/1.parquet", "day=b/2.parquet")),
    ]
    assert plan.compactions[0].size_bytes == 2 * small
    assert {m.path for m in plan.moves} == {
        "day=a/1.parquet",
        "day=a/2.parquet",
        "day=b/1.parquet",
        "day=b/2.parquet",
        "day=b/3.parquet",
    }
    assert [h.path for h in plan.held] == ["day=d/lonely.parquet"]


def test_files_aged_by_their_add_time_or_already_out_of_hot_are_never_compacted() -> None:
    """A compacted file's add time is new: compacting an unpartitioned table would make old
    data look young. Files already warm were compacted when they left hot."""
    since = NOW - timedelta(days=100)
    added = [
        TierFile(f"day=z/{i}.parquet", BIG, NOW - timedelta(days=40), age_from="added")
        for i in range(2)
    ]
    warm = [aged(400, f"day=w/{i}.parquet") for i in range(2)]
    current = {f.path: Placement("warm", since) for f in warm}
    plan = plan_tiers([*added, *warm], POLICY, NOW, current)
    assert plan.compactions == ()
    assert len(plan.moves) == 4
