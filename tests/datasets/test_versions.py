"""Rollback, vacuum, diff and describe, on both lakes (release rollback: test_releases.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import (
    InvalidTimestampError,
    MissingFilesError,
    TagNotFoundError,
    VersionNotFoundError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.inspection import describe, diff
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import history, open_table, read_dataset, resolve_version
from thermocline.datasets.tables.writes import write


def ids(lake: Lake, dataset: str, at: int | str | None = None) -> list[int]:
    return sorted(
        read_dataset(Catalog(lake), dataset, at=at).to_table(columns=["id"])["id"].to_pylist()
    )


def append_batches(lake: Lake, dataset: str, count: int, size: int = 10, start: int = 0) -> None:
    for batch in range(start, start + count):
        ids_ = pa.array(range(batch * size, (batch + 1) * size), pa.int64())
        write(Catalog(lake), dataset, pa.table({"id": ids_, "part": pa.array([batch % 2] * size)}))


def test_rollback_restores_and_is_itself_reversible(lake: Lake) -> None:
    append_batches(lake, "d", 4)
    assert ids(lake, "d") == list(range(40))

    dry = rollback(Catalog(lake), "d", 1, dry_run=True)
    assert (dry.from_version, dry.target_version, dry.new_version) == (3, 1, None)
    assert dry.files_removed == 2
    assert open_table(lake, "d").version() == 3, "a dry run changes nothing"

    first = rollback(Catalog(lake), "d", 1, reason="bad batches 2 and 3")
    assert first.new_version == 4
    assert ids(lake, "d") == list(range(20))
    undo = rollback(Catalog(lake), "d", 3, reason="they were fine")
    assert undo.new_version == 5
    assert ids(lake, "d") == list(range(40))

    newest = history(lake, "d")[:2]
    assert [c.operation for c in newest] == ["RESTORE", "RESTORE"]
    assert [c.reason for c in newest] == ["they were fine", "bad batches 2 and 3"]
    events = Catalog(lake).events("d", kinds=["rollback"])
    assert [(e.details["from"], e.details["to"], e.version) for e in events] == [
        (3, 1, 4),
        (4, 3, 5),
    ]


def test_versions_resolve_from_numbers_tags_and_times(lake: Lake) -> None:
    append_batches(lake, "d", 2)
    between = datetime.now(tz=UTC)
    # Commit times have millisecond resolution: version 2 must land in a later millisecond.
    wait_until(
        lambda: datetime.now(tz=UTC) >= between + timedelta(milliseconds=1),
        1,
        "the clock to pass the time between versions 1 and 2",
        every=0.001,
    )
    append_batches(lake, "d", 1, start=2)
    Catalog(lake).set_tag("golden", "d", 1)
    assert resolve_version(Catalog(lake), "d", "golden") == 1
    assert resolve_version(Catalog(lake), "d", "1") == 1
    assert resolve_version(Catalog(lake), "d", between.isoformat()) == 1
    assert resolve_version(Catalog(lake), "d", None) == 2
    assert ids(lake, "d", at="golden") == list(range(20))

    with pytest.raises(VersionNotFoundError, match=r"d has no version 7; its versions are 0\.\.2"):
        resolve_version(Catalog(lake), "d", 7)
    with pytest.raises(InvalidTimestampError, match="malformed timestamp '2026-13-45'"):
        resolve_version(Catalog(lake), "d", "2026-13-45")
    with pytest.raises(VersionNotFoundError, match="did not exist yet"):
        resolve_version(Catalog(lake), "d", "2001-01-01")
    with pytest.raises(VersionNotFoundError, match=r"2099-01-01T00:00:00\+00:00 is in the future"):
        resolve_version(Catalog(lake), "d", "2099-01-01")
    with pytest.raises(TagNotFoundError, match="unknown tag 'silver' of d; tags of d: golden"):
        resolve_version(Catalog(lake), "d", "silver")
    append_batches(lake, "other", 1)
    with pytest.raises(
        TagNotFoundError,
        match=r"unknown tag 'golden' of other; tags of other: none yet \(golden is a tag of d\)",
    ):
        resolve_version(Catalog(lake), "other", "golden")


def test_vacuum_keeps_tagged_versions_readable(lake: Lake) -> None:
    """Tag version 3, write 10 more versions, vacuum with zero retention: the tag still reads."""
    write(Catalog(lake), "d", pa.table({"id": pa.array([0], pa.int64())}))
    for version in range(1, 4):
        write(
            Catalog(lake), "d", pa.table({"id": pa.array([version], pa.int64())}), mode="overwrite"
        )
    Catalog(lake).set_tag("v3", "d", 3)
    for version in range(4, 14):
        write(
            Catalog(lake), "d", pa.table({"id": pa.array([version], pa.int64())}), mode="overwrite"
        )

    result = vacuum(Catalog(lake), "d", retention_hours=0, reason="free space")
    assert result.kept_versions == [3]
    assert len(result.removed) == 12, "every overwritten file but version 3's"
    assert ids(lake, "d", at="v3") == [3]
    assert ids(lake, "d") == [13]
    with pytest.raises(MissingFilesError) as gone:
        read_dataset(Catalog(lake), "d", at=2)
    version2_file = pa.table(open_table(lake, "d", 2).get_add_actions())["path"][0].as_py()
    assert str(gone.value).startswith("cannot read d version 2: 1 of its 1 file(s) are gone")
    assert version2_file in str(gone.value)
    assert "\n" not in str(gone.value), "one line"

    vacuum_end = history(lake, "d")[0]
    assert (vacuum_end.operation, vacuum_end.files_removed) == ("VACUUM END", 12)
    (ledger,) = Catalog(lake).events("d", kinds=["vacuum"])
    assert ledger.details["files"] == result.removed
    assert ledger.reason == "free space"
    assert ledger.version == vacuum_end.version


def test_vacuum_removes_staged_files_a_crash_left_behind(lake: Lake) -> None:
    write(Catalog(lake), "d", pa.table({"id": pa.array([0], pa.int64())}))
    orphan = stage(lake, "d", pa.table({"id": pa.array([1], pa.int64())}))
    assert vacuum(Catalog(lake), "d", dry_run=True).removed == [], "young staged files are kept"
    assert vacuum(Catalog(lake), "d", retention_hours=0).removed == [orphan.files[0].path]
    assert ids(lake, "d") == [0]


def test_rollback_to_vacuumed_files_fails_listing_them_and_changes_nothing(lake: Lake) -> None:
    write(Catalog(lake), "d", pa.table({"id": pa.array([0], pa.int64())}))
    write(Catalog(lake), "d", pa.table({"id": pa.array([1], pa.int64())}), mode="overwrite")
    assert len(vacuum(Catalog(lake), "d", retention_hours=0).removed) == 1
    assert vacuum(Catalog(lake), "d", retention_hours=0, dry_run=True).removed == []
    version_before = open_table(lake, "d").version()

    with pytest.raises(MissingFilesError) as caught:
        rollback(Catalog(lake), "d", 0)
    message = str(caught.value)
    version0_file = pa.table(open_table(lake, "d", 0).get_add_actions())["path"][0].as_py()
    assert "cannot roll d back to version 0: 1 of its files are gone" in message
    assert version0_file in message
    assert "nothing was changed" in message
    assert open_table(lake, "d").version() == version_before
    assert ids(lake, "d") == [1]
    assert Catalog(lake).events("d", kinds=["rollback"]) == []


def test_diff_and_describe(lake: Lake) -> None:
    append_batches(lake, "d", 3)
    change = diff(Catalog(lake), "d", 0, 2, sample_rows=3)
    assert (change.rows_added, change.rows_removed) == (20, 0)
    assert (change.files_from, change.files_to) == (1, 3)
    assert [p.partition for p in change.partitions] == ["(table)"]
    assert len(change.rows_added_sample) == 3
    assert {r["id"] for r in change.rows_added_sample} <= set(range(10, 30))
    back = diff(Catalog(lake), "d", 2, 0)
    assert (back.rows_added, back.rows_removed) == (0, 20)

    Catalog(lake).set_tag("t", "d", 2)
    info = describe(Catalog(lake), "d")
    assert (info.version, info.files, info.rows) == (2, 3, 30)
    assert info.schema == [("id", "int64"), ("part", "int64")]
    assert [t.name for t in info.tags] == ["t"]
    assert info.size_bytes > 0
