"""Restore points (``history.restore_points``): past the log retention, a time reads the newest
restore point at or before it, identically; a rollback to such a time restores it; versions
between points are refused; expired points are forgotten (their files become vacuum's) but a
tagged version keeps its list. Log files are aged with os.utime on the local lake (delta-rs's
cleanup goes by modification time); on S3 the test waits out a one-second retention."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pydantic import ValidationError
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, HistoryPolicy, Project
from thermocline.catalog.errors import ExpiredVersionError, ThermoclineError, VersionNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.erasure import erase
from thermocline.datasets.tables.inspection import diff
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.pins import pin_version
from thermocline.datasets.tables.restore_points import expire_restore_points
from thermocline.datasets.tables.retention import RetentionResult, apply_policy, apply_retention
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.tier_facts import tier_files
from thermocline.datasets.tables.version_index import commit_timestamp
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import write

DATASET = "clicks"
EVERY_TURN = (0.001, 86400.0)  # a restore point at every retention call, kept a day


def publish(catalog: Catalog, batch: int) -> int:
    data = pa.table(
        {
            "id": pa.array(range(batch * 3, batch * 3 + 3), pa.int64()),
            "day": [f"2026-11-{1 + batch % 3:02d}"] * 3,
        }
    )
    overwrite = batch % 5 == 0 and batch > 0  # drops older files: points hold different files
    return write(
        catalog, DATASET, data, mode="overwrite" if overwrite else "append", partition_by=["day"]
    )


def checksum(catalog: Catalog, at: int | str | None = None) -> str:
    rows = read_dataset(catalog, DATASET, at=at).to_table().to_pylist()
    text = json.dumps(sorted(rows, key=lambda r: r["id"]), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def committed(lake: Lake, version: int) -> datetime:
    stamp = commit_timestamp(lake, DATASET, version)
    assert stamp is not None
    return datetime.fromtimestamp(stamp / 1000, UTC)


def trimmed(
    catalog: Catalog, lake: Lake, past: int, points: tuple[float, float]
) -> RetentionResult:
    """A one-second retention (with ``points``) until the log no longer reaches ``past``; on
    S3 that takes several calls, and only the first finds a restore point due."""
    if lake.is_local:
        old = time.time() - 3600
        for path in (Path(lake.uri) / DATASET / "_delta_log").iterdir():
            if path.name.split(".")[0].isdigit():
                os.utime(path, (old, old))
    return wait_until(
        lambda: (
            (
                r := apply_retention(catalog, DATASET, retention_s=1, restore_points=points)
            ).readable_from
            > past
            and r
        ),
        timeout=60,
        what=f"log retention to pass version {past}",
        every=0.5,
    )


def test_a_time_past_the_log_reads_and_rolls_back_to_the_newest_restore_point(
    lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(lake)
    for batch in range(5):
        publish(catalog, batch)
    # the first call also commits the retention properties: the point is that version
    p1 = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert p1.restore_point == open_table(lake, DATASET).version() == 5
    again = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert again.restore_point is None, "the latest version is a restore point already"
    middle = publish(catalog, 5)
    for batch in range(6, 10):
        publish(catalog, batch)
    uri, options = lake.table_uri("_catalog/pinned_files"), lake.delta_storage_options()
    before = DeltaTable(uri, storage_options=options).version()
    p2 = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert p2.restore_point == 10
    after = DeltaTable(uri, storage_options=options).version()
    assert after == before + 1, "one catalog commit a point, provenance included"
    for batch in range(10, 13):
        publish(catalog, batch)
    sums = {v: checksum(catalog, v) for v in (5, middle, 10)}
    assert len(set(sums.values())) == 3, "the versions differ, so reads can tell them apart"
    at = {v: committed(lake, v) for v in (0, 5, middle, 10)}

    trimmed(catalog, lake, past=10, points=EVERY_TURN)  # commits the new retention first
    latest = open_table(lake, DATASET).version()
    assert latest == 14
    assert set(catalog.pinned_files.restore_points(DATASET)) == {5, 10, 14}
    assert sorted(catalog.protected_versions(DATASET)) == [5, 10, 14]
    assert catalog.protected_versions(DATASET, restore_points=False) == set()

    with caplog.at_level(logging.WARNING):
        assert checksum(catalog, at[10].isoformat()) == sums[10]
        assert checksum(catalog, at[middle].isoformat()) == sums[5], "between the points"
    assert f"reading restore point version 5, committed {at[5].isoformat()}" in caplog.text
    assert checksum(catalog, 10) == sums[10]
    with pytest.raises(ExpiredVersionError):
        read_dataset(catalog, DATASET, at=middle)
    if at[0] < at[5]:  # the writes took a millisecond or more: a time before every point
        with pytest.raises(VersionNotFoundError) as refused:
            read_dataset(catalog, DATASET, at=at[0].isoformat())
        assert "no restore point is that old" in str(refused.value)

    restored = rollback(catalog, DATASET, to=at[middle].isoformat(), reason="back to 3 a.m.")
    assert restored.target_version == 5
    assert checksum(catalog) == sums[5]


def test_expired_restore_points_are_forgotten_and_a_tagged_one_keeps_its_files(
    lake: Lake,
) -> None:
    catalog = Catalog(lake)
    for batch in range(3):
        publish(catalog, batch)
    kept = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    tagged = kept.restore_point
    assert tagged is not None
    catalog.set_tag("golden", DATASET, tagged)  # the catalog alone: the point's row is its list
    for batch in range(3, 8):
        publish(catalog, batch)
    gone = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    dropped = gone.restore_point
    assert dropped is not None
    sums = {v: checksum(catalog, v) for v in (tagged, dropped)}
    for batch in range(8, 11):
        publish(catalog, batch)
    trimmed(catalog, lake, past=dropped, points=EVERY_TURN)  # its first call takes a point
    newest = open_table(lake, DATASET).version()
    assert set(catalog.pinned_files.restore_points(DATASET)) == {tagged, dropped, newest}
    assert checksum(catalog, dropped) == sums[dropped]

    points = catalog.pinned_files.restore_points(DATASET)
    just_past = max(points.values()) + timedelta(seconds=3600 + 60)
    assert expire_restore_points(catalog, DATASET, keep_s=3600, now=just_past) == [], (
        "forgotten in batches, an hour past keep"
    )
    later = datetime.now(tz=UTC) + timedelta(hours=2)
    assert expire_restore_points(catalog, DATASET, keep_s=3600, now=later) == [dropped, newest]
    assert set(catalog.pinned_files.restore_points(DATASET)) == {tagged}, "golden's row stays"
    with pytest.raises(ExpiredVersionError):
        read_dataset(catalog, DATASET, at=dropped)
    vacuum(catalog, DATASET, retention_hours=0)
    assert checksum(catalog, "golden") == sums[tagged], "vacuum kept the tagged point's files"
    assert checksum(catalog) == checksum(catalog, open_table(lake, DATASET).version())


def test_the_policy_takes_restore_points_by_default_for_kafka_only(lake: Lake) -> None:
    catalog = Catalog(lake)
    publish(catalog, 0)
    files = {"kind": "files", "url": "in/*.csv", "format": "csv"}
    batch = DatasetSpec.model_validate({"source": files})
    assert apply_policy(catalog, DATASET, batch).restore_point is None
    kafka = DatasetSpec.model_validate({"source": {"kind": "kafka", "topic": "clicks"}})
    first = apply_policy(catalog, DATASET, kafka).restore_point  # after the properties commit
    assert first == open_table(lake, DATASET).version()
    publish(catalog, 1)
    off = DatasetSpec.model_validate(
        {"source": {"kind": "kafka", "topic": "clicks"}, "history": {"restore_points": False}}
    )
    assert apply_policy(catalog, DATASET, off).restore_point is None
    hourly = DatasetSpec.model_validate(
        {"source": files, "history": {"restore_points": {"every": "1h", "keep": "7d"}}}
    )
    publish(catalog, 2)  # moments, not an hour, after the last point: none is due
    assert apply_policy(catalog, DATASET, hourly).restore_point is None
    assert set(catalog.pinned_files.restore_points(DATASET)) == {first}


def test_restore_point_settings_are_validated() -> None:
    assert HistoryPolicy().restore_points_for("kafka") == (900.0, 86400.0)
    assert HistoryPolicy().retention_seconds("kafka") == 900.0
    assert HistoryPolicy().restore_points_for("files") is None
    with pytest.raises(ValidationError, match=r"longer than restore_points\.keep"):
        HistoryPolicy.model_validate({"restore_points": {"every": "2d", "keep": "1d"}})
    with pytest.raises(ValidationError, match="not a duration"):
        HistoryPolicy.model_validate({"restore_points": {"every": "often"}})
    with pytest.raises(ValidationError):
        HistoryPolicy.model_validate({"restore_points": {"every": "1h", "kept": "1d"}})


def past_the_log(catalog: Catalog, lake: Lake) -> int:
    """Take a restore point of the latest version, then write on and trim the log past it;
    the point's version."""
    point = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert point.restore_point is not None
    for batch in range(20, 23):
        publish(catalog, batch)
    trimmed(catalog, lake, past=point.restore_point, points=(3600.0, 86400.0))
    return point.restore_point


@pytest.mark.parametrize("how", ["thermocline tag", "catalog.set_tag"])
def test_a_tag_made_while_points_expire_keeps_its_files(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    catalog = Catalog(local_lake)
    for batch in range(3):
        publish(catalog, batch)
    point = past_the_log(catalog, local_lake)
    rows = checksum(catalog, point)
    unpinned = catalog.protected_versions

    def tag_meanwhile(dataset: str, *, restore_points: bool = True) -> set[int]:
        """Expiry has read the tags (none on the point) when somebody tags the point."""
        found = unpinned(dataset, restore_points=restore_points)
        monkeypatch.setattr(catalog, "protected_versions", unpinned)
        if how == "thermocline tag":
            pin_version(catalog, DATASET, point)  # what the CLI does before pointing the tag
        catalog.set_tag("keep", DATASET, point)
        return found

    monkeypatch.setattr(catalog, "protected_versions", tag_meanwhile)
    later = datetime.now(tz=UTC) + timedelta(days=2)
    assert expire_restore_points(catalog, DATASET, keep_s=86400, now=later) == []
    assert point not in catalog.pinned_files.restore_points(DATASET)
    vacuum(catalog, DATASET, retention_hours=0)
    assert checksum(catalog, "keep") == rows, "the tag kept its list, and vacuum its files"


def test_a_deleted_tables_restore_point_does_not_answer_for_the_new_table(
    local_lake: Lake,
) -> None:
    catalog = Catalog(local_lake)
    for batch in range(8):
        publish(catalog, batch)
    old_point = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert old_point.restore_point is not None
    before_new = datetime.now(tz=UTC)
    local_lake.filesystem.delete_dir(DATASET)  # deleted, then made again under the same name
    for batch in range(100, 106):
        publish(catalog, batch)
    trimmed(catalog, local_lake, past=2, points=(3600.0, 86400.0))
    # the old table's point has a version number the new table's log still reaches
    assert old_point.restore_point >= readable_from(local_lake, DATASET)
    with pytest.raises(VersionNotFoundError, match="no restore point is that old"):
        read_dataset(catalog, DATASET, at=before_new.isoformat())


def test_tiering_and_diff_read_versions_past_the_log_from_their_lists(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    for batch in range(3):
        publish(catalog, batch)
    catalog.set_tag("old", DATASET, 2)
    point = past_the_log(catalog, local_lake)
    planned = {f.path: f.pinned_by for f in tier_files(catalog, DATASET)}
    assert any("tag old" in names for names in planned.values()), "the tag's files, listed"
    assert not any("restore point" in names for names in planned.values())
    moment = catalog.pinned_files.restore_points(DATASET)[point]
    latest = open_table(local_lake, DATASET).version()
    changed = diff(catalog, DATASET, moment.isoformat(), latest, sample_rows=2)
    assert (changed.from_version, changed.to_version) == (point, latest)
    assert changed.files_from == len(read_dataset(catalog, DATASET, at=point).files)
    with pytest.raises(ExpiredVersionError):
        diff(catalog, DATASET, 1, latest)


def test_an_erasure_forgets_the_restore_points_that_held_the_subject(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THERMOCLINE_PII_KEY", "a test key")
    catalog = Catalog(local_lake)
    project = Project.model_validate(
        {"datasets": {DATASET: {"schema": {"id": "int64", "day": "string"}}}}
    )
    for batch in range(3):  # ids 0..8; the subject is id 4
        publish(catalog, batch)
    point = past_the_log(catalog, local_lake)  # batch 20 overwrote the subject's files away
    assert 4 in read_dataset(catalog, DATASET, at=point).to_table()["id"].to_pylist()
    done = erase(catalog, project, "id", "4", datasets=[DATASET], reason="a person asked")
    assert (point, point) in done.datasets[0].broken_versions
    assert point not in catalog.pinned_files.restore_points(DATASET)
    with pytest.raises(ThermoclineError):
        read_dataset(catalog, DATASET, at=point)
    vacuum(catalog, DATASET, retention_hours=0)
    for entry in done.datasets[0].files_removed:
        assert not (Path(local_lake.uri) / DATASET / entry).exists()


def test_tagging_a_version_that_has_a_row_of_its_own_records_no_copy(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    for batch in range(3):
        publish(catalog, batch)
    apply_retention(catalog, DATASET, retention_s=3600)  # the properties commit, done with
    latest = open_table(local_lake, DATASET).version()
    uri = local_lake.table_uri("_catalog/pinned_files")

    def rows() -> int:
        table = DeltaTable(uri).to_pyarrow_table(columns=["dataset", "version"])
        return sum(1 for row in table.to_pylist() if row == {"dataset": DATASET, "version": latest})

    pin_version(catalog, DATASET, latest)  # a tag first: a row of its own
    taken = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert taken.restore_point == latest
    assert rows() == 2, "the tag's row and the point's"
    pin_version(catalog, DATASET, latest)  # another tag on the same version
    assert rows() == 2, "the version has a row of its own already: no copy"
