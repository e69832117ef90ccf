"""Erasure by key (right to be forgotten): the subject leaves the latest version and every data
file under the table root (scanned with pyarrow directly, not through Delta), the versions that
held it refuse to load naming the erasure, and the catalog keeps an event without the value;
on both lakes where it is cheap."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from thermocline.catalog.catalog import ERASURE, Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import (
    CommitConflictError,
    ConfigError,
    ErasedVersionError,
    ErasureRefusedError,
    InputError,
    ReleasePreflightError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.dead_letters import DEAD_LETTER_SCHEMA, dead_letter_table
from thermocline.datasets.ingest.sealing import Sealer, aad_of, unseal
from thermocline.datasets.tables.erasure import erase
from thermocline.datasets.tables.faults import FAULT_ENV, InjectedFaultError
from thermocline.datasets.tables.quarantine import (
    QuarantinePart,
    list_quarantined,
    quarantine_parts,
    read_quarantined,
)
from thermocline.datasets.tables.releases import create_release, release_rollback
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import open_table, read_dataset, stored_files
from thermocline.datasets.tables.writes import write

KEY = "erasure-test-key"
SUBJECT = 1
PROJECT = Project.model_validate(
    {
        "datasets": {
            "trips": {"schema": {"trip_id": "int64", "rider_id": "int64", "city": "string"}},
            "riders": {
                "schema": {"rider_id": "int64", "email": "string"},
                "pii": {"columns": {"email": "hash"}},
            },
        }
    }
)


def trips(rows: list[tuple[int, int]]) -> pa.Table:
    return pa.table(
        {
            "trip_id": pa.array([t for t, _ in rows], pa.int64()),
            "rider_id": pa.array([r for _, r in rows], pa.int64()),
            "city": pa.array(["lisbon"] * len(rows)),
        }
    )


V0 = [(1, 2), (2, 3)]  # no trip of the subject
V1 = [(3, SUBJECT), (4, 2), (5, SUBJECT)]


def trips_lake(lake: Lake) -> Catalog:
    """trips v0 (riders 2, 3), v1 (adds the subject's trips), v2 (an overwrite: all rows
    again in a new file, so v0's and v1's files stay in storage as superseded files)."""
    catalog = Catalog(lake)
    write(catalog, "trips", trips(V0))
    write(catalog, "trips", trips(V1))
    write(catalog, "trips", trips(V0 + V1), mode="overwrite")
    return catalog


def data_files(lake: Lake, dataset: str) -> list[str]:
    fs = lake.table_filesystem(dataset)
    found = fs.get_file_info(pafs.FileSelector("", recursive=True))
    return sorted(
        i.path
        for i in found
        if i.type == pafs.FileType.File
        and i.path.endswith(".parquet")
        and not i.path.startswith("_delta_log")
    )


def files_holding(lake: Lake, dataset: str, column: str, value: object) -> list[str]:
    """Data files under the table root that hold ``value``, read with pyarrow.parquet."""
    fs = lake.table_filesystem(dataset)
    return [
        path
        for path in data_files(lake, dataset)
        if value in pq.read_table(path, filesystem=fs, columns=[column])[column].to_pylist()
    ]


def rider_ids(catalog: Catalog, at: int | str | None = None) -> list[int]:
    table = read_dataset(catalog, "trips", at=at).to_table(columns=["rider_id"])
    return sorted(table["rider_id"].to_pylist())


def test_erase_removes_the_subject_from_every_file_and_breaks_the_versions_that_held_it(
    lake: Lake,
) -> None:
    catalog = trips_lake(lake)
    assert len(files_holding(lake, "trips", "rider_id", SUBJECT)) == 2

    result = erase(catalog, PROJECT, "rider_id", str(SUBJECT), datasets=["trips"], reason="t7")

    (done,) = result.datasets
    assert (done.rows, done.from_version, done.new_version) == (2, 2, 3)
    assert done.broken_versions == ((1, 2),)
    assert len(done.files_removed) == 2
    assert rider_ids(catalog) == [2, 2, 3]
    assert files_holding(lake, "trips", "rider_id", SUBJECT) == []
    assert len(data_files(lake, "trips")) == 2, "v0's file and the delete's rewrite stay"
    assert rider_ids(catalog, at=0) == [2, 3], "v0 never held the subject: still readable"
    with pytest.raises(ErasedVersionError) as refused:
        read_dataset(catalog, "trips", at=1)
    message = str(refused.value)
    assert f"erasure {result.erasure_id[:12]}" in message
    assert "(reason: t7)" in message
    assert "versions 1-2" in message
    (event,) = catalog.events("trips", kinds=[ERASURE])
    assert event.version == 3
    assert event.reason == "t7"
    assert event.details["rows"] == 2
    assert event.details["broken_versions"] == [[1, 2]]
    assert event.details["files_removed"] == 2
    assert event.details["column"] == "rider_id"


def test_older_versions_refuse_rollback_tags_releases_and_the_loader(local_lake: Lake) -> None:
    from thermocline.datasets.training.dataset import TableDataset

    catalog = trips_lake(local_lake)
    catalog.set_tag("before", "trips", 1)
    create_release(catalog, "r1", {"trips": 2})

    with pytest.raises(ErasureRefusedError) as refused:
        erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"])
    assert "tag trips@before (version 1)" in str(refused.value)
    assert "release r1 (trips@2)" in str(refused.value)
    assert "--force" in str(refused.value)
    assert open_table(local_lake, "trips").version() == 2, "refused: nothing changed"
    assert len(files_holding(local_lake, "trips", "rider_id", SUBJECT)) == 2

    result = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"], force=True)
    erasure = f"erasure {result.erasure_id[:12]}"
    with pytest.raises(ErasedVersionError, match=f"version 1 \\(tag before\\): {erasure}"):
        read_dataset(catalog, "trips", at="before")
    with pytest.raises(ErasedVersionError, match=erasure):
        rollback(catalog, "trips", 2)
    with pytest.raises(ReleasePreflightError, match=f"trips@2: {erasure}"):
        release_rollback(catalog, "r1")
    with pytest.raises(ErasedVersionError, match=erasure):
        TableDataset("trips", catalog=catalog, version=1, record_run=False)
    with pytest.raises(ErasedVersionError, match=f"release r1\\): {erasure}"):
        TableDataset("trips", catalog=catalog, release="r1", record_run=False)
    loaded = TableDataset("trips", catalog=catalog, version=0, record_run=False)
    assert loaded.plan.version == 0, "a version that never held the subject still loads"
    (event,) = catalog.events("trips", kinds=[ERASURE])
    assert event.details["forced"] is True
    assert event.details["tags"] == ["tag trips@before (version 1)"]
    assert event.details["releases"] == ["release r1 (trips@2)"]


def test_dry_run_changes_nothing_and_lists_what_breaks(local_lake: Lake) -> None:
    catalog = trips_lake(local_lake)
    catalog.set_tag("before", "trips", 1)
    files = stored_files(local_lake, "trips")
    events = len(catalog.events())

    plan = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"], dry_run=True)

    (d,) = plan.datasets
    assert plan.dry_run
    assert (d.rows, d.new_version, d.broken_versions) == (2, None, ((1, 2),))
    assert len(d.files_rewritten) == 1
    assert len(d.files_removed) == 2
    assert d.tags == ["tag trips@before (version 1)"]
    assert stored_files(local_lake, "trips") == files
    assert open_table(local_lake, "trips").version() == 2
    assert len(catalog.events()) == events
    assert rider_ids(catalog, at=1) == [1, 1, 2, 2, 3]


def test_a_hashed_column_is_erased_by_its_clear_value(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def digest(value: str) -> str:
        return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()

    catalog = Catalog(lake)
    emails = ["ana@example.com", "bo@example.com", "ana@example.com"]
    write(
        catalog,
        "riders",
        pa.table(
            {"rider_id": pa.array([1, 2, 3], pa.int64()), "email": [digest(e) for e in emails]}
        ),
    )
    monkeypatch.delenv("THERMOCLINE_PII_KEY", raising=False)  # tests/conftest.py sets one
    with pytest.raises(ConfigError, match="THERMOCLINE_PII_KEY"):
        erase(catalog, PROJECT, "email", "ana@example.com", datasets=["riders"])
    monkeypatch.setenv("THERMOCLINE_PII_KEY", KEY)

    result = erase(catalog, PROJECT, "email", "ana@example.com", datasets=["riders"])

    assert result.datasets[0].hashed
    assert result.rows == 2
    left = read_dataset(catalog, "riders").to_table()
    assert left["email"].to_pylist() == [digest("bo@example.com")]
    assert files_holding(lake, "riders", "email", digest("ana@example.com")) == []
    (event,) = catalog.events("riders", kinds=[ERASURE])
    logged = json.dumps(event.details) + (event.reason or "")
    assert result.subject
    assert event.details["subject"] == result.subject
    for secret in ("ana@example.com", digest("ana@example.com"), KEY):
        assert secret not in logged


def test_bad_keys_are_refused_before_anything_changes(local_lake: Lake) -> None:
    catalog = trips_lake(local_lake)
    with pytest.raises(InputError, match=r"does not parse as column trips\.rider_id's type int64"):
        erase(catalog, PROJECT, "rider_id", "one", datasets=["trips"])
    with pytest.raises(InputError, match="no dataset has a column 'nope'"):
        erase(catalog, PROJECT, "nope", "1")
    with pytest.raises(InputError, match="dataset trips has no column 'email'"):
        erase(catalog, PROJECT, "email", "x", datasets=["trips"])
    assert open_table(local_lake, "trips").version() == 2


def test_a_crash_after_the_event_is_finished_by_a_rerun(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = trips_lake(local_lake)
    monkeypatch.setenv(FAULT_ENV, "erasure:after-event=raise")
    with pytest.raises(InjectedFaultError):
        erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"])
    monkeypatch.delenv(FAULT_ENV)
    with pytest.raises(ErasedVersionError):
        read_dataset(catalog, "trips", at=1)  # refused although its files are still there
    assert len(files_holding(local_lake, "trips", "rider_id", SUBJECT)) == 2

    again = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"])

    assert (again.rows, again.datasets[0].new_version) == (0, None)
    assert files_holding(local_lake, "trips", "rider_id", SUBJECT) == []
    assert [e.details["files_removed"] for e in catalog.events("trips", kinds=[ERASURE])] == [2, 2]


def test_a_concurrent_writer_loses_no_rows(local_lake: Lake) -> None:
    catalog = trips_lake(local_lake)
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        # As a real caller does: a publish that loses its race to the delete is discarded and
        # run again (CommitConflictError), never half-applied.
        trip = 1000
        try:
            while not stop.is_set() or len(written) < 5:
                try:
                    write(Catalog(local_lake), "trips", trips([(trip, 7)]))
                except CommitConflictError:
                    continue
                written.append(trip)
                trip += 1
        except BaseException as error:  # the test fails on it below, not silently
            failures.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            write(catalog, "trips", trips([(900, SUBJECT)]))
            erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"], force=True)
    finally:
        stop.set()
        thread.join()
    assert failures == []

    table = read_dataset(catalog, "trips").to_table()
    ids = table.filter(pc.field("rider_id") == 7)["trip_id"].to_pylist()
    assert sorted(ids) == written, "every row of the concurrent writer is there"
    assert SUBJECT not in table["rider_id"].to_pylist()
    assert files_holding(local_lake, "trips", "rider_id", SUBJECT) == []


def test_the_subject_leaves_quarantined_batches_too(local_lake: Lake) -> None:
    catalog = trips_lake(local_lake)
    batch = trips([(50, SUBJECT), (51, 9), (52, SUBJECT)])
    staged = stage(local_lake, "trips", batch)
    part = QuarantinePart("test", staged, batch, (), {})
    quarantine_parts(catalog, "trips", [part], ["a failed check"], kind="test")

    plan = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"], dry_run=True)
    assert plan.datasets[0].quarantine_rows == 2
    (record,) = list_quarantined(catalog, "trips")
    assert read_quarantined(catalog, record)["rider_id"].to_pylist() == [1, 9, 1]

    done = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"])

    assert done.datasets[0].quarantine_rows == 2
    (record,) = list_quarantined(catalog, "trips")
    assert read_quarantined(catalog, record)["rider_id"].to_pylist() == [9]
    assert record.rows == 1
    assert [row["rider_id"] for row in record.sources[0].sample] == [9]


def dead_letters(records: list[tuple[int, bytes]], key: bytes) -> pa.Table:
    """Sealed dead letters of topic ``rides`` partition 0, as the Kafka ingester writes them."""
    sealer = Sealer(key)
    offsets = [o for o, _ in records]
    raw = [r for _, r in records]
    sealed = sealer.seal(raw, [aad_of("rides", 0, o) for o in offsets])
    return pa.table(
        {
            "topic": ["rides"] * len(records),
            "partition": pa.array([0] * len(records), pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
            "timestamp": pa.array([0] * len(records), pa.timestamp("ms", tz="UTC")),
            "key": pa.array([None] * len(records), pa.binary()),
            "raw": pa.array(sealed, pa.binary()),
            "error": ["not JSON"] * len(records),
            "sealed": [True] * len(records),
            "preview": sealer.previews(raw),
        },
        schema=DEAD_LETTER_SCHEMA,
    )


def test_dead_letters_that_hold_the_subject_go_too_and_sealed_ones_need_the_key(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(local_lake)
    write(catalog, "riders", pa.table({"rider_id": pa.array([7], pa.int64()), "email": ["h"]}))
    mine = b'{"rider_id": 7, "email": "ana@example.com", oops'
    other = b'{"rider_id": 8, "email": "bo@example.com", oops'
    name = dead_letter_table("riders")
    write(catalog, name, dead_letters([(10, mine), (11, other)], KEY.encode()))
    write(catalog, name, dead_letters([(12, mine)], KEY.encode()))

    monkeypatch.delenv("THERMOCLINE_PII_KEY")  # sealed payloads cannot be searched
    with pytest.raises(ConfigError):  # riders hashes its e-mails: the key is needed anyway
        erase(catalog, PROJECT, "email", "ana@example.com", datasets=["riders"], dry_run=True)
    monkeypatch.setenv("THERMOCLINE_PII_KEY", KEY)
    plan = erase(catalog, PROJECT, "email", "ana@example.com", datasets=["riders"], dry_run=True)
    assert (plan.datasets[0].dead_letters, plan.datasets[0].dead_letters_unsearched) == (2, 0)

    done = erase(catalog, PROJECT, "email", "ana@example.com", datasets=["riders"])

    assert done.datasets[0].dead_letters == 2
    left = unseal(read_dataset(catalog, name).to_table(), KEY.encode())
    assert left["offset"].to_pylist() == [11]
    # No stored file of the dead-letter table holds the subject's records any more.
    fs = local_lake.table_filesystem(name)
    stored = [pq.read_table(p, filesystem=fs) for p in data_files(local_lake, name)]
    assert sorted(o for t in stored for o in t["offset"].to_pylist()) == [11]
    (event,) = catalog.events("riders", kinds=[ERASURE])
    assert event.details["dead_letters"] == 2
    assert event.details["dead_letter_files_removed"] == 2
    assert "ana@example.com" not in json.dumps(event.details)


def test_without_the_key_sealed_dead_letters_are_reported_unsearched(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = trips_lake(local_lake)
    name = dead_letter_table("trips")
    write(catalog, name, dead_letters([(1, b'{"rider_id": 1, x')], KEY.encode()))
    monkeypatch.delenv("THERMOCLINE_PII_KEY")
    plan = erase(catalog, PROJECT, "rider_id", "1", datasets=["trips"], dry_run=True)
    assert (plan.datasets[0].dead_letters, plan.datasets[0].dead_letters_unsearched) == (0, 1)
