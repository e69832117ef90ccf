"""The tier inventory: where each data file of each dataset is (its tier and storage class),
since when, and the moves that put it there (DESIGN.md > Decisions 4 and 6).

One append-only table, ``_catalog/tier_inventory``, one row per step of a move. ``tier
apply`` writes an ``intent`` row for each file before it copies the object into its new class
and a ``done`` row after, a batch of files per commit. A crash between the two leaves the
intent: the next run redoes the copy (a copy in place is idempotent) and records it done, so
the inventory always ends matching the objects. A reader treats a file as archived when its
last ``done`` row *or* a later pending intent says ``archive``: an object that might already
sit in an archive class is never read, it is restored. Vacuum records ``gone`` rows for the
files it deleted, whatever their tier.

On a local lake there are no storage classes; the rows record the logical tier all the same,
so plans, reports and the read gate work alike on both lakes.

>>> moved = TierRecord("rides", "day=2026-01-01/a.parquet", "warm", "STANDARD_IA", 4 << 20,
...                    "done", run_id="r1", source_tier="hot")
>>> catalog.tiers.record([moved])                                      # doctest: +SKIP
>>> catalog.tiers.placements("rides")["day=2026-01-01/a.parquet"].tier   # doctest: +SKIP
'warm'
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

import pyarrow as pa
import pyarrow.dataset as pads

from thermocline.catalog.config import Tier
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = ["Placed", "TierInventory", "TierRecord"]

State = Literal["intent", "done", "gone"]
_TIME = pa.timestamp("us", tz="UTC")
# dataset first: Delta keeps statistics of the leading columns, so a read of one dataset's
# rows opens only the files of appends that recorded it.
_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("path", pa.string()),
        ("seq", pa.int64()),
        ("state", pa.string()),
        ("tier", pa.string()),
        ("storage_class", pa.string()),
        ("source_tier", pa.string()),
        ("size_bytes", pa.int64()),
        ("at", _TIME),
        ("run_id", pa.string()),
    ]
)


def _now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class TierRecord:
    """One step of one file's move: ``intent`` (about to copy), ``done`` (copied), or ``gone``
    (vacuum deleted the file). ``path`` is relative to the table root; ``at`` is the time the
    move counts from (the plan's clock: ``tier apply --now`` moves it), which the minimum
    stays in a class are measured from. Rows are ordered by when they were recorded."""

    dataset: str
    path: str
    tier: Tier
    storage_class: str
    size_bytes: int
    state: State
    run_id: str = ""
    source_tier: Tier | None = None
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class Placed:
    """Where one file is: its last ``done`` tier and class (hot and STANDARD before any move),
    since when, and the tier of an intent recorded after that which no ``done`` row finished
    (a move a crash interrupted; None when there is none)."""

    path: str
    tier: Tier
    storage_class: str
    since: datetime | None
    size_bytes: int
    pending: Tier | None = None
    pending_class: str | None = None

    @property
    def archived(self) -> bool:
        """The object is, or may be, in an archive class: readers must not touch it."""
        return self.tier == "archive" or self.pending == "archive"


class TierInventory:
    """The ``_catalog/tier_inventory`` table of one lake (``catalog.tiers``)."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "tier_inventory", _SCHEMA)

    def record(self, records: Sequence[TierRecord]) -> None:
        """Append ``records`` in one commit (a blind append: concurrent ones never conflict)."""
        if records:
            first = time.time_ns()  # orders rows across commits; `at` may be a planned time
            self._table.append([_row(r, first + n) for n, r in enumerate(records)])

    def forget(self, dataset: str, paths: Iterable[str], run_id: str = "") -> list[str]:
        """Record, in one commit, that the files of ``paths`` this inventory places were
        deleted (vacuum, erasure), whatever their tier: a delete needs no restore, even from an
        archive class. Plans, reports and the read gate then leave them out. Returns the paths
        it recorded; files tiering never moved have no rows and need none."""
        placed = self.placements(dataset)
        gone = sorted(p for p in set(paths) if p in placed)
        self.record(
            [
                TierRecord(
                    dataset,
                    path,
                    placed[path].tier,
                    placed[path].storage_class,
                    placed[path].size_bytes,
                    "gone",
                    run_id,
                    placed[path].tier,
                )
                for path in gone
            ]
        )
        return gone

    def placements(self, dataset: str) -> dict[str, Placed]:
        """Path -> where each file of ``dataset`` that the inventory knows is now; files it
        never recorded are hot, files vacuum deleted are left out."""
        rows = self._rows(dataset)
        found: dict[str, Placed] = {}
        for row in rows:
            path = row["path"]
            state = row["state"]
            tier = cast(Tier, row["tier"])
            if state == "gone":
                found.pop(path, None)
            elif state == "done":
                found[path] = Placed(path, tier, row["storage_class"], row["at"], row["size_bytes"])
            else:
                last = found.get(path) or Placed(path, "hot", "STANDARD", None, row["size_bytes"])
                found[path] = Placed(
                    path,
                    last.tier,
                    last.storage_class,
                    last.since,
                    last.size_bytes,
                    tier,
                    row["storage_class"],
                )
        return found

    def archived(self, dataset: str, paths: Iterable[str] | None = None) -> list[str]:
        """The files of ``dataset`` (of ``paths``, when given) that are or may be archived,
        sorted: a read must not touch them."""
        wanted = set(paths) if paths is not None else None
        return sorted(
            path
            for path, placed in self.placements(dataset).items()
            if placed.archived and (wanted is None or path in wanted)
        )

    def _rows(self, dataset: str) -> list[dict[str, Any]]:
        """``dataset``'s rows in the order they were recorded."""
        read = self._table.read(where=pads.field("dataset") == dataset)
        rows: list[dict[str, Any]] = read.to_pylist()
        rows.sort(key=lambda r: r["seq"])
        return rows


def _row(record: TierRecord, seq: int) -> dict[str, Any]:
    return {
        "dataset": record.dataset,
        "path": record.path,
        "seq": seq,
        "state": record.state,
        "tier": record.tier,
        "storage_class": record.storage_class,
        "source_tier": record.source_tier,
        "size_bytes": record.size_bytes,
        "at": record.at,
        "run_id": record.run_id,
    }
