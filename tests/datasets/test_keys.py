"""Primary keys across batches (issue #13): a key already published is rejected, updated or
ignored per ``on_duplicate``, for batch files and Kafka, and exactly-once holds when keyed
writers race."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import (
    KEYS_IGNORED_KEY,
    KEYS_UPDATED_KEY,
    ON_DUPLICATE_KEY,
    QUARANTINE_KEY,
)
from thermocline.catalog.config import Project
from thermocline.catalog.errors import CommitConflictError, ConfigError, QuarantineError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest import run as run_module
from thermocline.datasets.ingest.files import files_app_id
from thermocline.datasets.ingest.kafka import KafkaIngester
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables import writes
from thermocline.datasets.tables.keyed import existing_keys, plan_keys, publish_keyed
from thermocline.datasets.tables.keys import candidate_files, keys_app_id, plan_batch
from thermocline.datasets.tables.quarantine import list_quarantined
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import open_table, read_dataset, stored_files


def make_project(root: Path, on_duplicate: str | None, lake: Lake | None = None) -> Project:
    (root / "incoming").mkdir(exist_ok=True)
    lake_line = ""
    if lake is not None:
        options = json.dumps(dict(lake.storage_options))
        lake_line = f'lake: {{uri: "{lake.uri}", storage_options: {options}}}\n'
    setting = f"    on_duplicate: {on_duplicate}\n" if on_duplicate else ""
    (root / "thermocline.yaml").write_text(
        lake_line
        + "datasets:\n  users:\n"
        + "    source: {kind: files, url: incoming/*.csv, format: csv}\n"
        + "    schema: {id: int64, name: string}\n"
        + "    primary_key: [id]\n"
        + setting
    )
    return load_project(root / "thermocline.yaml", environ={})


def add(project: Project, name: str, text: str) -> None:
    (project.root / "incoming" / name).write_text(textwrap.dedent(text).lstrip())


def rows(lake: Lake) -> list[tuple[int, str]]:
    table = read_dataset(Catalog(lake), "users").to_table()
    return sorted(zip(table["id"].to_pylist(), table["name"].to_pylist(), strict=True))


def quarantine_reasons(lake: Lake) -> list[str]:
    found = lake.filesystem.get_file_info(pafs.FileSelector("_quarantine", recursive=True))
    reasons: list[str] = []
    for info in found:
        if info.path.endswith("reasons.json"):
            with lake.filesystem.open_input_stream(info.path) as stream:
                reasons += json.loads(stream.read())["reasons"]
    return reasons


# --- batch files: a key in a later batch -------------------------------------------------------


def test_by_default_a_known_key_in_a_later_batch_is_rejected(tmp_path: Path, lake: Lake) -> None:
    """Issue #13: today the second batch is appended and id 2 is in the table twice."""
    project = make_project(tmp_path, None)
    catalog = Catalog(lake)
    add(project, "a.csv", "id,name\n1,ann\n2,bob\n")
    assert ingest(project, catalog, "users").status == "published"
    add(project, "b.csv", "id,name\n2,bobby\n3,cy\n")
    outcome = ingest(project, catalog, "users")
    assert outcome.status == "quarantined"
    assert rows(lake) == [(1, "ann"), (2, "bob")]
    (reason,) = quarantine_reasons(lake)
    assert "1 row(s) have keys already in the table, e.g. id=2" in reason
    assert "on_duplicate" in reason
    # The quarantine publishes b.csv's position without its rows: the next run reads on.
    table = open_table(lake, "users")
    assert table.version() == 1
    assert table.history(1)[0][QUARANTINE_KEY] == outcome.quarantine_path
    assert ingest(project, catalog, "users").status == "nothing_new"


def test_replaying_a_key_rejected_batch_looks_the_keys_up_again(tmp_path: Path, lake: Lake) -> None:
    """A replay goes through the same key rule as the run: replaying the rejected batch must
    not append id 2 a second time; with ``update`` it merges."""
    project = make_project(tmp_path, None)
    catalog = Catalog(lake)
    add(project, "a.csv", "id,name\n1,ann\n2,bob\n")
    ingest(project, catalog, "users")
    add(project, "b.csv", "id,name\n2,bobby\n3,cy\n")
    assert ingest(project, catalog, "users").status == "quarantined"
    (record,) = list_quarantined(catalog, "users")
    with pytest.raises(QuarantineError, match=r"already in the table, e\.g\. id=2"):
        replay(project, catalog, record.id)
    assert rows(lake) == [(1, "ann"), (2, "bob")]
    updating = make_project(tmp_path, "update")
    assert replay(updating, catalog, record.id).status == "published"
    assert rows(lake) == [(1, "ann"), (2, "bobby"), (3, "cy")]


def test_update_merges_a_known_key_in_one_commit_with_the_source_positions(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = make_project(tmp_path, "update")
    catalog = Catalog(local_lake)
    add(project, "a.csv", "id,name\n1,ann\n2,bob\n")
    assert ingest(project, catalog, "users").status == "published"
    add(project, "b.csv", "id,name\n2,bobby\n3,cy\n3,cyrus\n")
    outcome = ingest(project, catalog, "users")
    assert outcome.status == "published"
    assert rows(local_lake) == [(1, "ann"), (2, "bobby"), (3, "cyrus")]
    table = open_table(local_lake, "users")
    assert table.version() == 1, "the merge is the one commit of the batch"
    commit = table.history(1)[0]
    assert commit["operation"] == "MERGE"
    assert (commit[ON_DUPLICATE_KEY], commit[KEYS_UPDATED_KEY], commit[KEYS_IGNORED_KEY]) == (
        "update",
        1,
        1,
    )
    assert table.transaction_version(files_app_id("users")) == 2, "b.csv consumed in the merge"
    assert table.transaction_version(keys_app_id("users")) == 2
    assert ingest(project, catalog, "users").status == "nothing_new"
    on_disk = {p for p in stored_files(local_lake, "users") if p.endswith(".parquet")}
    live = set(pa.table(table.get_add_actions())["path"].to_pylist())
    first = open_table(local_lake, "users", 0)
    rewritten = set(pa.table(first.get_add_actions())["path"].to_pylist())
    assert on_disk == live | rewritten, "the staged copy of the merged batch was discarded"


def test_ignore_drops_known_keys_appends_new_ones_and_counts_them(
    tmp_path: Path, local_lake: Lake
) -> None:
    project = make_project(tmp_path, "ignore")
    catalog = Catalog(local_lake)
    add(project, "a.csv", "id,name\n1,ann\n2,bob\n")
    assert ingest(project, catalog, "users").status == "published"
    add(project, "b.csv", "id,name\n2,bobby\n3,cy\n3,cyrus\n4,di\n")
    outcome = ingest(project, catalog, "users")
    assert (outcome.status, outcome.rows) == ("published", 2)
    assert "2 row(s) with a known key ignored" in outcome.description
    assert rows(local_lake) == [(1, "ann"), (2, "bob"), (3, "cy"), (4, "di")]
    commit = open_table(local_lake, "users").history(1)[0]
    assert (commit[KEYS_UPDATED_KEY], commit[KEYS_IGNORED_KEY]) == (0, 2)
    add(project, "c.csv", "id,name\n1,again\n")
    assert ingest(project, catalog, "users").status == "published"  # positions still recorded
    assert rows(local_lake) == [(1, "ann"), (2, "bob"), (3, "cy"), (4, "di")]
    assert ingest(project, catalog, "users").status == "nothing_new"


def test_reject_names_keys_repeated_within_the_batch(tmp_path: Path, local_lake: Lake) -> None:
    project = make_project(tmp_path, "reject")
    add(project, "a.csv", "id,name\n1,ann\n1,anna\n")
    assert ingest(project, Catalog(local_lake), "users").status == "quarantined"
    (reason,) = quarantine_reasons(local_lake)
    assert "repeat a key of their own batch, e.g. id=1" in reason


def test_on_duplicate_is_validated_in_the_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="on_duplicate"):
        make_project(tmp_path, "upsert")
    (tmp_path / "thermocline.yaml").write_text(
        "datasets:\n  users:\n    schema: {id: int64}\n    on_duplicate: update\n"
    )
    with pytest.raises(ConfigError, match="on_duplicate needs primary_key"):
        load_project(tmp_path / "thermocline.yaml", environ={})


# --- racing keyed writers ------------------------------------------------------------------------


def test_a_keyed_merge_that_loses_the_race_publishes_nothing_and_the_retry_loads_the_rest(
    tmp_path: Path, local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rival run merges the same files between this run's read and its merge: this run's
    merge is refused, its staging discarded, and every key and file is in the table once."""
    project = make_project(tmp_path, "update")
    catalog = Catalog(local_lake)
    add(project, "a.csv", "id,name\n1,ann\n2,bob\n")
    assert ingest(project, catalog, "users").status == "published"
    add(project, "b.csv", "id,name\n2,bobby\n3,cy\n")
    read_new = run_module.read_new

    def read_then_lose(*args: Any, **options: Any) -> Any:
        batch = read_new(*args, **options)
        monkeypatch.setattr(run_module, "read_new", read_new)
        rival = ingest(project, catalog, "users")
        assert rival.status == "published"
        add(project, "c.csv", "id,name\n3,cyrus\n")
        return batch

    monkeypatch.setattr(run_module, "read_new", read_then_lose)
    monkeypatch.setattr(run_module, "CONFLICT_RETRIES", 0)  # the loss itself, then a new run
    with pytest.raises(CommitConflictError):
        ingest(project, catalog, "users")
    assert rows(local_lake) == [(1, "ann"), (2, "bobby"), (3, "cy")]
    assert open_table(local_lake, "users").version() == 1
    assert ingest(project, catalog, "users").status == "published"
    assert rows(local_lake) == [(1, "ann"), (2, "bobby"), (3, "cyrus")]


@pytest.mark.parametrize("on_duplicate", ["update", "ignore"])
def test_a_rival_commit_between_the_position_check_and_the_commit_loses_cleanly(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch, on_duplicate: Any
) -> None:
    """Two keyed writers with the same source position: the rival commits after ours passed
    its checks; delta-rs must then refuse ours (merge or append), so the position and the keys
    are in the table once."""
    catalog = Catalog(local_lake)
    writes.write(catalog, "users", pa.table({"id": [1], "name": ["ann"]}))
    ours = pa.table({"id": [1, 2], "name": ["ours", "ours"]})
    theirs = pa.table({"id": [1, 2], "name": ["theirs", "theirs"]})
    app = {"files:users": 1}
    plan = plan_keys(local_lake, "users", ours, ["id"], on_duplicate)
    staged = stage(local_lake, "users", plan.rows)
    add_columns = writes._add_new_columns

    def rival_first(*args: Any) -> None:
        monkeypatch.setattr(writes, "_add_new_columns", add_columns)
        rival = plan_keys(local_lake, "users", theirs, ["id"], on_duplicate)
        publish_keyed(
            catalog,
            stage(local_lake, "users", rival.rows),
            rival,
            app_transactions=app,
            expected_positions={"files:users": None},
        )
        add_columns(*args)

    monkeypatch.setattr(writes, "_add_new_columns", rival_first)
    with pytest.raises(CommitConflictError):
        publish_keyed(
            catalog,
            staged,
            plan,
            app_transactions=app,
            expected_positions={"files:users": None},
        )
    table = read_dataset(catalog, "users").to_table()
    assert pc.count_distinct(table["id"]).as_py() == table.num_rows == 2
    assert set(table["name"].to_pylist()) <= {"ann", "theirs"}


# --- the lookup reads only what the statistics cannot rule out ---------------------------------


def test_file_statistics_rule_out_files_and_only_key_columns_are_read(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    for start in (0, 100, 200):
        data = pa.table({"id": list(range(start, start + 10)), "name": ["x"] * 10})
        writes.write(catalog, "users", data)
    table = open_table(local_lake, "users")
    files = pa.table(table.get_add_actions(flatten=True))
    batch = pa.table({"id": [105, 500], "name": ["a", "b"]})
    (candidate,) = candidate_files(files, batch, ["id"], [])
    assert files.filter(pc.equal(files["min.id"], 100))["path"][0].as_py() == candidate
    found = existing_keys(local_lake, "users", table, batch, ["id"])
    assert found.column_names == ["id"]
    assert found["id"].to_pylist() == [105]
    gap = pa.table({"id": [50], "name": ["a"]})  # between files: none is read
    assert candidate_files(files, gap, ["id"], []) == []


def test_keys_are_found_in_a_partition_whose_folder_name_is_escaped(local_lake: Lake) -> None:
    """Storage escapes ``a b:c`` in the folder name and the log encodes that name once more:
    the lookup reads the file by its stored name."""
    catalog = Catalog(local_lake)
    data = pa.table({"id": [1, 2], "zone": ["a b:c", "a b:c"]})
    writes.write(catalog, "users", data, partition_by=["zone"])
    table = open_table(local_lake, "users")
    batch = pa.table({"id": [2, 3], "zone": ["a b:c", "a b:c"]})
    found = existing_keys(local_lake, "users", table, batch, ["id"])
    assert found["id"].to_pylist() == [2]


def test_partition_values_rule_out_files_of_other_partitions() -> None:
    files = pa.table(
        {
            "path": ["d=1/a.parquet", "d=2/b.parquet"],
            "min.id": [1, 1],
            "max.id": [9, 9],
            "partition.d": ["1", "2"],
        }
    )
    batch = pa.table({"id": [5], "d": [2]})
    assert candidate_files(files, batch, ["id", "d"], ["d"]) == ["d=2/b.parquet"]
    no_stats = pa.table({"path": ["a.parquet"], "min.id": [None], "max.id": [None]})
    assert candidate_files(no_stats, batch, ["id"], []) == ["a.parquet"]


def test_a_composite_key_matches_only_whole_keys() -> None:
    batch = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"]})
    existing = pa.table({"a": [1, 2], "b": ["y", "y"]})
    plan = plan_batch("t", batch, ["a", "b"], existing, "ignore", epoch=3)
    assert plan.rows.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert (plan.existing, plan.app_transactions, plan.expected_positions) == (
        1,
        {"keys:t": 4},
        {"keys:t": 3},
    )


def test_a_null_key_is_refused_whatever_on_duplicate_says() -> None:
    batch = pa.table({"id": [1, None]})
    for on_duplicate in ("reject", "update", "ignore"):
        plan = plan_batch("t", batch, ["id"], pa.table({"id": pa.array([], pa.int64())}),
                          on_duplicate, epoch=None)  # fmt: skip
        assert plan.reasons
        assert "null key" in plan.reasons[0]


# --- Kafka -------------------------------------------------------------------------------------


@pytest.mark.kafka
def test_kafka_updates_a_key_published_by_an_earlier_micro_batch(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("keyed")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(timeout=30)
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{local_lake.uri}"}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        datasets:
          users:
            source: {{kind: kafka, topic: {topic}}}
            schema: {{id: int64, name: string}}
            primary_key: [id]
            on_duplicate: update
    """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    producer = Producer({"bootstrap.servers": kafka_bootstrap})

    def send(*records: tuple[int, str]) -> None:
        for key, name in records:
            producer.produce(topic, key=str(key).encode(), value=json.dumps(
                {"id": key, "name": name}).encode())  # fmt: skip
        assert producer.flush(30) == 0

    def run() -> None:
        KafkaIngester(project, Catalog(local_lake), "users", group_id=fresh_name("g")).run(
            until_caught_up=True
        )

    send((1, "ann"), (2, "bob"))
    run()
    send((2, "bobby"), (3, "cy"))
    run()
    assert rows(local_lake) == [(1, "ann"), (2, "bobby"), (3, "cy")]
    commit = open_table(local_lake, "users").history(1)[0]
    assert (commit["operation"], commit[KEYS_UPDATED_KEY]) == ("MERGE", 1)
