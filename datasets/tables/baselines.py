"""What the history-aware checks compare a batch with, read from the lake: the row counts of
recent publishes, the reference column of a drift check at its version or tag, the key column
of a referential check. :func:`check_context` gathers what a dataset's checks need into one
:class:`~thermocline.quality.results.CheckContext`; the checks themselves (in
:mod:`thermocline.quality`) read nothing.

Only the one column a check needs is read (a projection into the Parquet read). A drift
reference is **sampled** to :data:`REFERENCE_SAMPLE` values: the sampling error of both
statistics then lies far below their limits. For KS, the statistic of two samples of one
population exceeds ``1.36 * sqrt(1/n + 1/m)`` only 5% of the time, which with n = 200,000 is
0.003 plus the batch's own share: two orders below the default limit 0.1. For PSI with ``k``
bins, sampling noise adds about ``(k - 1) / n`` (a chi-square over ``n``): 5e-5 for 10 bins,
against a limit of 0.2. A bigger reference would cost reads and change nothing a check decides.
Referential keys are never sampled (a key left out would fail a good row): the column is read
whole and reduced to its distinct values.

A long-running ingester keeps baselines in a :class:`BaselineCache` so that its micro-batches
do not re-read them (see :meth:`BaselineCache.get`).

>>> context = check_context(catalog, "rides", project.checks("rides"), now=now,  # doctest: +SKIP
...                         schema=declared)
>>> context.baselines["distribution_drift_fare"].label                           # doctest: +SKIP
'rides@golden (version 3)'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import (
    Check,
    DistributionDriftCheck,
    ReferentialCheck,
    RowCountCheck,
    VolumeCheck,
)
from thermocline.catalog.errors import DatasetNotFoundError, ThermoclineError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import (
    history,
    open_table,
    require_files,
    resolve_version,
)
from thermocline.quality.history import ROW_COUNT_WINDOW
from thermocline.quality.results import Baseline, CheckContext, SchemaChanges, check_names

__all__ = [
    "REFERENCE_SAMPLE",
    "BaselineCache",
    "check_context",
    "key_values",
    "recent_row_counts",
    "reference_values",
]

REFERENCE_SAMPLE = 200_000
"""The most values of a drift reference that are read (see the module's docstring)."""


def check_context(
    catalog: Catalog,
    dataset: str,
    checks: Sequence[Check],
    *,
    now: datetime,
    schema: pa.Schema | None,
    schema_changes: SchemaChanges | None = None,
    cache: BaselineCache | None = None,
    row_counts: bool = True,
) -> CheckContext:
    """The context that ``checks`` of ``dataset`` need to judge a batch at ``now``.

    ``cache`` keeps the baselines between calls (a Kafka ingester's micro-batches);
    ``row_counts=False`` leaves the recent row counts out (a stream's micro-batch sizes follow
    its traffic, so they make no baseline).
    """
    lake = lake_of(catalog)
    window = max(
        [c.window for c in checks if isinstance(c, VolumeCheck)]
        + [ROW_COUNT_WINDOW for c in checks if isinstance(c, RowCountCheck)]
        + [0]
    )
    baselines: dict[str, Baseline] = {}
    for name, check in zip(check_names(checks), checks, strict=True):
        wanted = _wanted(dataset, check)
        if wanted is not None:
            baselines[name] = (cache or _UNCACHED).get(wanted, catalog)
    return CheckContext(
        now=now,
        previous_row_counts=recent_row_counts(lake, dataset, window)
        if window and row_counts
        else (),
        schema=schema,
        schema_changes=schema_changes,
        baselines=baselines,
    )


def recent_row_counts(lake: Lake, dataset: str, limit: int = ROW_COUNT_WINDOW) -> list[int]:
    """Rows of the latest publishes, newest first (empty before the first)."""
    try:
        commits = history(lake, dataset, limit=limit * 2)
    except DatasetNotFoundError:
        return []
    counts = [c.rows_added for c in commits if c.rows_added and c.operation != "RESTORE"]
    return counts[:limit]


@dataclass(frozen=True)
class _Wanted:
    """One baseline a check needs: ``column`` of ``dataset`` at ``at``; ``own`` when it is the
    judged dataset itself (whose first batch has nothing to compare with), ``sample`` for a
    drift reference (else the distinct values of a key column)."""

    dataset: str
    column: str
    at: int | str | None
    own: bool
    sample: bool

    @property
    def label(self) -> str:
        return self.dataset if self.at is None else f"{self.dataset}@{self.at}"


def _wanted(dataset: str, check: Check) -> _Wanted | None:
    if isinstance(check, DistributionDriftCheck):
        return _Wanted(dataset, check.column, check.reference, own=True, sample=True)
    if isinstance(check, ReferentialCheck):
        own = check.dataset == dataset
        return _Wanted(check.dataset, check.key, check.version, own=own, sample=False)
    return None


def _resolve(catalog: Catalog, wanted: _Wanted) -> tuple[DeltaTable, int] | Baseline:
    """The table at the version ``wanted`` names, or the baseline that says why there is none."""
    lake = lake_of(catalog)
    try:
        table = open_table(lake, wanted.dataset)
    except DatasetNotFoundError:
        if wanted.own:  # its first batch: no version exists to compare with, nor to tag
            return Baseline(f"{wanted.dataset} (no version yet)")
        problem = f"dataset {wanted.dataset!r} has no table yet; ingest it first"
        return Baseline(wanted.label, None, problem)
    try:
        version = resolve_version(catalog, wanted.dataset, wanted.at, table, tiers=True)
        if version != table.version():
            table = open_table(lake, wanted.dataset, version)
            require_files(lake, wanted.dataset, table)
    except ThermoclineError as error:
        return Baseline(wanted.label, None, str(error))
    return table, version


def _read(lake: Lake, wanted: _Wanted, table: DeltaTable, version: int) -> Baseline:
    """The column ``wanted`` names from ``table`` (at ``version``): sampled or distinct."""
    label = f"{wanted.dataset}@{version}"
    if isinstance(wanted.at, str) and not wanted.at.isdigit():
        label = f"{wanted.dataset}@{wanted.at} (version {version})"
    data = table.to_pyarrow_dataset(filesystem=lake.table_filesystem(wanted.dataset))
    if wanted.column not in data.schema.names:
        if wanted.own and wanted.at is None:
            return Baseline(f"{label}, which has no column {wanted.column} yet")
        problem = f"no column {wanted.column!r} at version {version}"
        return Baseline(label, None, problem)
    if wanted.sample:
        total = sum(
            int(n or 0) for n in pa.table(table.get_add_actions())["num_records"].to_pylist()
        )
        values = reference_values(data, wanted.column, total, seed=version)
    else:
        values = key_values(data, wanted.column)
    return Baseline(label, values)


def reference_values(
    data: pads.Dataset,
    column: str,
    rows: int,
    *,
    limit: int = REFERENCE_SAMPLE,
    seed: int = 0,
) -> pa.ChunkedArray:
    """At most ``limit`` values of ``column`` of ``data`` (``rows`` rows in all), uniformly
    sampled with a fixed ``seed`` (the same version gives the same sample).

    Up to ``10 * limit`` rows the column is read whole; beyond, whole files are read in a
    seeded random order until ``2 * limit`` rows are in (files are publishes, so the sample
    spans random publishes of the version without reading all of it), then rows are drawn.
    """
    if rows <= 10 * limit:
        read = data.to_table(columns=[column]).column(0)
    else:
        fragments = list(data.get_fragments())
        chunks: list[pa.Array] = []
        taken = 0
        for index in np.random.default_rng(seed).permutation(len(fragments)):
            part = fragments[index].to_table(columns=[column], schema=data.schema).column(0)
            chunks += part.chunks
            taken += len(part)
            if taken >= 2 * limit:
                break
        read = pa.chunked_array(chunks, data.schema.field(column).type)
    if len(read) <= limit:
        return read
    picked = np.sort(np.random.default_rng(seed).choice(len(read), limit, replace=False))
    return read.take(pa.array(picked))


def key_values(data: pads.Dataset, column: str) -> pa.ChunkedArray:
    """The distinct non-null values of ``column``: what a referential check looks values up in."""
    keys = pc.unique(data.to_table(columns=[column]).column(0))
    return pa.chunked_array([keys.drop_null()])


@dataclass
class _Entry:
    baseline: Baseline
    version: int | None
    checked: float


class BaselineCache:
    """Baselines kept between the batches of a long-running ingester.

    :meth:`get` returns a kept baseline without any IO until ``max_age_s`` have passed; then
    it resolves the reference version again (a log read, and a tag lookup for tags) and reads
    the column only if that version changed (a tag moved, the key dataset published). So a
    micro-batch stream reads a reference about once a minute at most, whatever its rate. A
    missing reference (no table yet, an unknown tag) is not kept: it is looked up per batch.
    :meth:`recheck_keys` makes the key columns due at once, e.g. to re-judge a batch that failed
    against kept keys.
    """

    def __init__(self, max_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.max_age_s = max_age_s
        self._clock = clock
        self._entries: dict[_Wanted, _Entry] = {}
        self.reads = 0  # columns read (not resolutions): what the cache saves

    def get(self, wanted: _Wanted, catalog: Catalog) -> Baseline:
        """The baseline ``wanted`` names, kept or read now."""
        now = self._clock()
        entry = self._entries.get(wanted)
        if entry is not None and now - entry.checked < self.max_age_s:
            return entry.baseline
        resolved = _resolve(catalog, wanted)
        if isinstance(resolved, Baseline):
            # Not kept: the table or the tag may appear with the next batch.
            self._entries.pop(wanted, None)
            return resolved
        if entry is not None and entry.version == resolved[1]:
            entry.checked = now
        else:
            table, version = resolved
            self.reads += 1
            entry = _Entry(_read(lake_of(catalog), wanted, table, version), version, now)
            if entry.baseline.values is None:  # e.g. no such column yet: looked up again
                self._entries.pop(wanted, None)
                return entry.baseline
        self._entries[wanted] = entry
        return entry.baseline

    def recheck_keys(self) -> None:
        """Make the next :meth:`get` of every key column (a referential check's) resolve its
        version again, as if its time were up: it reads the column only if the key dataset
        published since. Drift references stay kept."""
        for wanted, entry in self._entries.items():
            if not wanted.sample:
                entry.checked = -math.inf


class _Uncached(BaselineCache):
    """Reads every time: what a batch run (one context per run) uses."""

    def get(self, wanted: _Wanted, catalog: Catalog) -> Baseline:
        resolved = _resolve(catalog, wanted)
        if isinstance(resolved, Baseline):
            return resolved
        return _read(lake_of(catalog), wanted, *resolved)


_UNCACHED = _Uncached()
