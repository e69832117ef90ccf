"""Whether a batch is complete and recent: ``completeness`` (share of non-null values; ``"*"``
judges every column) and ``freshness`` (age of the newest timestamp; ``"*"`` takes the batch's
first timestamp or date column). A single-column check compiles into the batch's aggregate
DuckDB query; ``completeness "*"`` reads Arrow's null counts (kept in the column's buffers,
so it costs nothing per row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from thermocline.catalog.config import CompletenessCheck, FreshnessCheck, parse_duration
from thermocline.quality.messages import (
    show_column,
    show_duration,
    show_instant,
    show_list,
    show_percent,
)
from thermocline.quality.query import CheckPlan
from thermocline.quality.results import CheckResult, MetadataValue, check_result

__all__ = ["check_completeness_all", "first_time_column", "plan_completeness", "plan_freshness"]


def _shown_ratio(ratio: float) -> str:
    # Round the shown ratio down so it never reads as "95%" while it is below a 95% minimum.
    return show_percent(math.floor(ratio * 10_000) / 10_000)


def plan_completeness(plan: CheckPlan, spec: CompletenessCheck, alias: str, rows: int) -> None:
    """At least ``min_ratio`` of the rows are non-null (NaN counts as present).

    An empty batch passes: it has no missing values, and ``row_count`` is the check for
    batches that should not be empty.
    """
    plan.expressions.append(f"count({alias})")
    label = show_column(spec.column)
    wanted = show_percent(spec.min_ratio)
    threshold = f">= {spec.min_ratio:g}"

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        present = int(values[0])
        failing = rows - present
        metadata: dict[str, MetadataValue] = {
            "rows": rows,
            "failing_rows": failing,
            "min_ratio": spec.min_ratio,
        }
        if rows == 0:
            message = f"{label}: empty batch, nothing to measure"
            return check_result(
                spec, plan.name, True, message, metadata, threshold=threshold, failing_rows=0
            )
        ratio = present / rows
        metadata["ratio"] = ratio
        shown = f"{label}: {_shown_ratio(ratio)} non-null ({present} of {rows} rows)"
        passed = ratio >= spec.min_ratio
        message = f"{shown}, min {wanted}" if passed else f"{shown}, below min {wanted}"
        return check_result(
            spec,
            plan.name,
            passed,
            message,
            metadata,
            observed=ratio,
            threshold=threshold,
            failing_rows=failing,
        )

    plan.finish = finish


def check_completeness_all(spec: CompletenessCheck, name: str, batch: pa.Table) -> CheckResult:
    """``completeness`` with ``column: "*"``: every column at least ``min_ratio`` non-null.

    ``observed`` is the worst column's ratio and ``failing_rows`` its null count; the message
    names every column below the minimum, worst first. A batch without rows or columns passes.
    """
    rows = batch.num_rows
    wanted = show_percent(spec.min_ratio)
    threshold = f">= {spec.min_ratio:g}"
    metadata: dict[str, MetadataValue] = {
        "rows": rows,
        "columns": batch.num_columns,
        "min_ratio": spec.min_ratio,
    }
    if rows == 0 or batch.num_columns == 0:
        what = "empty batch" if rows == 0 else "no columns"
        message = f"every column: {what}, nothing to measure"
        return check_result(spec, name, True, message, metadata, threshold=threshold)
    ratios = [(1 - column.null_count / rows, i) for i, column in enumerate(batch.columns)]
    ratios.sort()
    worst, worst_index = ratios[0]
    failing = [(ratio, i) for ratio, i in ratios if ratio < spec.min_ratio]
    metadata.update(
        ratio=worst,
        failing_rows=batch.column(worst_index).null_count,
        failing_columns=len(failing),
        worst_column=batch.schema.names[worst_index],
    )
    judged: dict[str, Any] = {
        "observed": worst,
        "threshold": threshold,
        "failing_rows": batch.column(worst_index).null_count,
    }
    worst_name = show_column(batch.schema.names[worst_index])
    if not failing:
        message = (
            f"all {batch.num_columns} columns at least {wanted} non-null "
            f"(lowest {worst_name} {_shown_ratio(worst)})"
        )
        return check_result(spec, name, True, message, metadata, **judged)
    shown = [f"{show_column(batch.schema.names[i])} {_shown_ratio(r)}" for r, i in failing]
    columns = "1 column" if len(failing) == 1 else f"{len(failing)} of {batch.num_columns} columns"
    message = f"{columns} below min {wanted} non-null: {show_list(shown)}"
    sample = [batch.schema.names[i] for _, i in failing[:5]]
    return check_result(spec, name, False, message, metadata, sample=sample, **judged)


def first_time_column(schema: pa.Schema) -> int | None:
    """The index of the first timestamp or date column (``freshness "*"``), or None."""
    for index, field in enumerate(schema):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return index
    return None


def plan_freshness(
    plan: CheckPlan,
    spec: FreshnessCheck,
    column: str,
    alias: str,
    kind: pa.DataType,
    now: datetime,
    rows: int,
) -> str | None:
    """The newest value of ``column`` is at most ``max_age`` old at ``context.now``.

    Timestamps with a zone are compared as instants; naive ones are read as UTC. A date stands
    for its whole day, so its age is counted from the end of that day (UTC): a ``day`` column
    holding today is fresh. A newest value in the future passes (age < 0, shown as such). An empty
    or all-null column fails: nothing shows the data is fresh. ``column`` is the spec's, or the
    one ``"*"`` chose.
    """
    label = show_column(column)
    is_date = pa.types.is_date(kind)
    if not (pa.types.is_timestamp(kind) or is_date):
        return f"{label}: a freshness check needs a timestamp or date column, got {kind}"
    # DuckDB has no epoch_us for nanosecond timestamps with a zone; epoch_ns covers them.
    nanos = pa.types.is_timestamp(kind) and kind.unit == "ns"
    newest = f"epoch_ns(max({alias})) // 1000" if nanos else f"epoch_us(max({alias}))"
    plan.expressions.append(newest)
    max_age = parse_duration(spec.max_age)
    now_us = _epoch_us(now)
    threshold = f"<= {spec.max_age}"

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        metadata: dict[str, MetadataValue] = {"rows": rows, "max_age_seconds": max_age}
        if spec.column == "*":
            metadata["column"] = column
        if values[0] is None:
            what = "the batch is empty" if rows == 0 else f"all {rows} rows are null"
            message = f"{label}: no values to tell freshness by ({what})"
            return check_result(spec, plan.name, False, message, metadata, threshold=threshold)
        newest_us = int(values[0])
        newest = show_instant(newest_us, is_date)
        if is_date:
            newest_us += 86_400_000_000
        age = (now_us - newest_us) / 1_000_000
        metadata["newest"] = newest
        metadata["newest_age_seconds"] = age
        judged: dict[str, Any] = {"observed": age, "threshold": threshold, "sample": [newest]}
        if age < 0:
            message = f"{label}: newest value {newest} is {show_duration(-age)} in the future"
            return check_result(spec, plan.name, True, message, metadata, **judged)
        if age <= max_age:
            shown = show_duration(age)
            message = f"{label}: newest value {newest} is {shown} old (max_age {spec.max_age})"
            return check_result(spec, plan.name, True, message, metadata, **judged)
        message = (
            f"{label}: newest value {newest} is {show_duration(age)} old, "
            f"older than max_age {spec.max_age}"
        )
        return check_result(spec, plan.name, False, message, metadata, **judged)

    plan.finish = finish
    return None


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
