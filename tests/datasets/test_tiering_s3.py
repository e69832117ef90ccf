"""Tiering on the dev S3 server (Ceph RGW) with its real storage classes (issue #16, "Must
show"): after ``tier apply`` every file's ``head_object`` class is the one the plan gave it and
the inventory says the same; every retained version, tag and release reads back with the same
row checksums; warm and cold data time-travel and roll back; an archived version is refused
before anything is read, naming the files and the restore command, and readable again after the
restore. A ``tier apply`` killed with SIGKILL at each step, then run again, leaves the inventory
matching the objects and every version readable.

One table serves every check (``built``): files of four dated partitions, ~140 KB of random
bytes each (over the 128 KB minimum a move needs), in three versions:

- v0 (tag ``golden``), then v1 overwrites it (release ``r1``), then v2 appends a second file to
  the 2026-10-15 partition;
- at ``NOW`` the plan compacts that partition's two files (v3, ``data_change=False``), archives
  v0's 2025 file (only the tag reads it, over a year old), and moves the rest by age: two
  2026-07-01 and the latest 2025 file to cold, the 2026-10-15 files to warm, 2026-11-28 stays.
"""

from __future__ import annotations

import hashlib
import signal
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
from tier_crash import apply_until_killed, fork_server

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Tier, TieringPolicy, TieringSettings
from thermocline.catalog.errors import ArchivedFilesError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.tier_apply import apply_tiers, restore_version
from thermocline.datasets.tables.tier_facts import tier_files
from thermocline.datasets.tables.tier_storage import S3Classes
from thermocline.datasets.tables.versions import history, open_table, read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.pipelines import devstack

pytestmark = pytest.mark.s3

DS = "rides"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = (date(2025, 1, 1), date(2026, 7, 1), date(2026, 10, 15), date(2026, 11, 28))
ROWS_PER_DAY = 140
PAYLOAD_BYTES = 1000  # random, so a partition's file stays ~140 KB whatever the compression
POLICY = TieringPolicy(
    warm_after_days=30, cold_after_days=90, archive_after_days=365, target_file_mb=1
)
KEEP_ALL = POLICY.model_copy(update={"archive_after_days": None})  # nothing archived
SETTINGS = TieringSettings(storage_classes={"cold": "GLACIER"})  # RGW's; archive: DEEP_ARCHIVE


@pytest.fixture
def rgw_lake(s3_lake: Lake, dev_stack: devstack.StackInfo) -> Lake:
    """The S3 lake, on Ceph RGW only: its GLACIER class reads at once, as GLACIER_IR does on
    AWS; the moto fallback refuses reads of GLACIER objects until a restore."""
    assert dev_stack.s3 is not None
    if dev_stack.s3.kind != "ceph":
        pytest.skip(f"needs Ceph RGW's storage classes; the dev S3 is {dev_stack.s3.kind}")
    return s3_lake


def rows(first_id: int, days: tuple[date, ...]) -> pa.Table:
    rng = np.random.default_rng(first_id)
    count = ROWS_PER_DAY * len(days)
    payload = rng.integers(0, 256, count * PAYLOAD_BYTES, dtype=np.uint8).tobytes()
    return pa.table(
        {
            "id": pa.array(range(first_id, first_id + count), pa.int64()),
            "day": pa.array([d for d in days for _ in range(ROWS_PER_DAY)], pa.date32()),
            "payload": pa.array(
                [payload[i * PAYLOAD_BYTES : (i + 1) * PAYLOAD_BYTES] for i in range(count)],
                pa.binary(),
            ),
        }
    )


def built(lake: Lake) -> Catalog:
    """The table of the module docstring, at version 2."""
    catalog = Catalog(lake)
    write(catalog, DS, rows(0, DAYS), partition_by=["day"])
    catalog.set_tag("golden", DS, 0)
    write(catalog, DS, rows(10_000, DAYS), mode="overwrite")
    catalog.create_release("r1", {DS: 1})
    write(catalog, DS, rows(20_000, (date(2026, 10, 15),)))
    return catalog


def checksum(catalog: Catalog, at: int | str | None = None) -> str:
    """A digest of the rows of ``DS`` at ``at`` (version, tag; None: latest), order-free."""
    table = read_dataset(catalog, DS, at).to_table(columns=["id", "day", "payload"])
    table = table.sort_by("id")
    digest = hashlib.sha256()
    for column in table.columns:
        digest.update(repr(column.to_pylist()).encode())
    return digest.hexdigest()


def checksums(catalog: Catalog, versions: range) -> dict[int, str]:
    return {v: checksum(catalog, v) for v in versions}


def head_classes(catalog: Catalog) -> dict[str, str]:
    """``head_object``'s storage class of every file the latest version or a pin references."""
    store = S3Classes(catalog.lake)
    return {f.path: store.class_of(DS, f.path) for f in tier_files(catalog, DS)}


def inventory_classes(catalog: Catalog) -> dict[str, str]:
    """The class the inventory says each of those files is in (STANDARD: never moved); a move
    still pending fails the test."""
    placed = catalog.tiers.placements(DS)
    pending = {p: c.pending for p, c in placed.items() if c.pending is not None}
    assert pending == {}, "every interrupted move is finished"
    return {
        f.path: placed[f.path].storage_class if f.path in placed else "STANDARD"
        for f in tier_files(catalog, DS)
    }


def test_apply_moves_each_file_to_its_planned_class_and_every_pin_reads_the_same(
    rgw_lake: Lake,
) -> None:
    catalog = built(rgw_lake)
    before = checksums(catalog, range(3))
    assert len(set(before.values())) == 3

    result = apply_tiers(catalog, DS, POLICY, SETTINGS, now=NOW)

    [compacted] = result.compacted
    assert (compacted.partition, compacted.files_removed, compacted.files_added) == (
        "day=2026-10-15",
        2,
        1,
    )
    assert compacted.version == 3 == open_table(rgw_lake, DS).version()
    targets: dict[Tier, int] = {}
    for move in result.plan.moves:
        targets[move.target] = targets.get(move.target, 0) + 1
    assert targets == {"warm": 3, "cold": 3, "archive": 1}
    planned = {m.path: SETTINGS.storage_classes[m.target] for m in result.plan.moves}
    heads = head_classes(catalog)
    assert {p: heads[p] for p in planned} == planned, "head_object shows every planned class"
    assert {c for p, c in heads.items() if p not in planned} == {"STANDARD"}, "the rest: hot"
    assert inventory_classes(catalog) == heads
    [archived] = [m.path for m in result.plan.moves if m.target == "archive"]
    assert archived.startswith("day=2025-01-01/")

    # warm and cold data (v1: release r1; v2; v3: the compaction) time-travel as before: by
    # number, by the release's version, and by time
    assert checksums(catalog, range(1, 4)) == {1: before[1], 2: before[2], 3: before[2]}
    assert checksum(catalog, catalog.release("r1").versions[DS]) == before[1]
    [v1] = [c for c in history(rgw_lake, DS) if c.version == 1]
    assert checksum(catalog, v1.timestamp.isoformat()) == before[1]
    # an archived version is refused before anything is read, naming the file and the
    # restore: by a read through its tag, and by a rollback to it
    for refuse in (
        lambda: read_dataset(catalog, DS, "golden"),
        lambda: rollback(catalog, DS, to="golden"),
    ):
        with pytest.raises(ArchivedFilesError) as refused:
            refuse()
        assert archived in str(refused.value)
        assert "`thermocline tier restore rides@0`" in str(refused.value)
    assert open_table(rgw_lake, DS).version() == 3, "the refused rollback changed nothing"
    # rollback to the release's version, whose files are all warm or cold
    assert rollback(catalog, DS, to=1).new_version == 4
    assert checksum(catalog) == before[1]

    restored = restore_version(catalog, DS, 0, POLICY, SETTINGS)

    assert (restored.tier, restored.restored) == ("cold", (archived,))
    assert catalog.tiers.placements(DS)[archived].tier == "cold"
    assert inventory_classes(catalog) == head_classes(catalog)
    assert checksum(catalog, "golden") == before[0]
    assert rollback(catalog, DS, to="golden").new_version == 5
    assert checksum(catalog) == before[0]


def killed_apply(lake: Lake, step: str) -> None:
    """``tier apply`` (batches of 2 moves) in a child process that SIGKILL stops at ``step``."""
    child = fork_server().Process(
        target=apply_until_killed,
        args=(lake.uri, dict(lake.storage_options), DS, KEEP_ALL, SETTINGS, NOW, 2, step),
    )
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL, f"not killed at {step}: exit {child.exitcode}"


def pending(catalog: Catalog) -> int:
    """How many moves a killed run left pending; fails the test unless every object is in the
    class the inventory says it was in before its move, or in the one it was moving to."""
    placed = catalog.tiers.placements(DS)
    for path, storage_class in head_classes(catalog).items():
        where = placed.get(path)
        allowed = {where.storage_class, where.pending_class} if where else {"STANDARD"}
        assert storage_class in allowed, f"{path} is in {storage_class}, inventory: {where}"
    return sum(p.pending is not None for p in placed.values())


def test_an_apply_killed_at_each_step_in_turn_is_finished_by_the_next_run(
    rgw_lake: Lake,
) -> None:
    """Three runs killed one after another (each resumes what the one before left), then a
    run that finishes: the inventory matches every object's class and every version reads."""
    catalog = built(rgw_lake)
    before = checksums(catalog, range(3))

    killed_apply(rgw_lake, "tier-apply:after-compact")
    assert (open_table(rgw_lake, DS).version(), pending(catalog)) == (3, 0), "compacted only"
    assert (
        inventory_classes(catalog)
        == head_classes(catalog)
        == {f.path: "STANDARD" for f in tier_files(catalog, DS)}
    )
    # Batch 1's copies were submitted (finished or not: its dones are recorded only after batch
    # 2's copies start), batch 2's intents are in and none of its copies started.
    killed_apply(rgw_lake, "tier-apply:after-intent:2")
    assert pending(catalog) == 4
    # finished those, planned the 3 moves left, copied batch 1 (2, not recorded done) while
    # batch 2's intents (1) were committed and its copy started
    killed_apply(rgw_lake, "tier-apply:after-copies:1")
    assert pending(catalog) == 3

    rerun = apply_tiers(catalog, DS, KEEP_ALL, SETTINGS, now=NOW)

    assert (rerun.resumed, rerun.compacted) == (3, ())
    assert inventory_classes(catalog) == head_classes(catalog)
    assert sorted(head_classes(catalog).values()) == sorted(
        ["STANDARD"] * 2 + ["STANDARD_IA"] * 3 + ["GLACIER"] * 4
    )
    again = apply_tiers(catalog, DS, KEEP_ALL, SETTINGS, now=NOW)
    assert (again.moved, again.resumed, again.compacted) == (0, 0, ()), "nothing left to do"
    assert checksums(catalog, range(4)) == {**before, 3: before[2]}
