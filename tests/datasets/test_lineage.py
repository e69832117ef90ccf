"""Lineage on a real local lake: ``lineage(catalog, "dataset@V")`` walks up to exactly what the
commits consumed (files, partition runs, rollbacks, derived inputs) and down to derived versions
and training runs; Kafka offset ranges match the commits' app transactions."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import CHECKS_KEY, FILES_KEY, INPUTS_KEY, KIND_KEY, json_list
from thermocline.catalog.config import Project
from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.lineage import lineage, runs, sources, versions
from thermocline.datasets.tables.lineage_graph import (
    KafkaRange,
    LineageGraph,
    SourceFile,
    VersionNode,
)
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import open_table
from thermocline.datasets.tables.writes import publish

PROJECT = """
datasets:
  trips:
    source: {kind: files, url: landing/*.csv, format: csv}
    schema: {id: int64, day: date32, fare: float64}
    partition_by: [day]
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: range, column: fare, min: 0, severity: warn}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "landing").mkdir()
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    return load_project(tmp_path / "thermocline.yaml", environ={})


def land(project: Project, name: str, rows: list[tuple[int, str, float]]) -> None:
    lines = ["id,day,fare", *(f"{i},{d},{f}" for i, d, f in rows)]
    (project.root / "landing" / name).write_text("\n".join(lines) + "\n")


def commit_files(lake: Lake, dataset: str) -> dict[int, list[str]]:
    """Version -> the URLs its commit consumed, from the log's commit infos."""
    return {
        int(entry["version"]): json_list(entry.get(FILES_KEY))
        for entry in open_table(lake, dataset).history()
    }


def by_url(files: dict[int, list[str]], wanted: tuple[int, ...]) -> dict[str, set[int]]:
    """File URL -> the ``wanted`` versions whose commit lists it (a partition run lists every
    file it read the partition from)."""
    found: dict[str, set[int]] = {}
    for version in wanted:
        for url in files[version]:
            found.setdefault(url, set()).add(version)
    return found


def consumed(graph: LineageGraph) -> dict[str, set[int]]:
    """File URL -> the versions whose commit consumed it, from the graph's edges."""
    found: dict[str, set[int]] = {}
    for edge in graph.edges:
        node = graph.nodes[edge.source]
        if isinstance(node, SourceFile):
            target = graph.nodes[edge.target]
            assert isinstance(target, VersionNode)
            found.setdefault(node.url, set()).add(target.version)
    return found


def test_up_finds_the_files_each_commit_consumed(project: Project, local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    land(project, "a.csv", [(1, "2026-11-01", 3.0), (2, "2026-11-02", 4.0)])
    assert ingest(project, catalog, "trips").version == 0
    land(project, "b.csv", [(3, "2026-11-02", -1.0)])
    land(project, "c.csv", [(4, "2026-11-03", 5.0)])
    assert ingest(project, catalog, "trips").version == 1
    files = commit_files(local_lake, "trips")
    assert len(files[0]) == 1
    assert len(files[1]) == 2

    graph = lineage(catalog, "trips@1", direction="up")
    assert consumed(graph) == by_url(files, (0, 1))
    assert [v.ref for v in versions(graph)] == ["trips@0", "trips@1"]
    # Each version carries the checks that judged its batch, as its commit summarized them.
    for node in versions(graph):
        summary = json.loads(
            open_table(local_lake, "trips").history()[1 - node.version][CHECKS_KEY]
        )
        failing = sorted(name for name, entry in summary.items() if not entry["passed"])
        assert node.checks.failing == tuple(failing)
        assert node.checks.passed == len(summary) - len(failing)
    assert versions(graph)[1].checks.warned == 1  # b.csv's negative fare

    only_own = lineage(catalog, "trips@1", direction="up", depth=1)
    assert set(consumed(only_own)) == set(files[1])  # trips@0's file is two edges away


def test_a_partition_run_and_a_rollback_are_followed(project: Project, local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    land(project, "a.csv", [(1, "2026-11-01", 3.0)])
    ingest(project, catalog, "trips")
    land(project, "b.csv", [(2, "2026-11-02", 4.0)])
    ingest(project, catalog, "trips")
    land(project, "c.csv", [(3, "2026-11-02", 6.0)])
    assert ingest(project, catalog, "trips", partition="2026-11-02").version == 2
    files = commit_files(local_lake, "trips")

    after_run = lineage(catalog, "trips@2", direction="up")
    # The partition run replaced day 2 (commit 1's rows); day 1 still comes from commit 0.
    assert [v.version for v in versions(after_run)] == [0, 2]
    assert consumed(after_run) == by_url(files, (0, 2))
    details = {e.detail for e in after_run.edges if e.target == "dataset:trips@2"}
    assert "partition 2026-11-02" in details

    assert rollback(catalog, "trips", 1).new_version == 3
    rolled = lineage(catalog, "trips@3", direction="up")
    root = rolled.nodes[rolled.root]
    assert isinstance(root, VersionNode)
    assert root.restored_from == 1
    assert [v.version for v in versions(rolled)] == [0, 1, 3]
    assert consumed(rolled) == by_url(files, (0, 1))


def test_derived_inputs_and_training_runs(project: Project, local_lake: Lake) -> None:
    from thermocline.datasets.training import TableDataset

    catalog = Catalog(local_lake)
    land(project, "a.csv", [(1, "2026-11-01", 3.0)])
    ingest(project, catalog, "trips")
    land(project, "b.csv", [(2, "2026-11-02", 4.0)])
    ingest(project, catalog, "trips")
    staged = stage(local_lake, "features", pa.table({"id": [1, 2], "fare_x2": [6.0, 8.0]}))
    metadata = {KIND_KEY: "derived", INPUTS_KEY: json.dumps({"trips": 1})}
    assert publish(catalog, staged, metadata=metadata) == 0
    loader = TableDataset("features", catalog=catalog, version=0, columns=["fare_x2"], run="m-1")
    next(iter(loader))

    up = lineage(catalog, "features@0", direction="up")
    assert ("dataset:trips@1", "dataset:features@0", "input") in {
        (e.source, e.target, e.kind) for e in up.edges
    }
    files = commit_files(local_lake, "trips")
    assert {s.url for s in sources(up) if isinstance(s, SourceFile)} == {*files[0], *files[1]}

    down = lineage(catalog, "trips@0", direction="down")
    # trips@1 still holds commit 0's rows and is what features@0 was computed from.
    assert [v.ref for v in versions(down)] == ["features@0", "trips@0", "trips@1"]
    assert [r.run_id for r in runs(down)] == ["m-1"]
    run = runs(down)[0]
    assert [(r.dataset, r.version, r.columns) for r in run.reads] == [("features", 0, ("fare_x2",))]
    assert runs(lineage(catalog, "trips@0", direction="down", depth=2)) == []

    back = lineage(catalog, "run:m-1", direction="up")
    assert {s.url for s in sources(back) if isinstance(s, SourceFile)} == {*files[0], *files[1]}


def test_unknown_names_say_so(project: Project, local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    land(project, "a.csv", [(1, "2026-11-01", 3.0)])
    ingest(project, catalog, "trips")
    for ref in ("nope@0", "trips@7", "trips@golden", "trips@", "run:nope", "@1"):
        with pytest.raises(InputError):
            lineage(catalog, ref)
    with pytest.raises(InputError, match="depth"):
        lineage(catalog, "trips", depth=-1)


@pytest.mark.kafka
def test_kafka_offset_ranges_match_the_app_transactions(
    tmp_path: Path, local_lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from thermocline.datasets.ingest.kafka import KafkaIngester
    from thermocline.datasets.ingest.kafka_topic import kafka_app_id

    topic = fresh_name("lineage")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(timeout=30)
    offsets: dict[int, list[int]] = {0: [], 1: []}
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for number in range(600):
        producer.produce(
            topic,
            value=json.dumps({"id": number}).encode(),
            partition=number % 2,
            on_delivery=lambda error, m: offsets[m.partition()].append(m.offset()),
        )
    assert producer.flush(30) == 0
    (tmp_path / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{local_lake.uri}"}}
        kafka: {{bootstrap_servers: "{kafka_bootstrap}"}}
        datasets:
          events:
            source: {{kind: kafka, topic: {topic}, group: g-{topic}}}
            schema: {{id: int64}}
        """)
    )
    project = load_project(tmp_path / "thermocline.yaml", environ={})
    catalog = Catalog(local_lake)
    KafkaIngester(project, catalog, "events", max_records=100).run(until_caught_up=True)
    table = open_table(local_lake, "events")
    assert table.version() >= 2, "several commits, so ranges follow one another"

    graph = lineage(catalog, "events", direction="up")
    ranges = [s for s in sources(graph) if isinstance(s, KafkaRange)]
    for partition, produced in offsets.items():
        mine = [r for r in ranges if r.partition == partition]
        covered = [o for r in mine for o in range(r.first, r.last + 1)]
        assert sorted(covered) == sorted(produced), "every record once, none twice"
    # Each range ends at the app transaction its commit set.
    for edge in graph.edges:
        node = graph.nodes[edge.source]
        if isinstance(node, KafkaRange):
            version = graph.nodes[edge.target]
            assert isinstance(version, VersionNode)
            at = open_table(local_lake, "events", version.version)
            assert at.transaction_version(kafka_app_id(topic, node.partition)) == node.last
