"""Checks that judge a batch's size against the publishes before it: ``row_count`` (a floor,
and with ``max_change`` a relative change) and ``volume`` (an anomaly test). Both compare with
the **median** of recent row counts, which the caller hands over in the
:class:`~thermocline.quality.results.CheckContext` (quality reads no lake): one backfill or one
empty run among the recent publishes does not move a median, where it drags a mean.

>>> from datetime import UTC, datetime
>>> from thermocline.catalog.config import VolumeCheck
>>> spec = VolumeCheck(check="volume")
>>> context_counts = [1000, 1010, 990, 1005, 995]
>>> result = check_volume(spec, "volume", 400, context_counts)
>>> result.passed, round(result.observed, 1)  # |400 - 1000| / (1.4826 * 5)
(False, 80.9)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thermocline.catalog.config import RowCountCheck, VolumeCheck
from thermocline.quality.messages import show_number, show_observed, show_percent
from thermocline.quality.results import CheckResult, MetadataValue, check_result

__all__ = ["ROW_COUNT_WINDOW", "Baseline", "check_row_count", "check_volume", "row_baseline"]

ROW_COUNT_WINDOW = 10
"""How many recent publishes ``row_count``'s ``max_change`` compares with."""

_MAD_SCALE = 1.4826  # MAD * 1.4826 estimates the standard deviation of normal data
_MEAN_AD_SCALE = 1.2533  # so does the mean absolute deviation * 1.2533 (sqrt(pi / 2))


@dataclass(frozen=True)
class Baseline:
    """The recent row counts a batch is compared with: their median and median absolute
    deviation (MAD), and how many there were."""

    median: float
    mad: float
    count: int
    spread: float = 0.0  # the robust standard deviation the z-score divides by (0: all equal)

    def change(self, rows: int) -> float | None:
        """The relative change of ``rows`` against the median (None when the median is 0)."""
        return None if self.median == 0 else (rows - self.median) / self.median


def row_baseline(previous: Sequence[int]) -> Baseline | None:
    """The median and MAD of ``previous`` (None when there is none)."""
    if not previous:
        return None
    counts = np.asarray(previous, dtype=np.float64)
    median = float(np.median(counts))
    deviations = np.abs(counts - median)
    mad = float(np.median(deviations))
    # More than half the counts equal make the MAD 0 while the rest still vary: then the mean
    # absolute deviation (x 1.2533, also a normal standard deviation) measures the spread.
    spread = _MAD_SCALE * mad if mad > 0 else _MEAN_AD_SCALE * float(np.mean(deviations))
    return Baseline(median, mad, len(counts), spread)


def check_row_count(
    spec: RowCountCheck, name: str, rows: int, previous: Sequence[int]
) -> CheckResult:
    """At least ``min_rows`` rows and, with ``max_change``, within that relative change of the
    median of the last :data:`ROW_COUNT_WINDOW` publishes in ``previous`` (newest first).
    Without earlier batches, or when their median is 0, the change is not measured (a relative
    change to 0 means nothing). ``observed`` is the row count."""
    previous = previous[:ROW_COUNT_WINDOW]
    metadata: dict[str, MetadataValue] = {"rows": rows, "min_rows": spec.min_rows}
    problems: list[str] = []
    notes: list[str] = []
    threshold = f">= {spec.min_rows}"
    if rows < spec.min_rows:
        problems.append(f"fewer than min {spec.min_rows}")
    else:
        notes.append(f"min {spec.min_rows}")
    if spec.max_change is not None:
        metadata["max_change"] = spec.max_change
        threshold += f", change <= {show_percent(spec.max_change)}"
        baseline = row_baseline(previous)
        change = None if baseline is None else baseline.change(rows)
        if baseline is None:
            notes.append("no earlier batches to compare with")
        elif change is None:
            median_of = "had" if len(previous) == 1 else "have a median of"
            notes.append(f"{_last(len(previous))} {median_of} 0 rows, change not measured")
        else:
            metadata.update(
                previous_median=baseline.median, previous_batches=baseline.count, change=change
            )
            text = f"{_change_text(change, baseline)} (max change {show_percent(spec.max_change)})"
            (problems if abs(change) > spec.max_change else notes).append(text)
    passed = not problems
    if problems:
        message = f"batch has {rows} rows, " + "; ".join(problems)
    else:
        message = f"{rows} rows (" + "; ".join(notes) + ")"
    return check_result(spec, name, passed, message, metadata, observed=rows, threshold=threshold)


def check_volume(spec: VolumeCheck, name: str, rows: int, previous: Sequence[int]) -> CheckResult:
    """The batch's row count is no outlier among the last ``window`` publishes in
    ``previous`` (newest first).

    The robust z-score ``|rows - median| / (1.4826 * MAD)`` must be at most ``max_deviation``
    (``observed`` is that z); with ``max_change``, the change against the median must also be
    within it. When more than half the recent counts are equal (MAD 0) the spread is the mean
    absolute deviation instead; when every one is equal no z-score exists: the change is judged
    by ``max_change`` if set, else the count must equal the median exactly (``observed`` is
    then the change or the row count). With fewer than ``min_history`` earlier publishes the
    check passes, saying so.
    """
    previous = previous[: spec.window]
    metadata: dict[str, MetadataValue] = {"rows": rows, "history": len(previous)}
    baseline = row_baseline(previous)
    if baseline is None or baseline.count < spec.min_history:
        message = (
            f"{rows} rows; {len(previous)} of {spec.min_history} earlier publishes needed "
            "before the volume is judged"
        )
        return check_result(spec, name, True, message, metadata, engine="history")
    change = baseline.change(rows)
    metadata.update(median=baseline.median, mad=baseline.mad)
    if change is not None:
        metadata["change"] = change
    median = show_number(round(baseline.median, 1))
    of = f"the median {median} of the last {baseline.count} publishes"
    problems: list[str] = []
    notes: list[str] = []
    observed: float
    if baseline.spread > 0:
        z = abs(rows - baseline.median) / baseline.spread
        metadata["robust_z"] = z
        observed, threshold = z, f"<= {show_number(spec.max_deviation)}"
        mean_deviation = show_observed(round(baseline.spread / _MEAN_AD_SCALE, 2))
        spread = (
            f"MAD {show_observed(baseline.mad)}"
            if baseline.mad > 0
            else f"MAD 0, mean deviation {mean_deviation}"
        )
        text = (
            f"{show_observed(z)} robust deviations from {of} "
            f"({spread}, max {show_number(spec.max_deviation)})"
        )
        (problems if z > spec.max_deviation else notes).append(text)
    elif spec.max_change is None:
        observed, threshold = float(rows), f"== {median}"
        text = f"every one of the last {baseline.count} publishes had {median} rows (MAD 0: "
        text += "judged by equality; set max_change to allow a relative change)"
        (problems if rows != baseline.median else notes).append(text)
    else:
        observed = abs(change) if change is not None else 0.0
        threshold = f"change <= {show_percent(spec.max_change)}"
        notes.append(
            f"the last {baseline.count} publishes all had {median} rows (MAD 0: judged by "
            "max_change)"
        )
    if spec.max_change is not None:
        metadata["max_change"] = spec.max_change
        if change is None:
            notes.append("median 0, change not measured")
        else:
            text = f"{_change_text(change, baseline)} (max change {show_percent(spec.max_change)})"
            (problems if abs(change) > spec.max_change else notes).append(text)
    passed = not problems
    if problems:
        message = f"batch has {rows} rows, " + "; ".join(problems)
    else:
        message = f"{rows} rows: " + "; ".join(notes)
    return check_result(
        spec,
        name,
        passed,
        message,
        metadata,
        engine="history",
        observed=observed,
        threshold=threshold,
    )


def _change_text(change: float, baseline: Baseline) -> str:
    direction = "more" if change >= 0 else "fewer"
    median = show_number(round(baseline.median, 1))
    return (
        f"{show_percent(abs(change))} {direction} than the median {median} "
        f"of {_last(baseline.count)}"
    )


def _last(count: int) -> str:
    return "the last batch" if count == 1 else f"the last {count} batches"
