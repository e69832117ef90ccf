"""The lineage tree's compact mode (``render(..., limit=N)``), on hand-built graphs: a version
fed by many Kafka micro-batches shows its oldest N earlier commits and one line for the rest."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from thermocline.datasets.tables.lineage_graph import (
    ChecksSummary,
    Edge,
    KafkaRange,
    LineageGraph,
    Node,
    SourceFile,
    VersionNode,
)
from thermocline.pipelines.cli.lineage import render


def events_graph(commits: int) -> LineageGraph:
    """``events@commits`` holding the rows of every earlier commit; commit v consumed offsets
    10v..10v+9 of partitions 0 and 1; commit 3 also failed a warning check."""
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    root = VersionNode("events", commits, kind="kafka", checks=ChecksSummary(passed=2))
    nodes[root.id] = root
    for v in range(commits + 1):
        checks = ChecksSummary(passed=1, warned=1, failing=("drift",)) if v == 3 else None
        node = (
            root
            if v == commits
            else VersionNode("events", v, kind="kafka", checks=checks or ChecksSummary(passed=2))
        )
        nodes[node.id] = node
        if node is not root:
            edges.append(Edge(node.id, root.id, "part_of"))
        for partition in (0, 1):
            offsets = KafkaRange("t", partition, 10 * v, 10 * v + 9, v == 0)
            nodes[offsets.id] = offsets
            edges.append(Edge(offsets.id, node.id, "consumed"))
    return LineageGraph(root.id, nodes, edges)


def text(graph: LineageGraph, limit: int | None) -> str:
    console = Console(file=StringIO(), width=400, color_system=None)
    console.print(render(graph, "up", limit=limit))
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def test_a_limit_shows_the_oldest_commits_in_version_order_and_sums_up_the_rest() -> None:
    shown = text(events_graph(12), limit=3)
    rows_from = [
        line.split("rows from: ")[1].split(" ")[0]
        for line in shown.splitlines()
        if "rows from: events@" in line
    ]
    assert rows_from == ["events@0", "events@1", "events@2"], "by number, not by id text"
    assert "consumed: kafka t[1] offsets 120..129" in shown, "the version's own offsets"
    [more] = [line for line in shown.splitlines() if "more commit(s)" in line]
    assert more.split("rows from: ")[1] == (
        "and 9 more commit(s) events@3..11 | kafka t[0] offsets 30..119 | "
        "kafka t[1] offsets 30..119 | checks: 17 passed, 0 failed, 1 warned"
    )
    assert "offsets 30..39" not in shown, "a hidden commit's own ranges are not listed"


def test_without_a_limit_or_within_it_every_commit_is_shown() -> None:
    for limit in (None, 12):
        shown = text(events_graph(12), limit=limit)
        assert "more commit(s)" not in shown
        for v in range(13):
            assert f"offsets {10 * v}..{10 * v + 9}" in shown


def test_a_limit_counts_the_files_the_hidden_commits_consumed() -> None:
    graph = events_graph(0)
    root = graph.nodes[graph.root]
    for v in range(1, 4):
        older = VersionNode("events", 10 - v, kind="files", checks=ChecksSummary(passed=1))
        source = SourceFile(f"file:///in/{v}.csv")
        graph.nodes.update({older.id: older, source.id: source})
        graph.edges += [Edge(older.id, root.id, "part_of"), Edge(source.id, older.id, "consumed")]
    shown = text(graph, limit=1)
    assert "rows from: events@7 " in shown
    assert "and 2 more commit(s) events@8..9 | 2 file(s) | checks: 2 passed, 0 failed" in shown
