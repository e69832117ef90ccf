"""The release-rollback journal: the plan of a release rollback and each step taken, in the lake.

A release rollback writes its plan (every dataset with the version it had before and the
version it goes to) in one commit before it changes anything, then one row per dataset it
restored (or, when aborted, put back). A journal with neither ``finished`` nor ``aborted`` is
unfinished: ``thermocline release rollback NAME --resume`` finishes it, ``--abort`` undoes it,
and no other release rollback starts meanwhile (DESIGN.md > Decision 5). It lives in
``<lake>/_catalog/release_journal`` and is reached as ``catalog.journal``.

>>> catalog.journal.unfinished()                                         # doctest: +SKIP
[JournalStep(journal_id='9f...', release='r1', dataset='rides', step='planned', ...), ...]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable

from thermocline.catalog.errors import RollbackInProgressError
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = [
    "ABORTED",
    "FINISHED",
    "PLANNED",
    "RESTORED",
    "UNDONE",
    "JournalStep",
    "RollbackJournal",
    "in_progress",
]

PLANNED = "planned"  # one per dataset: from_version -> target_version
RESTORED = "restored"  # a dataset is at its release version (new_version: the restore commit)
UNDONE = "undone"  # an abort put a dataset back at its from_version
FINISHED = "finished"  # the release state was reached
ABORTED = "aborted"  # every dataset is back where it was
_CLOSED = (FINISHED, ABORTED)
_OPENED = "release-rollback"  # app transaction: opening a journal is a compare-and-swap

_SCHEMA = pa.schema(
    [
        ("journal_id", pa.string()),
        ("release", pa.string()),
        ("dataset", pa.string()),
        ("step", pa.string()),
        ("from_version", pa.int64()),
        ("target_version", pa.int64()),
        ("new_version", pa.int64()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class JournalStep:
    """One row of a journal; ``dataset`` is empty on ``finished`` and ``aborted`` rows."""

    journal_id: str
    release: str
    dataset: str
    step: str
    from_version: int | None = None
    target_version: int | None = None
    new_version: int | None = None  # the commit a restore made; None when nothing changed
    at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


class RollbackJournal:
    """The journals of one lake's release rollbacks (an append-only catalog table)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "release_journal", _SCHEMA)

    def steps(self, release: str) -> list[JournalStep]:
        """Rows of the newest journal of ``release``, in order (empty when none was opened)."""
        rows = [s for s in self._rows() if s.release == release]
        return [s for s in rows if s.journal_id == rows[-1].journal_id] if rows else []

    def unfinished(self) -> list[JournalStep]:
        """Rows of the journal that is neither finished nor aborted (empty when none is)."""
        return _unfinished(self._rows())

    def open(self, planned: Iterable[JournalStep]) -> None:
        """Write a new journal's plan in one commit, unless another journal is unfinished
        (:class:`RollbackInProgressError`); two that open at once: one wins, one is refused."""
        rows = [_row(s) for s in planned]

        def attempt(snapshot: DeltaTable) -> None:
            if busy := _unfinished(_steps(self._table.read(snapshot))):
                raise in_progress(busy[0])
            seq = (snapshot.transaction_version(_OPENED) or 0) + 1
            self._table.append(rows, snapshot, (_OPENED, seq))

        self._table.compare_and_swap(attempt)

    def write(self, steps: Iterable[JournalStep]) -> None:
        """Append rows to the open journal in one commit."""
        self._table.append([_row(s) for s in steps])

    def _rows(self) -> list[JournalStep]:
        return _steps(self._table.read())


def in_progress(step: JournalStep) -> RollbackInProgressError:
    """The error for a rollback started while ``step``'s journal is unfinished."""
    name = step.release
    return RollbackInProgressError(
        f"the rollback of release {name} is unfinished (journal {step.journal_id}); finish it "
        f"with `thermocline release rollback {name} --resume` or undo it with "
        f"`thermocline release rollback {name} --abort` first"
    )


def _unfinished(rows: list[JournalStep]) -> list[JournalStep]:
    closed = {s.journal_id for s in rows if s.step in _CLOSED}
    open_ids = [s.journal_id for s in rows if s.journal_id not in closed]
    return [s for s in rows if open_ids and s.journal_id == open_ids[-1]]


def _steps(table: pa.Table) -> list[JournalStep]:
    return [JournalStep(**row) for row in table.sort_by("at").to_pylist()]


def _row(step: JournalStep) -> dict[str, object]:
    return {
        "journal_id": step.journal_id,
        "release": step.release,
        "dataset": step.dataset,
        "step": step.step,
        "from_version": step.from_version,
        "target_version": step.target_version,
        "new_version": step.new_version,
        "at": step.at,
    }
