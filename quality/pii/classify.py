"""Column classification: what personal data a column holds, with a confidence, from a sample.

Each column's non-null values are sampled (up to ``sample_rows``, the whole column when it is
smaller; the same seed gives the same sample), every detector runs over the sample, and the
share of values a detector confirms combines with the column-name hints into one class.
A column where only some rows hold PII (free text with an occasional email) is still PII:
its finding is ``mixed`` and reports the share.

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii.classify import classify_table
    >>> [f.pii_class for f in classify_table(pa.table({"contact": ["a@example.com", "b@x.org"]}))]
    ['email']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detectors import DETECTORS, Detector, hint_matches, match_share

__all__ = ["NOT_PII", "ColumnFinding", "classify_column", "classify_table"]

NOT_PII = "none"
"""The class of a column that holds no personal data."""

_CLASSIFIED = 0.5  # the share of sampled values above which a column *is* its class
_WITH_HINT = 0.2  # ... and the share that suffices when the column name agrees
_MIXED_MIN = 2  # confirmed values a free-text column needs to be reported as mixed


@dataclass(frozen=True, slots=True)
class ColumnFinding:
    """What one column holds: ``pii_class`` is a detector name or :data:`NOT_PII`.

    ``detector`` says what decided (the detector's name, ``name:<detector>`` when the column
    name alone did); ``sampled`` non-null values were examined and ``matched`` of them held a
    confirmed value of the class.
    """

    column: str
    pii_class: str
    confidence: float
    detector: str
    sampled: int
    matched: int

    @property
    def is_pii(self) -> bool:
        return self.pii_class != NOT_PII

    @property
    def share(self) -> float:
        """The share of sampled values that hold the class (0 when nothing was sampled)."""
        return self.matched / self.sampled if self.sampled else 0.0

    @property
    def mixed(self) -> bool:
        """PII in some rows only (free text with an occasional email)."""
        return self.is_pii and self.share < _CLASSIFIED


def classify_table(
    table: pa.Table,
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    detectors: Sequence[Detector] | None = None,
) -> list[ColumnFinding]:
    """One finding per column of ``table``, in column order."""
    return [
        classify_column(
            name, table.column(name), sample_rows=sample_rows, seed=seed, detectors=detectors
        )
        for name in table.column_names
    ]


def classify_column(
    name: str,
    values: pa.Array | pa.ChunkedArray,
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    detectors: Sequence[Detector] | None = None,
) -> ColumnFinding:
    """Classify one column from a sample of its non-null values."""
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    if not _readable(values.type):
        return ColumnFinding(name, NOT_PII, 1.0, "", 0, 0)
    sample = _sample(values, sample_rows, seed)
    sampled = len(sample)
    if sampled == 0:
        return ColumnFinding(name, NOT_PII, 0.0, "", 0, 0)
    best: ColumnFinding | None = None
    for detector in detectors if detectors is not None else DETECTORS.values():
        matched, _ = match_share(detector, sample)
        hinted = hint_matches(detector, name)
        share = matched / sampled
        if share >= _CLASSIFIED or (hinted and share >= _WITH_HINT):
            confidence = min(1.0, share + (0.2 if hinted else 0.0))
        elif matched >= _MIXED_MIN:
            confidence = min(1.0, 0.5 + share)
        else:
            continue
        found = ColumnFinding(
            name, detector.name, round(confidence, 4), detector.name, sampled, matched
        )
        if best is None or (found.matched, found.confidence) > (best.matched, best.confidence):
            best = found
    return best or ColumnFinding(name, NOT_PII, 1.0, "", sampled, 0)


def _readable(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
        or pa.types.is_integer(type_)
    )


def _sample(values: pa.Array | pa.ChunkedArray, size: int, seed: int) -> pa.Array:
    """Up to ``size`` non-null values, chosen at random (sorted, reproducible by ``seed``)."""
    present = pc.drop_null(values)
    if isinstance(present, pa.ChunkedArray):
        present = present.combine_chunks()
    if len(present) <= size:
        return present
    rows = np.sort(np.random.default_rng(seed).choice(len(present), size, replace=False))
    return present.take(pa.array(rows))
