"""The pure lineage core: the log replay (which commits a version holds, Kafka ranges,
watermarks) and the graph walk (directions, depth, commits of a later version), without IO."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from thermocline.catalog.commits import (
    FILES_KEY,
    INPUTS_KEY,
    KIND_KEY,
    PARTITION_KEY,
    WATERMARK_KEY,
    encode_watermark,
)
from thermocline.datasets.tables.lineage_graph import (
    Edge,
    LineageGraph,
    Node,
    RunNode,
    SourceFile,
    VersionNode,
    explore,
)
from thermocline.datasets.tables.lineage_log import TableLog, parse_commit


def commit(
    version: int,
    operation: str = "WRITE",
    adds: Sequence[str] = (),
    removes: Sequence[str] = (),
    txns: dict[str, int] | None = None,
    data_change: bool = True,
    **info: Any,
) -> Any:
    actions: list[dict[str, Any]] = [{"commitInfo": {"operation": operation, **info}}]
    actions += [{"add": {"path": p, "dataChange": data_change}} for p in adds]
    actions += [{"remove": {"path": p, "dataChange": data_change}} for p in removes]
    actions += [{"txn": {"appId": a, "version": v}} for a, v in (txns or {}).items()]
    return parse_commit(version, actions)


def test_a_partition_overwrite_keeps_the_other_partitions_commits() -> None:
    log = TableLog(
        "t",
        [
            commit(0, "CREATE TABLE", ["day=1/a", "day=2/a"]),
            commit(1, adds=["day=3/b"]),
            commit(2, adds=["day=2/c"], removes=["day=2/a"], **{PARTITION_KEY: "2"}),
        ],
    )
    assert log.commits_of(1) == [0, 1]
    assert log.commits_of(2) == [0, 1, 2]  # day 1 of commit 0 is still live
    log = TableLog(
        "t", [commit(0, adds=["day=2/a"]), commit(1, adds=["day=2/c"], removes=["day=2/a"])]
    )
    assert log.commits_of(1) == [1]
    assert not log.holds(1, 0)
    assert log.holds(0, 0)


def test_rewrites_inherit_and_restores_keep_origins() -> None:
    log = TableLog(
        "t",
        [
            commit(0, adds=["a"]),
            commit(1, adds=["b"]),
            commit(2, "OPTIMIZE", ["ab"], ["a", "b"], data_change=False),
            commit(3, "MERGE", ["ab2", "n"], ["ab"]),
            commit(4, "DELETE", ["ab3"], ["ab2"]),
            commit(5, "RESTORE", ["ab"], ["ab3", "n"]),
            commit(6, "tier compaction", ["z"], ["ab"], data_change=False),
        ],
    )
    assert log.commits_of(2) == [0, 1]
    assert log.commits_of(3) == [0, 1, 3]
    assert log.commits_of(4) == [0, 1, 3]
    assert log.commits_of(5) == [0, 1]  # back to the compacted file of version 2
    assert log.commits_of(6) == [0, 1]
    assert log.holds(6, 1)
    assert not log.holds(6, 3)
    assert log.complete


def test_kafka_ranges_follow_the_app_transactions_per_partition() -> None:
    log = TableLog(
        "t",
        [
            commit(0, adds=["a"], txns={"kafka:rides:0": 9, "kafka:rides:1": 4}),
            commit(1, adds=["b"], txns={"kafka:rides:1": 7}),
            commit(2, "RESTORE", ["a"], ["b"]),
            commit(3, adds=["c"], txns={"kafka:rides:0": 12, "files:t": 3}),
        ],
    )
    assert log.kafka_ranges(0) == [("rides", 0, 0, 9, True), ("rides", 1, 0, 4, True)]
    assert log.kafka_ranges(1) == [("rides", 1, 5, 7, False)]
    assert log.kafka_ranges(2) == []
    assert log.kafka_ranges(3) == [("rides", 0, 10, 12, False)]  # the rollback kept positions


def test_files_watermarks_and_inputs_come_from_the_commit_info() -> None:
    log = TableLog(
        "t",
        [
            commit(0, adds=["a"], **{KIND_KEY: "sql", WATERMARK_KEY: encode_watermark(5)}),
            commit(1, adds=["b"], **{KIND_KEY: "sql", WATERMARK_KEY: encode_watermark(9)}),
            commit(2, adds=["c"], **{KIND_KEY: "sql"}),
            commit(3, adds=["d"], **{FILES_KEY: json.dumps(["s3://l/x.csv"]), PARTITION_KEY: "7"}),
            commit(4, adds=["e"], **{KIND_KEY: "derived", INPUTS_KEY: json.dumps({"a": 3})}),
        ],
    )
    assert log.watermark(0) == (None, "5")
    assert log.watermark(1) == ("5", "9")
    assert log.watermark(2) == (None, None)
    assert log.files(3) == [("s3://l/x.csv", None, "7")]
    assert log.inputs(4) == {"a": 3}
    assert log.inputs(3) == {}


def test_a_log_that_lost_its_oldest_commits_attributes_what_it_can() -> None:
    log = TableLog("t", [commit(5, adds=["f"]), commit(6, adds=["g"], removes=["old"])])
    assert not log.complete
    assert log.origins(["f", "old"]) == ({5}, 1)


def graph_of(edges: list[tuple[Node, Node, str]]) -> tuple[Any, Any]:
    """Neighbour functions over a fixed edge list (up: into a node; down: out of it)."""

    def up(node: Node, via: str | None) -> list[tuple[Edge, Node]]:
        return [(Edge(a.id, b.id, k), a) for a, b, k in edges if b == node]

    def down(node: Node, via: str | None) -> list[tuple[Edge, Node]]:
        return [(Edge(a.id, b.id, k), b) for a, b, k in edges if a == node]

    return up, down


def test_explore_goes_each_way_to_a_depth() -> None:
    f, v0, v1, d0 = SourceFile("f"), VersionNode("r", 0), VersionNode("r", 1), VersionNode("d", 0)
    run = RunNode("m")
    up, down = graph_of(
        [(f, v0, "consumed"), (v0, v1, "part_of"), (v1, d0, "input"), (d0, run, "read")]
    )
    assert set(explore(d0, "up", up, down).nodes) == {f.id, v0.id, v1.id, d0.id}
    assert set(explore(d0, "down", up, down).nodes) == {d0.id, run.id}
    assert set(explore(v1, "both", up, down, depth=1).nodes) == {v0.id, v1.id, d0.id}
    assert set(explore(v1, "both", up, down, depth=0).nodes) == {v1.id}
    # "both" goes up from the root and down from it, never down again from upstream nodes.
    up_both = explore(d0, "both", up, down)
    assert set(up_both.nodes) == {f.id, v0.id, v1.id, d0.id, run.id}


def test_a_version_reached_as_a_commit_answers_for_its_commit_only() -> None:
    seen: list[tuple[str, str | None]] = []
    v0, v1 = VersionNode("r", 0), VersionNode("r", 1)

    def up(node: Node, via: str | None) -> list[tuple[Edge, Node]]:
        seen.append((node.id, via))
        return [(Edge(v0.id, v1.id, "part_of"), v0)] if node == v1 else []

    explore(v1, "up", up, lambda n, via: [])
    assert seen == [(v1.id, None), (v0.id, "part_of")]


def test_the_json_shape_is_sorted_and_typed() -> None:
    v, f = VersionNode("r", 0), SourceFile("file:///a.csv", 12)
    graph = LineageGraph(v.id, {v.id: v, f.id: f}, [Edge(f.id, v.id, "consumed", "partition 1")])
    shape = graph.to_dict()
    assert [n["type"] for n in shape["nodes"]] == ["version", "file"]
    assert shape["nodes"][1] == {
        "id": "file:file:///a.csv",
        "type": "file",
        "url": "file:///a.csv",
        "size": 12,
    }
    assert shape["edges"] == [
        {"source": f.id, "target": v.id, "kind": "consumed", "detail": "partition 1"}
    ]
    assert graph.upstream(v.id) == [f]
    assert graph.downstream(f.id) == [v]
