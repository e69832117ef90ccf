"""``thermocline lineage DATASET[@VERSION|@TAG] [--up|--down] [--depth N] [--json]``: where a
dataset version came from (source files, Kafka offset ranges, SQL watermarks, input versions of
a derived dataset) and where it went (derived datasets, training runs), as a tree with each
version's checks and PII decisions.

The logic lives in :mod:`thermocline.datasets.lineage` (facts in
:mod:`thermocline.datasets.tables.lineage_facts`, the graph in
:mod:`thermocline.datasets.tables.lineage_graph`); this module parses and prints.

``--json`` prints ``{"root", "direction", "depth", "nodes", "edges"}``: nodes by ``id`` with
their ``type`` (file, kafka, sql, version, run) and fields, edges ``source`` -> ``target`` with
their ``kind`` (consumed, part_of, input, read) and ``detail`` when set (see
:meth:`~thermocline.datasets.tables.lineage_graph.LineageGraph.to_dict`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json

if TYPE_CHECKING:
    from rich.tree import Tree

    from thermocline.datasets.tables.lineage_graph import Direction, Edge, LineageGraph, Node

__all__ = ["lineage", "print_tree", "register", "render"]

_PIPED_TREE_WIDTH = 1_000

_VERB = {
    "consumed": "consumed by",
    "part_of": "rows kept in",
    "input": "input of",
    "read": "read by",
}
_FROM = {"consumed": "consumed", "part_of": "rows from", "input": "input", "read": "read"}


@click.command()
@click.argument("ref", metavar="DATASET[@VERSION|@TAG] | run:RUN_ID")
@click.option("--up", "up", is_flag=True, help="Only upstream: sources and input versions.")
@click.option("--down", "down", is_flag=True, help="Only downstream: derived datasets, runs.")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Follow at most N edges from the version (default: all the way).",
)
@json_option
@click.pass_obj
def lineage(ctx: Context, ref: str, up: bool, down: bool, depth: int | None, as_json: bool) -> None:
    """Lineage of a dataset version: the source files, Kafka offset ranges and SQL watermarks
    its commits consumed, the input versions of a derived dataset, and the derived datasets and
    training runs downstream; each version with its checks and PII decisions. DATASET alone is
    its latest version; run:RUN_ID starts from a training run (`thermocline runs` lists them).
    Examples: `thermocline lineage rides@golden --up`, `thermocline lineage run:7f3a --up`."""
    from thermocline.catalog.errors import InputError
    from thermocline.datasets.lineage import lineage as walk

    if up and down:
        raise InputError("--up and --down exclude each other; leave both out for both ways")
    direction: Direction = "up" if up else "down" if down else "both"
    name = ref.partition("@")[0]
    if name and not ref.startswith("run:"):
        ctx.dataset(name)  # an unknown dataset: one line listing the datasets there are
    graph = walk(ctx.catalog, ref, direction=direction, depth=depth, datasets=ctx.project.datasets)
    if as_json:
        print_json({"direction": direction, "depth": depth, **graph.to_dict()})
        return
    print_tree(render(graph, direction))


def print_tree(tree: Tree) -> None:
    """Print ``tree`` on stdout; piped (a script, a log, ``make demo | tee``), its lines are
    kept whole however long, as a tree's guides would otherwise crop them at the width."""
    if out.is_terminal:
        out.print(tree)
        return
    width = out.width
    out.width = max(width, _PIPED_TREE_WIDTH)
    try:
        out.print(tree, crop=False)
    finally:
        out.width = width


def render(graph: LineageGraph, direction: str, *, limit: int | None = None) -> Tree:
    """The graph as a tree from its root: upstream under "from", downstream under "to"; a
    node met again is shown once more by name only ("see above").

    ``limit``: under each version, show at most this many of the earlier commits whose rows
    it holds (``rows from``, oldest first) and sum up the rest on one line: how many, the
    versions, the Kafka offsets per partition and the number of files they consumed, and their
    checks (a table fed by many Kafka micro-batches has a commit each)."""
    from rich.tree import Tree  # rich loads with the command, not at CLI startup

    root = graph.nodes[graph.root]
    tree = Tree(_line(root))
    shown: set[str] = {root.id}
    if direction in ("up", "both"):
        branch = tree.add("[bold]from[/]")
        _grow(graph, branch, root.id, up=True, shown=shown, limit=limit)
        if not branch.children:
            branch.add("(nothing recorded upstream)")
    if direction in ("down", "both"):
        branch = tree.add("[bold]to[/]")
        _grow(graph, branch, root.id, up=False, shown=shown, limit=limit)
        if not branch.children:
            branch.add("(nothing recorded downstream)")
    return tree


def _grow(
    graph: LineageGraph,
    branch: Tree,
    node_id: str,
    *,
    up: bool,
    shown: set[str],
    limit: int | None = None,
) -> None:
    edges = graph.parents(node_id) if up else graph.children(node_id)
    hidden: list[Edge] = []
    if limit is not None and up:
        commits = sorted((e for e in edges if e.kind == "part_of"), key=lambda e: _order(graph, e))
        hidden = commits[limit:]
        edges = [e for e in edges if e not in hidden]
    for edge in edges:
        other = edge.source if up else edge.target
        node = graph.nodes[other]
        if other in shown:
            branch.add(f"{_how(edge, up)}{escape(node.label)} (see above)")
            continue
        shown.add(other)
        child = branch.add(_how(edge, up) + _line(node))
        _grow(graph, child, other, up=up, shown=shown, limit=limit)
    if hidden:
        branch.add(_more(graph, [graph.nodes[e.source] for e in hidden]))


def _order(graph: LineageGraph, edge: Edge) -> tuple[str, int]:
    """Versions by number (``rides@10`` after ``rides@9``), not by id text."""
    from thermocline.datasets.tables.lineage_graph import VersionNode

    node = graph.nodes[edge.source]
    return (node.dataset, node.version) if isinstance(node, VersionNode) else (node.id, -1)


def _more(graph: LineageGraph, nodes: list[Node]) -> str:
    """One line for the commits ``limit`` left out: versions, what they consumed, checks."""
    from thermocline.datasets.tables.lineage_graph import KafkaRange, SourceFile, VersionNode

    versions = [n for n in nodes if isinstance(n, VersionNode)]
    refs = sorted((v.dataset, v.version) for v in versions)
    span = f"{refs[0][0]}@{refs[0][1]}..{refs[-1][1]}" if refs else ""
    offsets: dict[tuple[str, int], tuple[int, int]] = {}
    files = 0
    for node in nodes:
        for edge in graph.parents(node.id):
            source = graph.nodes[edge.source]
            if isinstance(source, KafkaRange):
                key = (source.topic, source.partition)
                low, high = offsets.get(key, (source.first, source.last))
                offsets[key] = (min(low, source.first), max(high, source.last))
            elif isinstance(source, SourceFile):
                files += 1
    consumed = [f"kafka {t}[{p}] offsets {a}..{b}" for (t, p), (a, b) in sorted(offsets.items())]
    if files:
        consumed.append(f"{files} file(s)")
    passed = sum(v.checks.passed for v in versions)
    failed = sum(v.checks.failed for v in versions)
    warned = sum(v.checks.warned for v in versions)
    checks = f"checks: {passed} passed, {failed} failed" + (f", {warned} warned" if warned else "")
    parts = [f"and {len(nodes)} more commit(s) {span}".rstrip(), *consumed, checks]
    return f"[dim]{escape(_FROM['part_of'])}:[/] " + escape(" | ".join(parts))


def _how(edge: Edge, up: bool) -> str:
    verb = (_FROM if up else _VERB)[edge.kind]
    detail = f", {edge.detail}" if edge.detail else ""
    return f"[dim]{escape(verb + detail)}:[/] "


def _line(node: Node) -> str:
    from thermocline.datasets.tables.lineage_graph import VersionNode

    text = escape(node.label)
    if not isinstance(node, VersionNode):
        return text
    parts = [f"[bold]{text}[/]", f"checks: {escape(node.checks.text)}"]
    if node.pii:
        parts.append("PII: " + escape("; ".join(d.text for d in node.pii)))
    if node.quarantine:
        parts.append(f"rows quarantined at {escape(node.quarantine)}")
    if node.unattributed:
        parts.append(f"{node.unattributed} file(s) older than the kept log")
    return " | ".join(parts)


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich imported on first use: the CLI starts fast)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def register(group: click.Group) -> None:
    group.add_command(lineage)
