"""The row-level built-in checks, each compiled into its share of the batch's one aggregate
DuckDB query (:class:`~thermocline.quality.query.CheckPlan`): ``not_null``, ``unique``,
``accepted_values`` and ``range``. Every result carries the rows that broke the check
(``failing_rows``, ``observed``), the bound (``threshold``) and a few offending values
(``sample``) besides the metadata numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from thermocline.catalog.config import (
    AcceptedValuesCheck,
    NotNullCheck,
    RangeCheck,
    UniqueCheck,
)
from thermocline.quality.messages import (
    as_number,
    show_bounds,
    show_column,
    show_columns,
    show_number,
    show_observed,
    show_value,
)
from thermocline.quality.query import CheckPlan, all_rows, first_row
from thermocline.quality.results import CheckResult, MetadataValue, check_result

__all__ = ["plan_accepted_values", "plan_not_null", "plan_range", "plan_unique"]

_NONE = "== 0"  # the threshold of a check that no row may break


def plan_not_null(plan: CheckPlan, spec: NotNullCheck, aliases: list[str], rows: int) -> None:
    """No nulls in any listed column (a NaN is a value, not a null)."""
    any_null = " OR ".join(f"{a} IS NULL" for a in aliases)
    plan.expressions.append(f"count(*) FILTER (WHERE {any_null})")
    plan.expressions.extend(f"count(*) FILTER (WHERE {a} IS NULL)" for a in aliases)
    label = show_columns(spec.columns)

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        failing, *per_column = (int(v) for v in values)
        metadata: dict[str, MetadataValue] = {"rows": rows, "failing_rows": failing}
        metadata.update({f"nulls.{c}": n for c, n in zip(spec.columns, per_column, strict=True)})
        if failing == 0:
            message = f"{label}: no nulls in {rows} rows"
            return check_result(
                spec,
                plan.name,
                True,
                message,
                metadata,
                observed=failing,
                threshold=_NONE,
                failing_rows=failing,
            )
        if len(spec.columns) == 1:
            message = f"{label}: {failing} of {rows} rows are null"
        else:
            counts = ", ".join(
                f"{show_column(c)} {n}" for c, n in zip(spec.columns, per_column, strict=True)
            )
            message = f"{label}: {failing} of {rows} rows have nulls ({counts})"
        return check_result(
            spec,
            plan.name,
            False,
            message,
            metadata,
            observed=failing,
            threshold=_NONE,
            failing_rows=failing,
        )

    plan.finish = finish


def plan_unique(plan: CheckPlan, spec: UniqueCheck, aliases: list[str], rows: int) -> None:
    """No key combination twice; a null is a value like any other, and NaN equals NaN."""
    keys = ", ".join(aliases)
    if len(aliases) == 1:
        # count(DISTINCT) skips nulls: all nulls are one more key (hashing a plain column is
        # cheaper than hashing a one-field struct).
        key = aliases[0]
        plan.expressions.append(f"count(DISTINCT {key}) + (count(*) > count({key}))::BIGINT")
    else:
        # row(...) makes a struct, which is never NULL itself, so null keys are counted.
        plan.expressions.append(f"count(DISTINCT row({keys}))")
    label = show_columns(spec.columns)

    def finish(values: Sequence[Any], connection: duckdb.DuckDBPyConnection) -> CheckResult:
        distinct = int(values[0])
        failing = rows - distinct
        metadata: dict[str, MetadataValue] = {
            "rows": rows,
            "failing_rows": failing,
            "distinct_keys": distinct,
        }
        if failing == 0:
            message = f"{label}: all {rows} rows have distinct keys"
            return check_result(
                spec,
                plan.name,
                True,
                message,
                metadata,
                observed=failing,
                threshold=_NONE,
                failing_rows=failing,
            )
        message = f"{label}: {failing} of {rows} rows repeat an earlier key"
        examples = all_rows(
            connection,
            f"SELECT count(*) OVER (), count(*) AS n, {keys} FROM batch GROUP BY ALL"  # noqa: S608
            f" HAVING count(*) > 1 ORDER BY n DESC, {keys} LIMIT 3",
        )
        sample: list[str] = []
        if examples:
            repeated, times, *key = examples[0]
            metadata["repeated_keys"] = int(repeated)
            shown = _key_text(spec.columns, key)
            keys_repeat = "1 key repeats" if repeated == 1 else f"{repeated} keys repeat"
            message += f" ({keys_repeat}), e.g. {shown} appears {times} times"
            sample = [_key_text(spec.columns, key) for _, _, *key in examples]
        return check_result(
            spec,
            plan.name,
            False,
            message,
            metadata,
            sample=sample,
            observed=failing,
            threshold=_NONE,
            failing_rows=failing,
        )

    plan.finish = finish


def _key_text(columns: Sequence[str], key: Sequence[Any]) -> str:
    return ", ".join(f"{show_column(c)}={show_value(v)}" for c, v in zip(columns, key, strict=True))


def plan_accepted_values(
    plan: CheckPlan,
    spec: AcceptedValuesCheck,
    alias: str,
    kind: pa.DataType,
    rows: int,
) -> str | None:
    """Every non-null value is in the list; the list is cast to the column's type first.

    The values travel as query parameters, never as SQL text. A listed value that cannot
    be cast to the column's type (``"abc"`` for an int64 column) fails the check: it is a typo
    in the spec that would otherwise silently accept nothing.
    """
    label = show_column(spec.column)
    if pa.types.is_null(kind):
        accepted = pa.array([], pa.null())
    else:
        cast: list[pa.Array] = []
        for value in spec.values:
            try:
                cast.append(pa.array([value]).cast(kind, safe=True))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return (
                    f"{label}: accepted value {show_value(value)} cannot be compared with the "
                    f"column's type {kind}; fix the check's values"
                )
        accepted = pa.concat_arrays(cast)
    # The values go in as named parameters of the column's type (never SQL text); an IN list
    # is cheaper for DuckDB than a subquery over a registered table (a join per batch).
    listed = ", ".join(plan.param(v) for v in accepted.to_pylist()) or "NULL"
    outside = f"{alias} NOT IN ({listed})"
    plan.expressions.append(f"count(*) FILTER (WHERE {outside})")
    threshold = "in " + "[" + ", ".join(show_value(v) for v in spec.values) + "]"

    def finish(values: Sequence[Any], connection: duckdb.DuckDBPyConnection) -> CheckResult:
        failing = int(values[0])
        metadata: dict[str, MetadataValue] = {"rows": rows, "failing_rows": failing}
        if failing == 0:
            message = f"{label}: every non-null value of {rows} rows is accepted"
            return check_result(
                spec,
                plan.name,
                True,
                message,
                metadata,
                observed=failing,
                threshold=threshold,
                failing_rows=failing,
            )
        message = f"{label}: {failing} of {rows} rows have values outside the accepted list"
        examples = all_rows(
            connection,
            f"SELECT count(*) OVER (), count(*) AS n, {alias} FROM batch WHERE {outside}"  # noqa: S608
            f" GROUP BY {alias} ORDER BY n DESC, {alias} LIMIT 3",
            plan.params,
        )
        sample: list[str] = []
        if examples:
            metadata["unexpected_values"] = int(examples[0][0])
            shown = ", ".join(f"{show_value(v)} ({n})" for _, n, v in examples)
            message += f", e.g. {shown}"
            sample = [show_value(v) for _, _, v in examples]
        return check_result(
            spec,
            plan.name,
            False,
            message,
            metadata,
            sample=sample,
            observed=failing,
            threshold=threshold,
            failing_rows=failing,
        )

    plan.finish = finish
    return None


def plan_range(
    plan: CheckPlan, spec: RangeCheck, alias: str, kind: pa.DataType, rows: int
) -> str | None:
    """Non-null values lie within ``[min, max]``; NaN lies outside every range."""
    label = show_column(spec.column)
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if not (numeric or pa.types.is_null(kind)):
        return f"{label}: a range check needs a numeric column, got {kind}"
    floating = pa.types.is_floating(kind)
    # Nulls fall out of every comparison and of min/max by themselves. DuckDB sorts NaN above
    # every number: it is never below min, always above max and the max itself when present,
    # so `finish` takes the NaN count out of "above max" and asks for the highest number again
    # (only then, on a failing batch). Plain aggregates keep the passing case to one cheap scan.
    below = (
        f"count(*) FILTER (WHERE {alias} < {plan.param(spec.min)})" if spec.min is not None else "0"
    )
    above = (
        f"count(*) FILTER (WHERE {alias} > {plan.param(spec.max)})" if spec.max is not None else "0"
    )
    plan.expressions += [
        below,
        above,
        f"count(*) FILTER (WHERE isnan({alias}))" if floating else "0",
        f"min({alias})",
        f"max({alias})",
    ]
    bounds = show_bounds(spec.min, spec.max)
    threshold = " and ".join(
        f"{op} {show_number(bound)}"
        for op, bound in ((">=", spec.min), ("<=", spec.max))
        if bound is not None
    )

    def finish(values: Sequence[Any], connection: duckdb.DuckDBPyConnection) -> CheckResult:
        n_below, n_above, n_nan = (int(v) for v in values[:3])
        lowest, highest = (as_number(v) for v in values[3:])
        if n_nan:
            if spec.max is not None:
                n_above -= n_nan
            if isinstance(lowest, float) and math.isnan(lowest):
                lowest = highest = None  # every value is NaN
            else:
                numbers = first_row(
                    connection,
                    f"SELECT max({alias}) FROM batch WHERE NOT isnan({alias})",  # noqa: S608
                )
                highest = as_number(numbers[0]) if numbers else None
        failing = n_below + n_above + n_nan
        metadata: dict[str, MetadataValue] = {
            "rows": rows,
            "failing_rows": failing,
            "below_min": n_below,
            "above_max": n_above,
        }
        if floating:
            metadata["nan_rows"] = n_nan
        if lowest is not None and highest is not None:
            metadata["min_value"], metadata["max_value"] = lowest, highest
        if failing == 0:
            message = f"{label}: every non-null value of {rows} rows is {bounds}"
            return check_result(
                spec,
                plan.name,
                True,
                message,
                metadata,
                observed=failing,
                threshold=threshold,
                failing_rows=failing,
            )
        parts: list[tuple[int, str]] = []
        sample: list[str] = []
        if n_below:
            parts.append(
                (n_below, f"below min {show_number(spec.min)} (lowest {show_observed(lowest)})")
            )
            sample.append(show_observed(lowest))
        if n_above:
            parts.append(
                (n_above, f"above max {show_number(spec.max)} (highest {show_observed(highest)})")
            )
            sample.append(show_observed(highest))
        if n_nan:
            parts.append((n_nan, "NaN"))
            sample.append("NaN")
        if len(parts) == 1:
            text = "are NaN" if n_nan else parts[0][1]
            message = f"{label}: {failing} of {rows} rows {text}"
        else:
            detail = ", ".join(f"{n} {text}" for n, text in parts)
            message = f"{label}: {failing} of {rows} rows not {bounds}: {detail}"
        return check_result(
            spec,
            plan.name,
            False,
            message,
            metadata,
            sample=sample,
            observed=failing,
            threshold=threshold,
            failing_rows=failing,
        )

    plan.finish = finish
    return None
