"""The facts behind the lineage graph, read from the lake: Delta logs, check results, PII
classifications and training runs (DESIGN.md > Decision 13: the commit says what went in, the
catalog what came out).

:class:`LineageFacts` answers :func:`~.lineage_graph.explore`'s neighbour questions for one
query and keeps reading bounded: each table's log is read once (every commit file, in parallel:
``DeltaTable.history()`` reads the same files but not the ``add``/``remove``/``txn`` actions,
and delta-rs has no per-version app-transaction lookup short of loading the table at each
version), the check results and PII rows of a dataset once, the training runs once. What the
log facts mean, and what they approximate, is in :mod:`.lineage_log`.

Past log retention, a pinned version answers from the :class:`~.lineage_log.Provenance`
recorded with its file list (:meth:`LineageFacts.provenance`, which maintenance calls before
cleanup): the same replay, kept. Asking for a version retention removed that nothing pinned
raises :class:`~thermocline.catalog.errors.ExpiredVersionError`, one line naming the retention.

Downstream of ``dataset@V``: later versions of the dataset that still hold rows V's commit
added *and* that something consumed (a run read them, a derived commit named them), training
runs of those versions, and derived commits that name them as inputs (found by reading the log
of every table in the lake, the registry and the names the caller passes).

>>> facts = LineageFacts(catalog)                                          # doctest: +SKIP
>>> explore(facts.root("rides@3"), "up", facts.up, facts.down, depth=None)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyarrow.fs as pafs

from thermocline.catalog.catalog import Catalog, lake_of, looks_like_time
from thermocline.catalog.check_results import RecordedCheck, summary_checks
from thermocline.catalog.classifications import NOT_PII, Classification, as_of
from thermocline.catalog.commits import (
    CHECKS_KEY,
    KIND_KEY,
    QUARANTINE_KEY,
    ROLLBACK_TO_KEY,
    ROWS_KEY,
)
from thermocline.catalog.errors import DatasetNotFoundError, ExpiredVersionError, InputError
from thermocline.datasets.tables.lineage_graph import (
    ChecksSummary,
    Edge,
    KafkaRange,
    Node,
    PiiDecision,
    RunNode,
    RunRead,
    SourceFile,
    VersionNode,
    WatermarkRange,
)
from thermocline.datasets.tables.lineage_log import Provenance, TableLog, parse_commit
from thermocline.datasets.tables.log_reach import pinned_past_retention, retention_text
from thermocline.datasets.tables.version_index import commit_actions
from thermocline.datasets.tables.versions import (
    live_files,
    open_table,
    resolve_version,
)

__all__ = ["LineageFacts", "read_log"]

_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
_READERS = 8  # commit files read at once (latency-bound on S3)
Pairs = list[tuple[Edge, Node]]


def read_log(catalog: Catalog, dataset: str) -> TableLog:
    """Every commit file the log of ``dataset`` keeps, replayed (:class:`.lineage_log.TableLog`),
    with the provenance recorded for pinned versions older than them (log retention);
    :class:`DatasetNotFoundError` when the lake has no such table."""
    lake = lake_of(catalog)
    listing = lake.table_filesystem(dataset).get_file_info(
        pafs.FileSelector("_delta_log", allow_not_found=True)
    )
    versions = sorted(
        int(m.group(1)) for info in listing if (m := _COMMIT_FILE.match(info.base_name)) is not None
    )
    if not versions:
        open_table(lake, dataset)  # raises DatasetNotFoundError with the fix
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        read = list(pool.map(lambda v: commit_actions(lake, dataset, v), versions))
    commits = [parse_commit(v, a) for v, a in zip(versions, read, strict=True) if a is not None]
    first = min((c.version for c in commits), default=0)
    kept = catalog.pinned_files.provenance(dataset, before=first) if first > 0 else {}
    return TableLog(dataset, commits, [Provenance.from_json(p) for p in kept.values()])


class LineageFacts:
    """The lineage facts of one lake for one query, each read at most once."""

    def __init__(self, catalog: Catalog, datasets: Iterable[str] = ()) -> None:
        self.catalog = catalog
        self._names = set(datasets)
        self._logs: dict[str, TableLog | None] = {}
        self._bases: dict[str, frozenset[str]] = {}
        self._versions: dict[tuple[str, int], VersionNode] = {}
        self._checks: dict[str, dict[int, list[RecordedCheck]]] = {}
        self._pii: dict[str, list[Classification]] | None = None
        self._runs: dict[str, RunNode] | None = None
        self._read_by: dict[tuple[str, int], list[str]] = defaultdict(list)
        self._derived: dict[tuple[str, int], list[tuple[str, int]]] | None = None

    # --- roots ----------------------------------------------------------------------------

    def root(self, ref: str) -> Node:
        """The node ``ref`` names: ``dataset``, ``dataset@version``, ``dataset@tag`` (or a
        time), or ``run:<run id>``. Unknown names raise an :class:`InputError` saying so."""
        if ref.startswith("run:"):
            run_id = ref.removeprefix("run:")
            run = self.runs().get(run_id)
            if run is None:
                raise InputError(
                    f"no training run {run_id!r} is recorded; see `thermocline runs` for the runs"
                )
            for read in run.reads:
                self._require_lineage(read.dataset, read.version, via=f"read by {ref}")
            return run
        name, at_sign, at = ref.partition("@")
        if not name or (at_sign and not at):
            raise InputError(
                f"{ref!r} names no dataset version; write DATASET, DATASET@VERSION or DATASET@TAG"
            )
        table = open_table(lake_of(self.catalog), name)
        version = resolve_version(self.catalog, name, at or None, table, readable=False)
        via = None if not at or at.isdigit() else f"{'time' if looks_like_time(at) else 'tag'} {at}"
        self._require_lineage(name, version, via=via)
        return self.version(name, version)

    def _require_lineage(self, name: str, version: int, *, via: str | None) -> None:
        """Raise :class:`ExpiredVersionError` when log retention removed ``version``'s commits
        and no recorded provenance answers for it."""
        log = self.log(name)
        if log is None or version >= log.first or log.traced(version):
            return
        table = open_table(lake_of(self.catalog), name)
        pinned = pinned_past_retention(self.catalog, name, version, table, via=via)
        if pinned is not None:  # pinned before provenance was recorded with the files
            raise ExpiredVersionError(
                f"no lineage for {name} version {version}: log retention "
                f"({retention_text(table)}, history.log_retention) removed its commits before "
                "maintenance recorded its provenance; its rows still read (it is pinned)",
                fix=f"ask for version {log.first} or newer",
            )

    # --- nodes ----------------------------------------------------------------------------

    def log(self, dataset: str) -> TableLog | None:
        """The dataset's replayed log (None when the lake has no such table)."""
        if dataset not in self._logs:
            try:
                self._logs[dataset] = read_log(self.catalog, dataset)
            except DatasetNotFoundError:
                self._logs[dataset] = None
        return self._logs[dataset]

    def version(self, dataset: str, version: int) -> VersionNode:
        """``dataset@version`` with its commit's facts, checks and PII decisions."""
        key = (dataset, version)
        if key not in self._versions:
            self._versions[key] = self._version(dataset, version)
        return self._versions[key]

    def _version(self, dataset: str, version: int) -> VersionNode:
        log = self.log(dataset)
        commit = log.commit(version) if log is not None else None
        if log is None or commit is None:
            return VersionNode(dataset, version, pii=self._pii_of(dataset, version))
        info = commit.info
        rollback = info.get(ROLLBACK_TO_KEY)
        rows = info.get(ROWS_KEY)
        return VersionNode(
            dataset,
            version,
            kind=None if info.get(KIND_KEY) is None else str(info[KIND_KEY]),
            operation=commit.operation or None,
            rows=int(rows) if isinstance(rows, int | str) and str(rows).isdigit() else None,
            checks=self._checks_of(dataset, version, info.get(CHECKS_KEY)),
            pii=self._pii_of(dataset, version),
            restored_from=None if rollback is None else int(rollback),
            quarantine=None if info.get(QUARANTINE_KEY) is None else str(info[QUARANTINE_KEY]),
            unattributed=self._unattributed(log, version),
        )

    def runs(self) -> dict[str, RunNode]:
        """Every recorded training run by id (one read of the catalog's runs)."""
        if self._runs is None:
            reads: dict[str, list[RunRead]] = defaultdict(list)
            first: dict[str, RunNode] = {}
            for r in reversed(self.catalog.runs.find()):  # oldest first
                reads[r.run_id].append(
                    RunRead(r.dataset, r.version, r.columns, r.filter, r.seed, r.world_size, r.rows)
                )
                self._read_by[(r.dataset, r.version)].append(r.run_id)
                first.setdefault(
                    r.run_id,
                    RunNode(r.run_id, r.code_version, r.user, r.started_at.isoformat()),
                )
            self._runs = {
                run_id: RunNode(
                    n.run_id, n.code_version, n.user, n.started_at, tuple(reads[run_id])
                )
                for run_id, n in first.items()
            }
        return self._runs

    # --- neighbours -----------------------------------------------------------------------

    def up(self, node: Node, via: str | None) -> Sequence[tuple[Edge, Node]]:
        """What ``node`` came from (``via``: see :func:`.lineage_graph.explore`)."""
        if isinstance(node, RunNode):
            read = [(r, self.version(r.dataset, r.version)) for r in node.reads]
            return [(Edge(v.id, node.id, "read", _read_detail(r)), v) for r, v in read]
        if not isinstance(node, VersionNode):
            return []
        log = self.log(node.dataset)
        if log is None:
            return []
        found: Pairs = []
        if via != "part_of":
            for commit in log.commits_of(node.version):
                if commit != node.version:
                    older = self.version(node.dataset, commit)
                    found.append((Edge(older.id, node.id, "part_of"), older))
        for url, size, taken in log.files(node.version):
            source = SourceFile(url, size)
            detail = None if taken is None else f"partition {taken}"
            found.append((Edge(source.id, node.id, "consumed", detail), source))
        for topic, partition, first, last, from_start in log.kafka_ranges(node.version):
            offsets = KafkaRange(topic, partition, first, last, from_start)
            found.append((Edge(offsets.id, node.id, "consumed"), offsets))
        watermark = log.watermark(node.version)
        if watermark is not None:
            rows = WatermarkRange(node.dataset, *watermark)
            found.append((Edge(rows.id, node.id, "consumed"), rows))
        for name, version in sorted(log.inputs(node.version).items()):
            source_version = self.version(name, version)
            found.append((Edge(source_version.id, node.id, "input"), source_version))
        return found

    def down(self, node: Node, via: str | None) -> Sequence[tuple[Edge, Node]]:
        """What came from ``node`` (``via``: see :func:`.lineage_graph.explore`)."""
        if not isinstance(node, VersionNode):
            return []
        runs = self.runs()
        key = (node.dataset, node.version)
        found: Pairs = []
        for run_id in self._read_by.get(key, []):
            run = runs[run_id]
            read = next(r for r in run.reads if (r.dataset, r.version) == key)
            found.append((Edge(node.id, run.id, "read", _read_detail(read)), run))
        derived = self._derived_index()
        for name, version in derived.get(key, []):
            output = self.version(name, version)
            found.append((Edge(node.id, output.id, "input"), output))
        log = self.log(node.dataset)
        if via == "part_of" or log is None:
            return found
        consumed = {v for d, v in self._read_by if d == node.dataset}
        consumed |= {v for d, v in derived if d == node.dataset}
        for later in sorted(v for v in consumed if v > node.version):
            if log.holds(later, node.version):
                newer = self.version(node.dataset, later)
                found.append((Edge(node.id, newer.id, "part_of"), newer))
        return found

    # --- what the nodes carry -------------------------------------------------------------

    def _checks_of(self, dataset: str, version: int, summary: object) -> ChecksSummary:
        if dataset not in self._checks:
            log = self.log(dataset)
            span = max(1, (log.latest + 1) if log is not None else 1)
            self._checks[dataset] = self.catalog.checks.history(dataset, versions=span)
        results = self._checks[dataset].get(version) or summary_checks(
            dataset,
            summary if isinstance(summary, str) else None,
            version=version,
            judged_at=datetime.now(tz=UTC),
        )
        return _summarize(results)

    def _pii_of(self, dataset: str, version: int) -> tuple[PiiDecision, ...]:
        if self._pii is None:
            grouped: dict[str, list[Classification]] = defaultdict(list)
            for row in self.catalog.pii.history():
                grouped[row.dataset].append(row)
            self._pii = dict(grouped)
        applied = as_of(self._pii.get(dataset, []), version)
        return tuple(
            PiiDecision(c.column, c.pii_class, c.action, c.review)
            for c in applied.values()
            if c.pii_class != NOT_PII
        )

    def provenance(self, dataset: str, version: int) -> Provenance | None:
        """What lineage needs of ``dataset@version`` once log retention removes its commits
        (:meth:`.lineage_log.TableLog.provenance`); None when the log no longer reaches it.
        The count of files without a known origin is kept for the version itself; its
        contributing commits record 0 (exact whenever the log still started at version 0)."""
        log = self.log(dataset)
        if log is None or log.commit(version) is None or not log.traced(version):
            return None
        # Only the pinned version's own count: for each contributing commit it would open the
        # table at that commit (a log listing each), thousands of times for a streaming tag.
        return log.provenance(version, {version: self._unattributed(log, version)})

    def _unattributed(self, log: TableLog, version: int) -> int:
        """Live files of ``version`` whose adding commit the kept log does not hold."""
        kept = log.kept(version)
        if kept is not None:
            return kept.unattributed
        if log.complete:
            return 0
        return log.unattributed(self._base(log), version)

    def _base(self, log: TableLog) -> frozenset[str]:
        """The files live at ``log``'s first kept commit that it did not add: one snapshot per
        table and query (:meth:`.lineage_log.TableLog.unattributed`)."""
        if log.dataset not in self._bases:
            table = open_table(lake_of(self.catalog), log.dataset, log.first)
            first = log.commit(log.first)
            added = set(first.adds) if first is not None else set()
            live = {a["path"] for a in live_files(table)}
            self._bases[log.dataset] = frozenset(live - added)
        return self._bases[log.dataset]

    def _derived_index(self) -> dict[tuple[str, int], list[tuple[str, int]]]:
        """(input dataset, version) -> the derived commits that name it, over every table."""
        if self._derived is None:
            index: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
            for name in sorted(self._tables()):
                log = self.log(name)
                if log is None:
                    continue
                for version in log.versions():
                    for source, used in log.inputs(version).items():
                        index[(source, used)].append((name, version))
            self._derived = dict(index)
        return self._derived

    def _tables(self) -> set[str]:
        """The names to look for derived commits in: the caller's, the registry's, and every
        folder at the lake root (one listing) that is not Thermocline's own."""
        names = set(self._names) | set(self.catalog.registered())
        listing = lake_of(self.catalog).filesystem.get_file_info(
            pafs.FileSelector("", allow_not_found=True)
        )
        names |= {
            info.base_name
            for info in listing
            if info.type == pafs.FileType.Directory and not info.base_name.startswith(("_", "."))
        }
        return names


def _read_detail(read: RunRead) -> str:
    columns = ", ".join(read.columns) if read.columns else "all columns"
    where = f" where {read.filter}" if read.filter else ""
    return f"columns {columns}{where}; seed {read.seed}, world size {read.world_size}"


def _summarize(results: Iterable[RecordedCheck]) -> ChecksSummary:
    passed = failed = warned = 0
    failing: list[str] = []
    for result in results:
        status = result.status
        if status == "pass":
            passed += 1
            continue
        failing.append(result.name)
        if status == "fail":
            failed += 1
        else:
            warned += 1
    return ChecksSummary(passed, failed, warned, tuple(sorted(failing)))
