"""Check results per version in the catalog: every result of every judge (built-in,
history-aware, Great Expectations, PII) stored against the dataset version it judged, or the
quarantine id of a batch it kept out (DESIGN.md > Decisions 4 and 12).

One append-only table, ``_catalog/check_results``, one row per result. Rows are never rewritten,
so the results of a version stay readable after a rollback past it and after vacuum removed its
files (nothing here reads a data file of the dataset). Reads filter on ``dataset`` and
``version`` (or ``quarantine_id``); each append writes one file whose Delta statistics bound
those columns, so a read opens only the files that can hold the rows asked for.

A publish also carries a small summary of its results in its commit
(:func:`~thermocline.catalog.commits.encode_checks` under ``CHECKS_KEY``); :func:`summary_checks`
reads it back,
for a version whose rows never reached the catalog (a crash between the publish and the
append).

>>> catalog.checks.record("rides", results, version=7)             # doctest: +SKIP
>>> [(r.name, r.passed) for r in catalog.checks.for_version("rides", 7)]   # doctest: +SKIP
[('not_null_ride_id', True), ('completeness_all', False)]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable

from thermocline.catalog.commits import JudgedResult, decode_checks, finite
from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = [
    "CheckResults",
    "RecordedCheck",
    "ResultBuffer",
    "summary_checks",
]

_TIME = pa.timestamp("us", tz="UTC")
# dataset, version and quarantine_id first: Delta keeps statistics of the leading columns,
# which is what lets a read skip the files of other datasets and versions.
_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("quarantine_id", pa.string()),
        ("judged_at", _TIME),
        ("name", pa.string()),
        ("check", pa.string()),
        ("engine", pa.string()),
        ("severity", pa.string()),
        ("passed", pa.bool_()),
        ("observed", pa.float64()),
        ("threshold", pa.string()),
        ("failing_rows", pa.int64()),
        ("sample", pa.string()),
        ("message", pa.string()),
        ("metadata", pa.string()),
    ]
)
_FIRST_SPAN = 8  # versions below the newest that a history read looks at first


@dataclass(frozen=True)
class RecordedCheck:
    """One stored check result: what judged which version (or quarantined batch), when, how.

    ``source`` says where it was read from: ``catalog`` (its row), or ``commit`` (the summary in
    the version's commit, when the row is missing: that summary has no sample or metadata).
    """

    dataset: str
    version: int | None
    quarantine_id: str | None
    judged_at: datetime
    name: str
    check: str
    engine: str
    severity: str
    passed: bool
    observed: float | None = None
    threshold: str | None = None
    failing_rows: int | None = None
    sample: tuple[str, ...] = ()
    message: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = "catalog"

    @property
    def status(self) -> str:
        """``pass``, ``fail`` (a failed error: it blocks) or ``warn`` (a failed warning)."""
        if self.passed:
            return "pass"
        return "fail" if self.severity == "error" else "warn"


class CheckResults:
    """The ``_catalog/check_results`` table of one lake (``catalog.checks``).

    Every read opens the table's log (its latest checkpoint plus the commits after it) and then
    only the data files whose statistics can match: :meth:`for_version` one file per append that
    recorded the version (usually one), :meth:`for_quarantine` likewise, :meth:`history` the
    files of the newest versions asked for. None reads the whole table.
    """

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "check_results", _SCHEMA)

    def record(
        self,
        dataset: str,
        results: Iterable[JudgedResult],
        *,
        version: int | None = None,
        quarantine_id: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append the results that judged ``dataset`` at ``version`` (or the batch kept as
        ``quarantine_id``), judged ``at`` (default now), in one commit; return how many.

        A blind append: concurrent writers never conflict. Nothing is written for no results.
        """
        rows = result_rows(dataset, results, version=version, quarantine_id=quarantine_id, at=at)
        if rows:
            self._table.append(rows)
        return len(rows)

    def append_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows built by :func:`result_rows` (several records in one commit)."""
        if rows:
            self._table.append(rows)

    def for_version(self, dataset: str, version: int) -> list[RecordedCheck]:
        """The results that judged ``dataset`` at ``version``, in the order they were given."""
        where = (pads.field("dataset") == dataset) & (pads.field("version") == version)
        return _checks(self._table.read(where=where))

    def for_quarantine(self, quarantine_id: str) -> list[RecordedCheck]:
        """The results that judged the batch kept as ``quarantine_id`` (its full id)."""
        return _checks(self._table.read(where=pads.field("quarantine_id") == quarantine_id))

    def history(self, dataset: str, versions: int = 10) -> dict[int, list[RecordedCheck]]:
        """The results of the newest ``versions`` judged versions of ``dataset``, by version,
        newest first.

        Reads the rows of the newest few versions first and looks further back only while
        fewer versions than asked have results (versions that judged nothing, such as
        compactions and restores, have no rows): the cost follows ``versions``, not the
        dataset's history.
        """
        if versions < 1:
            raise InputError(f"history needs at least 1 version, not {versions}")
        snapshot = self._table.existing()
        if snapshot is None:
            return {}
        bounds = _version_bounds(snapshot, dataset)
        if bounds is None:
            return {}
        oldest, newest = bounds
        span = max(versions, _FIRST_SPAN)
        while True:
            cutoff = max(newest - span + 1, oldest)
            where = (pads.field("dataset") == dataset) & (pads.field("version") >= cutoff)
            found = _checks(self._table.read(snapshot, where=where))
            judged = sorted({r.version for r in found if r.version is not None}, reverse=True)
            if len(judged) >= versions or cutoff <= oldest:
                break
            span *= 4
        wanted = judged[:versions]
        grouped: dict[int, list[RecordedCheck]] = {v: [] for v in wanted}
        for row in found:
            if row.version in grouped:
                grouped[row.version].append(row)
        return grouped


def _version_bounds(snapshot: DeltaTable, dataset: str) -> tuple[int, int] | None:
    """The oldest and newest version that the files holding ``dataset``'s rows may hold, from
    the log's file statistics (no data file is read); None when it has none."""
    actions = pa.table(snapshot.get_add_actions(flatten=True))
    needed = ("min.dataset", "max.dataset", "min.version", "max.version")
    if actions.num_rows == 0 or any(c not in actions.column_names for c in needed):
        return None
    lows: list[int] = []
    highs: list[int] = []
    for low_name, high_name, low, high in zip(
        *(actions[c].to_pylist() for c in needed), strict=True
    ):
        holds = low_name is not None and low_name <= dataset <= (high_name or "")
        if holds and low is not None and high is not None:
            lows.append(low)
            highs.append(high)
    return (min(lows), max(highs)) if lows else None


class ResultBuffer:
    """Results waiting to be recorded together: a Kafka ingester publishes a micro-batch every
    second or so, and a catalog commit per micro-batch would cost its publishing thread
    20-75 ms each and leave a file per micro-batch in the catalog. :meth:`add` keeps the rows;
    :meth:`flush_when_due` appends them in one commit every ``flush_every_s``; :meth:`flush`
    at once (on stop, before a rebalance). Rows a crash loses before their flush are not lost
    for good: each publish commit carries their summary (``encode_checks`` in
    :mod:`.commits`), which reading back by version falls back on. Thread-safe.
    """

    def __init__(self, store: CheckResults, *, flush_every_s: float = 5.0) -> None:
        self._store = store
        self._every = flush_every_s
        self._rows: list[dict[str, Any]] = []
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def add(
        self,
        dataset: str,
        results: Iterable[JudgedResult],
        *,
        version: int | None = None,
        quarantine_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        rows = result_rows(dataset, results, version=version, quarantine_id=quarantine_id, at=at)
        with self._lock:
            if not self._rows:
                self._since = time.monotonic()
            self._rows.extend(rows)

    @property
    def pending(self) -> int:
        """Rows not yet recorded."""
        with self._lock:
            return len(self._rows)

    def flush_when_due(self) -> int:
        """Record the rows held if the oldest has waited ``flush_every_s``; return how many."""
        with self._lock:
            due = bool(self._rows) and time.monotonic() - self._since >= self._every
        return self.flush() if due else 0

    def flush(self) -> int:
        """Record every row held, in one commit; return how many. On an error the rows stay
        held for the next flush."""
        with self._lock:
            rows, self._rows = self._rows, []
        try:
            self._store.append_rows(rows)
        except BaseException:
            with self._lock:
                self._rows[:0] = rows
            raise
        return len(rows)


def result_rows(
    dataset: str,
    results: Iterable[JudgedResult],
    *,
    version: int | None = None,
    quarantine_id: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The catalog rows of ``results``: against ``version`` or ``quarantine_id`` (one needed)."""
    if version is None and quarantine_id is None:
        raise InputError(
            f"results of {dataset} need the version they judged or the quarantine id of the "
            "batch they kept out; pass version= or quarantine_id="
        )
    judged_at = (at or datetime.now(tz=UTC)).astimezone(UTC)
    return [
        {
            "dataset": dataset,
            "version": version,
            "quarantine_id": quarantine_id,
            "judged_at": judged_at,
            "name": r.name,
            "check": r.check,
            "engine": r.engine,
            "severity": r.severity,
            "passed": r.passed,
            "observed": finite(r.observed),
            "threshold": r.threshold,
            "failing_rows": r.failing_rows,
            "sample": json.dumps([str(s) for s in r.sample]),
            "message": r.message,
            "metadata": json.dumps(dict(r.metadata), sort_keys=True, default=str),
        }
        for r in results
    ]


def _checks(rows: pa.Table) -> list[RecordedCheck]:
    return [
        RecordedCheck(
            dataset=row["dataset"],
            version=row["version"],
            quarantine_id=row["quarantine_id"],
            judged_at=row["judged_at"],
            name=row["name"],
            check=row["check"],
            engine=row["engine"],
            severity=row["severity"],
            passed=row["passed"],
            observed=row["observed"],
            threshold=row["threshold"],
            failing_rows=row["failing_rows"],
            sample=tuple(json.loads(row["sample"] or "[]")),
            message=row["message"] or "",
            metadata=json.loads(row["metadata"] or "{}"),
        )
        for row in rows.to_pylist()
    ]


# --- the summary a publish commit carries ---------------------------------------------------


def summary_checks(
    dataset: str,
    text: str | None,
    *,
    version: int | None,
    quarantine_id: str | None = None,
    judged_at: datetime,
) -> list[RecordedCheck]:
    """The results a commit's ``CHECKS_KEY`` summary (:func:`.commits.encode_checks`) holds,
    as rows read back with ``source="commit"``; summaries written before they carried kind and
    engine read as ``check`` = the name, ``builtin``."""
    return [
        RecordedCheck(
            dataset=dataset,
            version=version,
            quarantine_id=quarantine_id,
            judged_at=judged_at,
            name=name,
            check=str(entry.get("check", name)),
            engine=str(entry.get("engine", "builtin")),
            severity=str(entry.get("severity", "error")),
            passed=bool(entry.get("passed")),
            observed=entry.get("observed"),
            threshold=entry.get("threshold"),
            failing_rows=entry.get("failing_rows"),
            message=str(entry.get("message", "")),
            source="commit",
        )
        for name, entry in decode_checks(text).items()
    ]
