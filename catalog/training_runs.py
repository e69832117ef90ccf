"""Training reads in the catalog: which run read which dataset version, how (DESIGN.md >
Decisions 4 and 13: the commit says what went into a version, the catalog what came out).

One append-only table, ``_catalog/training_runs``, one row per run and dataset version: the
loader (:class:`~thermocline.datasets.training.TableDataset`) records it when a run starts
iterating, with the columns, filter, seed, world size and the code version of the process.
A run that reads the same version again (a resumed job, a second epoch in a new process) adds
no row: :meth:`TrainingRuns.record` looks for the row first, and reads keep the first row of a
(run, dataset, version) should two processes of one run ever race.

Rows are never rewritten, so a run's record outlives rollbacks and vacuum of what it read.

>>> catalog.runs.record(TrainingRun("run-7", "rides", 3, ("fare",), None, 7, 2))  # doctest: +SKIP
True
>>> [(r.run_id, r.version) for r in catalog.runs.find("rides")]                  # doctest: +SKIP
[('run-7', 3)]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = ["TrainingRun", "TrainingRuns"]

_TIME = pa.timestamp("us", tz="UTC")
# dataset, version and run_id first: Delta keeps statistics of the leading columns, so a read
# of one dataset's runs (or one run) opens only the files that can hold them.
_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("run_id", pa.string()),
        ("started_at", _TIME),
        ("columns", pa.string()),
        ("filter", pa.string()),
        ("seed", pa.int64()),
        ("shuffle", pa.bool_()),
        ("batch_size", pa.int64()),
        ("world_size", pa.int64()),
        ("rows", pa.int64()),
        ("fingerprint", pa.string()),
        ("code_version", pa.string()),
        ("user", pa.string()),
    ]
)


def _now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class TrainingRun:
    """One training read: run ``run_id`` read ``dataset@version`` (these ``columns``, rows
    where ``filter`` holds, dealt by ``seed`` over ``world_size`` ranks) with code at
    ``code_version`` (a git commit, None when the process ran outside a git checkout)."""

    run_id: str
    dataset: str
    version: int
    columns: tuple[str, ...]
    filter: str | None
    seed: int
    world_size: int
    shuffle: bool = False
    batch_size: int = 0
    rows: int = 0
    fingerprint: str = ""
    code_version: str | None = None
    user: str = ""
    started_at: datetime = field(default_factory=_now)

    @property
    def ref(self) -> str:
        """``dataset@version``, as the CLI writes a version."""
        return f"{self.dataset}@{self.version}"


class TrainingRuns:
    """The ``_catalog/training_runs`` table of one lake (``catalog.runs``)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "training_runs", _SCHEMA)

    def record(self, run: TrainingRun) -> bool:
        """Append ``run`` unless its (run id, dataset, version) is already recorded; return
        whether it was appended (one commit)."""
        if not run.run_id:
            raise InputError("a training run needs a run id; pass run='...' or leave it out")
        snapshot = self._table.existing()
        if snapshot is not None:
            where = _where(run.dataset, run.run_id) & (pads.field("version") == run.version)
            if self._table.read(snapshot, columns=["run_id"], where=where).num_rows:
                return False
        self._table.append([_row(run)], snapshot)
        return True

    def find(self, dataset: str | None = None, run_id: str | None = None) -> list[TrainingRun]:
        """The recorded runs, newest first; of one ``dataset`` and/or one ``run_id`` when
        given. A run that read several datasets (or versions) is one entry per version."""
        rows = self._table.read(where=_where(dataset, run_id)).sort_by("started_at").to_pylist()
        first: dict[tuple[str, str, int], TrainingRun] = {}
        for row in rows:
            first.setdefault((row["run_id"], row["dataset"], row["version"]), _run(row))
        return sorted(first.values(), key=lambda r: r.started_at, reverse=True)


def _where(dataset: str | None, run_id: str | None) -> pads.Expression | None:
    where: pads.Expression | None = None
    for name, value in (("dataset", dataset), ("run_id", run_id)):
        if value is not None:
            term = pads.field(name) == value
            where = term if where is None else where & term
    return where


def _row(run: TrainingRun) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "version": run.version,
        "run_id": run.run_id,
        "started_at": run.started_at.astimezone(UTC),
        "columns": json.dumps(list(run.columns)),
        "filter": run.filter,
        "seed": run.seed,
        "shuffle": run.shuffle,
        "batch_size": run.batch_size,
        "world_size": run.world_size,
        "rows": run.rows,
        "fingerprint": run.fingerprint,
        "code_version": run.code_version,
        "user": run.user,
    }


def _run(row: dict[str, Any]) -> TrainingRun:
    return TrainingRun(
        run_id=row["run_id"],
        dataset=row["dataset"],
        version=row["version"],
        columns=tuple(json.loads(row["columns"] or "[]")),
        filter=row["filter"],
        seed=row["seed"],
        world_size=row["world_size"],
        shuffle=bool(row["shuffle"]),
        batch_size=row["batch_size"] or 0,
        rows=row["rows"] or 0,
        fingerprint=row["fingerprint"] or "",
        code_version=row["code_version"],
        user=row["user"] or "",
        started_at=row["started_at"],
    )
