"""Lineage for notebooks: from a dataset version back to its source files, Kafka offsets and
SQL watermarks, across derived datasets, and on to the training runs that read it
(DESIGN.md > Decision 13).

The issue asks for "a small ``thermocline.lineage`` API"; the package layout has no top-level
modules (``thermocline.<folder>`` only, see DESIGN.md > Packaging), so it lives here, as
``thermocline.datasets.lineage``. The facts come from the commits (what went in) and the
catalog (checks, PII decisions, training reads: what came out); the graph is plain dataclasses
(:mod:`thermocline.datasets.tables.lineage_graph`), and ``thermocline lineage`` prints the same.

>>> from thermocline.datasets.lineage import lineage, sources, training_runs  # doctest: +SKIP
>>> graph = lineage(catalog, "rides@3", direction="up")                       # doctest: +SKIP
>>> [s.label for s in sources(graph)]                                         # doctest: +SKIP
['file file:///landing/2026-11-02.csv', 'kafka rides[0] offsets 0..41']
>>> [v.ref for v in versions(lineage(catalog, "run:run-7", direction="up"))]   # doctest: +SKIP
['rides@1', 'rides@3']
>>> [(r.run_id, r.ref, r.code_version) for r in training_runs(catalog, "rides")]  # doctest: +SKIP
[('run-7', 'rides@3', '9f1c...')]
"""

from __future__ import annotations

from collections.abc import Iterable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.errors import InputError
from thermocline.catalog.training_runs import TrainingRun
from thermocline.datasets.tables.lineage_facts import LineageFacts
from thermocline.datasets.tables.lineage_graph import (
    Direction,
    KafkaRange,
    LineageGraph,
    RunNode,
    SourceFile,
    VersionNode,
    WatermarkRange,
    explore,
)

__all__ = [
    "LineageGraph",
    "TrainingRun",
    "lineage",
    "runs",
    "sources",
    "training_runs",
    "versions",
]

_DIRECTIONS = ("up", "down", "both")


def lineage(
    catalog: Catalog,
    ref: str,
    *,
    direction: Direction = "both",
    depth: int | None = None,
    datasets: Iterable[str] = (),
) -> LineageGraph:
    """The lineage graph of ``ref``: ``dataset``, ``dataset@version``, ``dataset@tag`` or
    ``run:<run id>``, walked ``up`` (towards sources), ``down`` (towards derived datasets and
    training runs) or ``both``, through at most ``depth`` edges (None: all the way).

    Going down, derived datasets are found by reading the log of every table at the lake root
    and in the catalog's registry; ``datasets`` adds names to look in (a project's datasets).
    Unknown datasets, versions, tags and runs raise an :class:`InputError` that says so.
    """
    lake_of(catalog)  # a Lake in place of the Catalog fails here, with the fix
    if direction not in _DIRECTIONS:
        raise InputError(f"direction must be one of {', '.join(_DIRECTIONS)}, not {direction!r}")
    if depth is not None and depth < 0:
        raise InputError(f"depth must be 0 or more, not {depth}")
    facts = LineageFacts(catalog, datasets)
    return explore(facts.root(ref), direction, facts.up, facts.down, depth)


def sources(graph: LineageGraph) -> list[SourceFile | KafkaRange | WatermarkRange]:
    """The source positions in ``graph``: files, Kafka offset ranges, SQL watermark ranges."""
    return [
        *graph.of_type(SourceFile),
        *sorted(graph.of_type(KafkaRange), key=lambda k: (k.topic, k.partition, k.first)),
        *graph.of_type(WatermarkRange),
    ]


def versions(graph: LineageGraph) -> list[VersionNode]:
    """The dataset versions in ``graph``, by dataset then version."""
    return sorted(graph.of_type(VersionNode), key=lambda v: (v.dataset, v.version))


def runs(graph: LineageGraph) -> list[RunNode]:
    """The training runs in ``graph``, by run id."""
    return graph.of_type(RunNode)


def training_runs(
    catalog: Catalog, dataset: str | None = None, *, run: str | None = None
) -> list[TrainingRun]:
    """The training reads recorded in ``catalog``, newest first: of one ``dataset`` and/or one
    ``run`` (its id) when given; one entry per run and dataset version it read."""
    lake_of(catalog)  # a Lake in place of the Catalog fails here, with the fix
    return catalog.runs.find(dataset, run)
