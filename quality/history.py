"""Checks that judge a batch against the history before it: ``row_count`` compares the batch
with the row counts of recent publishes, which the caller hands over in the
:class:`~thermocline.quality.results.CheckContext` (quality reads no lake).
"""

from __future__ import annotations

from collections.abc import Sequence

from thermocline.catalog.config import (
    RowCountCheck,
)
from thermocline.quality.messages import (
    show_number,
    show_percent,
)
from thermocline.quality.results import CheckResult, MetadataValue

__all__ = ["check_row_count"]


def check_row_count(
    spec: RowCountCheck, name: str, rows: int, previous: Sequence[int]
) -> CheckResult:
    """At least ``min_rows`` rows and, with ``max_change``, within that relative change of the
    mean of ``previous`` (all the counts the caller passes). Without earlier batches, or when
    they were all empty, the change is not measured (a relative change to 0 means nothing)."""
    metadata: dict[str, MetadataValue] = {"rows": rows, "min_rows": spec.min_rows}
    problems: list[str] = []
    notes: list[str] = []
    if rows < spec.min_rows:
        problems.append(f"fewer than min {spec.min_rows}")
    else:
        notes.append(f"min {spec.min_rows}")
    if spec.max_change is not None:
        metadata["max_change"] = spec.max_change
        mean = sum(previous) / len(previous) if previous else 0.0
        if not previous:
            notes.append("no earlier batches to compare with")
        elif mean == 0:
            empty = "was" if len(previous) == 1 else "were"
            notes.append(f"{_last(len(previous))} {empty} empty, change not measured")
        else:
            change = (rows - mean) / mean
            metadata.update(previous_mean=mean, previous_batches=len(previous), change=change)
            direction = "more" if change >= 0 else "fewer"
            mean_text = show_number(round(mean, 1))
            text = (
                f"{show_percent(abs(change))} {direction} than the mean {mean_text}"
                f" of {_last(len(previous))} (max change {show_percent(spec.max_change)})"
            )
            (problems if abs(change) > spec.max_change else notes).append(text)
    if problems:
        message = f"batch has {rows} rows, " + "; ".join(problems)
        return CheckResult(name, spec.check, spec.severity, False, message, metadata)
    message = f"{rows} rows (" + "; ".join(notes) + ")"
    return CheckResult(name, spec.check, spec.severity, True, message, metadata)


def _last(count: int) -> str:
    return "the last batch" if count == 1 else f"the last {count} batches"
