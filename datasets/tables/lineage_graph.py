"""The lineage graph, pure: what went into a dataset version and what came out of it.

Nodes are source positions (a source file, a Kafka offset range, a SQL watermark range),
dataset versions (``dataset@version``, with the summary of the checks that judged it and the PII
decisions that applied) and training runs; edges say how one led to the next
(DESIGN.md > Decision 13):

- ``consumed``: a source position -> the version whose commit consumed it;
- ``part_of``: the version a commit created -> a later version that still holds its rows;
- ``input``: an input version -> the derived version computed from it;
- ``read``: a version -> a training run that read it.

:func:`explore` builds a graph from a root by asking a neighbour function for each node's edges
up (towards sources) or down (towards derived datasets and runs), to a depth; the IO behind the
neighbours lives in :mod:`.lineage_facts`. Everything here is plain values, tested without IO.

>>> v = VersionNode("rides", 3)
>>> f = SourceFile("file:///landing/a.csv")
>>> g = LineageGraph(v.id, {v.id: v, f.id: f}, [Edge(f.id, v.id, "consumed")])
>>> [n.id for n in g.upstream(v.id)]
['file:file:///landing/a.csv']
>>> g.to_dict()["edges"]
[{'source': 'file:file:///landing/a.csv', 'target': 'dataset:rides@3', 'kind': 'consumed'}]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "EDGE_KINDS",
    "ChecksSummary",
    "Direction",
    "Edge",
    "KafkaRange",
    "LineageGraph",
    "Node",
    "PiiDecision",
    "RunNode",
    "RunRead",
    "SourceFile",
    "VersionNode",
    "WatermarkRange",
    "explore",
]

Direction = Literal["up", "down", "both"]
EDGE_KINDS = ("consumed", "part_of", "input", "read")


@dataclass(frozen=True)
class SourceFile:
    """A source file a commit consumed (all of it, or one partition of it: see the edge)."""

    url: str
    size: int | None = None

    @property
    def id(self) -> str:
        return f"file:{self.url}"

    @property
    def label(self) -> str:
        return f"file {self.url}"


@dataclass(frozen=True)
class KafkaRange:
    """Offsets ``first..last`` (inclusive) of ``topic``/``partition`` that one commit consumed.
    ``from_start``: no earlier commit held a position, so the range starts at the partition's
    beginning (offset 0 unless the broker's retention removed older records)."""

    topic: str
    partition: int
    first: int
    last: int
    from_start: bool = False

    @property
    def id(self) -> str:
        return f"kafka:{self.topic}:{self.partition}:{self.first}-{self.last}"

    @property
    def label(self) -> str:
        return f"kafka {self.topic}[{self.partition}] offsets {self.first}..{self.last}"


@dataclass(frozen=True)
class WatermarkRange:
    """The SQL rows one commit of ``dataset`` read: watermark in (``after``, ``upto``]; a
    source without a watermark column reads every row each time (``after`` and ``upto`` None)."""

    dataset: str
    after: str | None
    upto: str | None

    @property
    def id(self) -> str:
        return f"sql:{self.dataset}:({self.after}, {self.upto}]"

    @property
    def label(self) -> str:
        if self.upto is None:
            return "sql: every row of the query (no watermark column)"
        return f"sql watermark ({self.after or '-inf'}, {self.upto}]"


@dataclass(frozen=True)
class ChecksSummary:
    """How the checks that judged a version went: counts and the names that did not pass."""

    passed: int = 0
    failed: int = 0  # failed errors (they block a publish; a replay may publish anyway)
    warned: int = 0  # failed warnings
    failing: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if not (self.passed or self.failed or self.warned):
            return "no checks"
        words = [f"{self.passed} passed", f"{self.failed} failed"]
        if self.warned:
            words.append(f"{self.warned} warned")
        if self.failing:
            words.append("failing: " + ", ".join(self.failing))
        return ", ".join(words)


@dataclass(frozen=True)
class PiiDecision:
    """A column's PII class and what was done to it (``action`` None: stored as it came,
    from before a policy applied), with a person's review state."""

    column: str
    pii_class: str
    action: str | None
    review: str = "detected"

    @property
    def text(self) -> str:
        review = "" if self.review == "detected" else f" ({self.review})"
        return f"{self.column}: {self.pii_class} -> {self.action or 'kept as is'}{review}"


@dataclass(frozen=True)
class VersionNode:
    """``dataset@version``: what its commit did (``kind`` of source: files, kafka, sql,
    derived; ``operation`` as Delta names it), how it was judged and what PII it holds.
    ``restored_from``: the version a rollback went back to; ``quarantine``: where the rows of a
    positions-only commit went; ``unattributed``: live files whose adding commit the log no
    longer holds (log retention)."""

    dataset: str
    version: int
    kind: str | None = None
    operation: str | None = None
    rows: int | None = None
    checks: ChecksSummary = field(default_factory=ChecksSummary)
    pii: tuple[PiiDecision, ...] = ()
    restored_from: int | None = None
    quarantine: str | None = None
    unattributed: int = 0

    @property
    def id(self) -> str:
        return f"dataset:{self.dataset}@{self.version}"

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def label(self) -> str:
        what = [self.kind or self.operation or "commit"]
        if self.rows is not None:
            what.append(f"{self.rows} rows")
        if self.restored_from is not None:
            what.append(f"rollback to version {self.restored_from}")
        return f"{self.ref} ({', '.join(what)})"


@dataclass(frozen=True)
class RunRead:
    """One dataset version a training run read, and how."""

    dataset: str
    version: int
    columns: tuple[str, ...]
    filter: str | None
    seed: int
    world_size: int
    rows: int = 0


@dataclass(frozen=True)
class RunNode:
    """A training run: its id, the code it ran (a git commit) and every version it read."""

    run_id: str
    code_version: str | None = None
    user: str = ""
    started_at: str = ""
    reads: tuple[RunRead, ...] = ()

    @property
    def id(self) -> str:
        return f"run:{self.run_id}"

    @property
    def label(self) -> str:
        code = f", code {self.code_version[:12]}" if self.code_version else ""
        return f"run {self.run_id}{code}"


Node = SourceFile | KafkaRange | WatermarkRange | VersionNode | RunNode
_NODE_TYPES: dict[type, str] = {
    SourceFile: "file",
    KafkaRange: "kafka",
    WatermarkRange: "sql",
    VersionNode: "version",
    RunNode: "run",
}


@dataclass(frozen=True)
class Edge:
    """``source`` led to ``target`` (node ids); ``detail`` says how when it matters (the
    partition a partition run took of a file, the columns a run read)."""

    source: str
    target: str
    kind: str
    detail: str | None = None


@dataclass
class LineageGraph:
    """Nodes by id and the edges between them, explored from ``root``."""

    root: str
    nodes: dict[str, Node]
    edges: list[Edge]

    def parents(self, node_id: str) -> list[Edge]:
        """The edges into ``node_id`` (what it came from), in a stable order."""
        return sorted((e for e in self.edges if e.target == node_id), key=_edge_order)

    def children(self, node_id: str) -> list[Edge]:
        """The edges out of ``node_id`` (what came from it), in a stable order."""
        return sorted((e for e in self.edges if e.source == node_id), key=_edge_order)

    def upstream(self, node_id: str) -> list[Node]:
        """Every node ``node_id`` came from, transitively, nearest first."""
        return self._reach(node_id, self.parents, lambda e: e.source)

    def downstream(self, node_id: str) -> list[Node]:
        """Every node that came from ``node_id``, transitively, nearest first."""
        return self._reach(node_id, self.children, lambda e: e.target)

    def of_type(self, kind: type[Any]) -> list[Any]:
        """The nodes of one type (``SourceFile``, ``KafkaRange``, ...), sorted by id."""
        return sorted((n for n in self.nodes.values() if isinstance(n, kind)), key=_node_id)

    def _reach(
        self, start: str, step: Callable[[str], list[Edge]], other: Callable[[Edge], str]
    ) -> list[Node]:
        seen, order, queue = {start}, [], deque([start])
        while queue:
            for edge in step(queue.popleft()):
                nxt = other(edge)
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(self.nodes[nxt])
                    queue.append(nxt)
        return order

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape: ``{"root": id, "nodes": [...], "edges": [...]}``; each node
        has ``id``, ``type`` (file, kafka, sql, version, run) and its fields; each edge
        ``source``, ``target``, ``kind`` and ``detail`` when set. Sorted by id."""
        return {
            "root": self.root,
            "nodes": [_node_dict(self.nodes[k]) for k in sorted(self.nodes)],
            "edges": [
                {"source": e.source, "target": e.target, "kind": e.kind}
                | ({"detail": e.detail} if e.detail is not None else {})
                for e in sorted(self.edges, key=_edge_order)
            ],
        }


def _node_id(node: Node) -> str:
    return node.id


def _edge_order(edge: Edge) -> tuple[str, str, str, str]:
    return (edge.kind, edge.source, edge.target, edge.detail or "")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def _node_dict(node: Node) -> dict[str, Any]:
    return {"id": node.id, "type": _NODE_TYPES[type(node)], **_plain(node)}


# What a neighbour function returns for a node: (edge, the node at its other end) pairs.
# ``via`` is the kind of the edge the node was reached by (None for the root): a version
# reached as a commit of a later version (``part_of``) answers for its own commit only.
Neighbours = Callable[[Node, str | None], Sequence[tuple[Edge, Node]]]


def explore(
    root: Node,
    direction: Direction,
    up: Neighbours,
    down: Neighbours,
    depth: int | None = None,
) -> LineageGraph:
    """The graph reachable from ``root`` in ``direction`` (``both``: up and down from the
    root, not down again from what is upstream) through at most ``depth`` edges (None: all).

    >>> a, b = VersionNode("a", 1), VersionNode("b", 2)
    >>> up = lambda n, via: [(Edge(a.id, b.id, "input"), a)] if n == b else []
    >>> sorted(explore(b, "up", up, lambda n, via: [], depth=1).nodes)
    ['dataset:a@1', 'dataset:b@2']
    >>> sorted(explore(b, "up", up, lambda n, via: [], depth=0).nodes)
    ['dataset:b@2']
    """
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be 0 or more, not {depth}")
    nodes: dict[str, Node] = {root.id: root}
    edges: dict[Edge, None] = {}
    steps = [(up, True)] if direction == "up" else [(down, False)]
    if direction == "both":
        steps = [(up, True), (down, False)]
    for neighbours, towards_source in steps:
        _walk(root, neighbours, towards_source, depth, nodes, edges)
    return LineageGraph(root.id, nodes, list(edges))


def _walk(
    root: Node,
    neighbours: Neighbours,
    towards_source: bool,
    depth: int | None,
    nodes: dict[str, Node],
    edges: dict[Edge, None],
) -> None:
    expanded: set[tuple[str, bool]] = set()
    queue: deque[tuple[Node, str | None, int]] = deque([(root, None, 0)])
    while queue:
        node, via, level = queue.popleft()
        key = (node.id, via == "part_of")
        if key in expanded or (depth is not None and level >= depth):
            continue
        expanded.add(key)
        for edge, other in neighbours(node, via):
            edges.setdefault(edge, None)
            nodes.setdefault(other.id, other)
            queue.append((nodes[other.id], edge.kind, level + 1))
