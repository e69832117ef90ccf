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
from pydantic import ValidationError
from waits import wait_until

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, HistoryPolicy
from thermocline.catalog.errors import ExpiredVersionError, VersionNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.restore_points import expire_restore_points
from thermocline.datasets.tables.retention import RetentionResult, apply_policy, apply_retention
from thermocline.datasets.tables.rollback import rollback
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
    p2 = apply_retention(catalog, DATASET, retention_s=3600, restore_points=EVERY_TURN)
    assert p2.restore_point == 10
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
