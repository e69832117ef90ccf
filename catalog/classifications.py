"""Column classifications in the catalog: what PII each column of a dataset holds, per version,
the policy applied to it, and a person's review (DESIGN.md > Decision 11).

Two kinds of rows share ``_catalog/pii_classifications`` (append-only):

- a **scan** row (``review = detected``) for each column a scan judged: at ingest (the version
  it published) or by ``thermocline pii scan`` (the version it read);
- a **review** row (``confirmed`` or ``rejected``) when a person decides.

:meth:`Classifications.current` merges them: the newest scan of each column, carrying the newest
review. A person's decision survives later scans: a confirmation keeps its class, a rejection
stands until a scan finds a *different* class than the one rejected.

>>> found = catalog.pii.current("rides")["rider_email"]        # doctest: +SKIP
>>> found.pii_class, found.review, found.action, found.in_clear  # doctest: +SKIP
('email', 'detected', 'hash', False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

__all__ = ["NOT_PII", "REVIEW_STATES", "Classification", "Classifications", "as_of"]

NOT_PII = "none"
"""The class of a column that holds no personal data."""
REVIEW_STATES = ("detected", "confirmed", "rejected")
_CLEAR_ACTIONS = (None, "allow")  # the actions that store a column's values as they came

_TIME = pa.timestamp("us", tz="UTC")
_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("column", pa.string()),
        ("version", pa.int64()),
        ("pii_class", pa.string()),
        ("confidence", pa.float64()),
        ("detector", pa.string()),
        ("sampled", pa.int64()),
        ("matched", pa.int64()),
        ("action", pa.string()),
        ("review", pa.string()),
        ("at", _TIME),
        ("user", pa.string()),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class Classification:
    """One column's classification: its class, how sure, what decided, what was done to it.

    ``version`` is the dataset version the scan judged (None for a scan of a batch that was
    not published, or a review); ``action`` the policy applied at ingest (None when the column
    was never ingested under a policy, e.g. loaded before PII handling existed).
    """

    dataset: str
    column: str
    pii_class: str
    confidence: float
    detector: str
    sampled: int
    matched: int
    action: str | None = None
    review: str = "detected"
    version: int | None = None
    at: datetime | None = None
    user: str = ""
    reason: str | None = None

    @property
    def is_pii(self) -> bool:
        """Personal data unless nothing was found or a person rejected the finding."""
        return self.pii_class != NOT_PII and self.review != "rejected"

    @property
    def in_clear(self) -> bool:
        """PII stored as it came (allowed, or loaded before a policy applied): what the loader
        refuses unless allowed. Hashed, masked, generalized and dropped columns are not."""
        return self.is_pii and self.action in _CLEAR_ACTIONS

    @property
    def share(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0


class Classifications:
    """The classification rows of one lake's catalog."""

    def __init__(self, lake: Lake) -> None:
        self._table = CatalogTable(lake, "pii_classifications", _SCHEMA)

    def record(self, found: Iterable[Classification], *, user: str) -> None:
        """Append scan rows (one commit; a blind append never conflicts)."""
        at = datetime.now(tz=UTC)
        rows = []
        for row in found:
            if row.review != "detected":
                raise InputError(f"a scan records review 'detected', not {row.review!r}")
            rows.append(_row(replace(row, at=row.at or at, user=row.user or user)))
        if rows:
            self._table.append(rows)

    def review(
        self,
        dataset: str,
        column: str,
        *,
        user: str,
        confirm: str | None = None,
        reject: bool = False,
        reason: str | None = None,
    ) -> Classification:
        """Record a person's decision on ``dataset.column``: ``confirm`` a class, or ``reject``
        the detected one. The decision survives later scans."""
        if (confirm is None) == (not reject):
            raise InputError("review needs one decision: --confirm CLASS or --reject")
        current = self.current(dataset).get(column)
        if confirm is not None:
            found = Classification(
                dataset, column, confirm, 1.0, "person", 0, 0, review="confirmed"
            )
        elif current is None or current.pii_class == NOT_PII:
            raise InputError(
                f"{dataset}.{column} has no detected PII to reject; fix: run "
                f"`thermocline pii scan {dataset}` first, or confirm a class with --confirm"
            )
        else:
            found = replace(current, detector="person", review="rejected", version=None)
        found = replace(found, at=datetime.now(tz=UTC), user=user, reason=reason)
        self._table.append([_row(found)])
        return found

    def history(self, dataset: str | None = None) -> list[Classification]:
        """Every row (of ``dataset``), oldest first."""
        rows = self._table.read().sort_by("at").to_pylist()
        return [_found(r) for r in rows if dataset is None or r["dataset"] == dataset]

    def current(self, dataset: str) -> dict[str, Classification]:
        """The newest scan of each column of ``dataset`` with the newest review applied."""
        return _merge(self.history(dataset))

    def current_all(self) -> dict[str, dict[str, Classification]]:
        """:meth:`current` of every dataset with rows, by dataset, from one read."""
        grouped: dict[str, list[Classification]] = {}
        for row in self.history():
            grouped.setdefault(row.dataset, []).append(row)
        return {dataset: _merge(rows) for dataset, rows in sorted(grouped.items())}

    def in_clear(self, dataset: str) -> set[str]:
        """Columns of ``dataset`` that hold PII in clear by their current classification."""
        return {c for c, found in self.current(dataset).items() if found.in_clear}


def as_of(history: Iterable[Classification], version: int) -> dict[str, Classification]:
    """What applied to ``version``, from one dataset's rows (oldest first, as
    :meth:`Classifications.history` gives them): per column, the newest scan of a version at or
    before ``version`` carrying the newest review (lineage shows each version's decisions)."""
    return _merge(
        row
        for row in history
        if (row.version is None and row.review != "detected")
        or (row.version is not None and row.version <= version)
    )


def _merge(history: Iterable[Classification]) -> dict[str, Classification]:
    """One dataset's rows, oldest first, merged: the newest scan of each column carrying the
    newest review (see the module's docstring)."""
    scans: dict[str, Classification] = {}
    reviews: dict[str, Classification] = {}
    for row in history:
        (scans if row.review == "detected" else reviews)[row.column] = row
    merged: dict[str, Classification] = {}
    for column in {*scans, *reviews}:
        scan, decision = scans.get(column), reviews.get(column)
        if decision is None:
            merged[column] = scan  # type: ignore[assignment]
        elif scan is None:
            merged[column] = decision
        elif decision.review == "confirmed":
            merged[column] = replace(scan, pii_class=decision.pii_class, review="confirmed")
        elif decision.pii_class == scan.pii_class or scan.pii_class == NOT_PII:
            merged[column] = replace(scan, pii_class=decision.pii_class, review="rejected")
        else:  # a later scan found something else than what was rejected
            merged[column] = scan
    return dict(sorted(merged.items()))


def _row(found: Classification) -> dict[str, Any]:
    return asdict(found)


def _found(row: dict[str, Any]) -> Classification:
    return Classification(**row)
