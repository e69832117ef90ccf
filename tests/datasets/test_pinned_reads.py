"""Pinned versions (tags, releases) read and roll back from the file list the catalog keeps for
them, so their cost does not grow with the table's history; the rollback commit holds only the
difference, as Delta requires; the latest version is found without listing the log."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from log_reads import LogReads

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import ExpiredVersionError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.maintenance import compact
from thermocline.datasets.tables.pins import pin_version
from thermocline.datasets.tables.releases import create_release
from thermocline.datasets.tables.retention import apply_retention
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.version_index import commit_actions, latest_commit
from thermocline.datasets.tables.versions import history, read_dataset
from thermocline.datasets.tables.writes import publish as publish_staged
from thermocline.datasets.tables.writes import stage, write

rollback_module = importlib.import_module(
    "thermocline.datasets.tables.rollback"
)  # not the function
DATASET = "events"
ODD = "a b:c/ü"  # a partition value Hive folders escape and the log escapes once more


def publish(catalog: Catalog, batch: int, *, overwrite: bool = False) -> int:
    data = pa.table(
        {
            "id": pa.array(range(batch * 4, batch * 4 + 4), pa.int64()),
            "part": [ODD if batch % 2 else "plain"] * 4,
            "value": [float(batch)] * 4,
        }
    )
    mode = "overwrite" if overwrite else "append"
    return write(catalog, DATASET, data, mode=mode, partition_by=["part"])


def checksum(table: pa.Table) -> str:
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def through_log(lake: Lake, version: int) -> str:
    """The version's rows as delta-rs reads them from the log: the reference."""
    table = DeltaTable(lake.table_uri(DATASET), version=version)
    return checksum(table.to_pyarrow_dataset(filesystem=lake.table_filesystem(DATASET)).to_table())


def built(local_lake: Lake) -> Catalog:
    catalog = Catalog(local_lake)
    for batch in range(12):
        publish(catalog, batch, overwrite=batch == 6)  # the overwrite drops older files
    return catalog


def test_a_tag_reads_from_its_file_list_without_opening_the_log(local_lake: Lake) -> None:
    catalog = built(local_lake)
    create_release(catalog, "r1", {DATASET: 8})
    assert catalog.pinned_files.versions(DATASET) == {8}, "a release records its list when made"
    pin_version(catalog, DATASET, 4)
    catalog.set_tag("golden", DATASET, 4)
    assert catalog.pinned_files.versions(DATASET) == {4, 8}

    root = Path(local_lake.table_uri(DATASET))
    with LogReads(root) as reads:
        rows = read_dataset(catalog, DATASET, at="golden").to_table()
    assert reads.opened == [], f"reading the tag opened {reads.opened[:5]}"
    assert checksum(rows) == through_log(local_lake, 4)
    assert checksum(read_dataset(catalog, DATASET, at=8).to_table()) == through_log(local_lake, 8)
    assert checksum(read_dataset(catalog, DATASET, at=5).to_table()) == through_log(local_lake, 5)


def test_a_rollback_to_a_pin_commits_only_the_difference(local_lake: Lake) -> None:
    catalog = built(local_lake)
    pin_version(catalog, DATASET, 3)
    catalog.set_tag("golden", DATASET, 3)
    before = history(local_lake, DATASET, limit=1)[0].version
    back = rollback(catalog, DATASET, to="golden", reason="bad load")
    assert back.new_version == before + 1
    assert checksum(read_dataset(catalog, DATASET).to_table()) == through_log(local_lake, 3)

    actions = commit_actions(local_lake, DATASET, before + 1) or []
    added = {a["add"]["path"] for a in actions if "add" in a}
    removed = {a["remove"]["path"] for a in actions if "remove" in a}
    assert added, actions
    assert removed, actions
    assert not added & removed, "Delta forbids adding and removing a path in one commit"
    old = DeltaTable(local_lake.table_uri(DATASET), version=before)
    assert removed <= set(pa.table(old.get_add_actions()).column("path").to_pylist())
    assert (back.files_added, back.files_removed) == (len(added), len(removed))
    newest = history(local_lake, DATASET, limit=1)[0]
    assert (newest.operation, newest.reason) == ("RESTORE", "bad load")

    again = rollback(catalog, DATASET, to=before)  # and back again: a plain restore
    assert again.new_version == before + 2
    assert checksum(read_dataset(catalog, DATASET).to_table()) == through_log(local_lake, before)


@pytest.mark.parametrize("race", ["compaction", "append"])
def test_a_rollback_to_a_pin_that_races_a_writer_still_lands_on_the_pin(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch, race: str
) -> None:
    """A commit lands between the rollback's snapshot and its commit. A rebased commit of the
    old difference would keep what that writer changed; the rollback must end on the pin."""
    catalog = built(local_lake)
    pin_version(catalog, DATASET, 3)
    catalog.set_tag("golden", DATASET, 3)
    expected = through_log(local_lake, 3)
    real = rollback_module.missing_files
    raced: list[int] = []

    def missing_then_race(*args: object, **kwargs: object) -> list[str]:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        if not raced:  # after rollback opened its snapshot, before it commits
            if race == "compaction":
                raced.append(compact(catalog, DATASET, target_file_mb=64).version or -1)
            else:
                raced.append(publish(catalog, 50))
        return found

    monkeypatch.setattr(rollback_module, "missing_files", missing_then_race)
    back = rollback(catalog, DATASET, to="golden")
    assert raced, "the race ran"
    assert back.new_version is not None
    assert back.new_version > raced[0]
    assert checksum(read_dataset(catalog, DATASET).to_table()) == expected


def test_a_version_pinned_before_cleanup_stays_readable_when_tagged_after(
    local_lake: Lake,
) -> None:
    """The file list is recorded before the tag points at the version: a cleanup between the
    two cannot strand the tag. A version cleanup already removed cannot be pinned."""
    catalog = built(local_lake)
    expected = through_log(local_lake, 5)
    pin_version(catalog, DATASET, 5)
    log = Path(local_lake.table_uri(DATASET)) / "_delta_log"
    old = time.time() - 3600
    for path in log.iterdir():
        os.utime(path, (old, old))
    trimmed = apply_retention(catalog, DATASET, retention_s=1)  # no tag yet: it sees no pin
    assert trimmed.readable_from > 5, trimmed
    catalog.set_tag("late", DATASET, 5)
    assert checksum(read_dataset(catalog, DATASET, at="late").to_table()) == expected
    with pytest.raises(ExpiredVersionError, match="log retention"):
        pin_version(catalog, DATASET, 4)


def test_a_rollback_past_retention_commits_only_the_difference(local_lake: Lake) -> None:
    """A pin the log no longer reaches is committed back from its list (there is no restore);
    an overwrite of every file would both remove and add the files it shares with the latest."""
    catalog = built(local_lake)
    catalog.set_tag("golden", DATASET, 9)  # shares files with the latest version
    expected = through_log(local_lake, 9)
    log = Path(local_lake.table_uri(DATASET)) / "_delta_log"
    old = time.time() - 3600
    for path in log.iterdir():
        os.utime(path, (old, old))
    trimmed = apply_retention(catalog, DATASET, retention_s=1)
    assert trimmed.readable_from > 9, trimmed
    latest = trimmed.checkpoint_version

    back = rollback(catalog, DATASET, to="golden")
    actions = commit_actions(local_lake, DATASET, latest + 1) or []
    added = {a["add"]["path"] for a in actions if "add" in a}
    removed = {a["remove"]["path"] for a in actions if "remove" in a}
    assert not added & removed, actions
    assert removed, "the files the latest added after the tag go"
    assert back.new_version == latest + 1
    assert checksum(read_dataset(catalog, DATASET).to_table()) == expected


def test_a_pin_with_another_schema_is_restored_with_it(local_lake: Lake) -> None:
    """A commit of a pin's files keeps the current schema, so a pin the log reaches whose schema
    differs goes through delta-rs's restore, which brings the old schema back."""
    catalog = built(local_lake)
    pin_version(catalog, DATASET, 2)
    catalog.set_tag("narrow", DATASET, 2)
    wider = pa.table({"id": [999], "part": ["plain"], "value": [1.0], "extra": ["x"]})
    publish_staged(catalog, stage(local_lake, DATASET, wider, partition_by=["part"]))
    assert "extra" in read_dataset(catalog, DATASET).schema.names
    rollback(catalog, DATASET, to="narrow")
    assert sorted(read_dataset(catalog, DATASET).schema.names) == ["id", "part", "value"]
    assert checksum(read_dataset(catalog, DATASET).to_table()) == through_log(local_lake, 2)


@pytest.mark.parametrize("commits", [1, 2, 3, 37, 100, 101, 250])
def test_the_latest_version_is_found_without_listing_the_log(
    local_lake: Lake, commits: int
) -> None:
    root = local_lake.table_uri(DATASET)
    for n in range(commits):
        write_deltalake(root, pa.table({"n": [n]}), mode="append")
    if commits == 37:
        DeltaTable(root).create_checkpoint()  # a checkpoint at the latest version itself
    expected = DeltaTable(root).version()
    if commits < 100 and commits != 37:
        assert latest_commit(local_lake, DATASET) is None, "no checkpoint yet: the caller opens"
        return
    with LogReads(root) as reads:
        assert latest_commit(local_lake, DATASET) == expected
    assert len(reads.opened) <= 2, reads.opened  # _last_checkpoint; existence checks open none


def test_a_list_left_from_a_deleted_table_gives_way_to_the_log(local_lake: Lake) -> None:
    """The demo deletes and recreates a table after a broker restart: a file list recorded for
    the old table must not stand in for the new table's version of the same number."""
    catalog = built(local_lake)
    pin_version(catalog, DATASET, 3)
    local_lake.filesystem.delete_dir(DATASET)
    for batch in range(100, 106):
        publish(catalog, batch)
    assert checksum(read_dataset(catalog, DATASET, at=3).to_table()) == through_log(local_lake, 3)
