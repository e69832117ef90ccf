"""The built-in data-quality checks: DuckDB SQL over an Arrow batch, one result per check.

A dataset's spec lists checks (``quality.checks`` in ``thermocline.yaml``); before a batch is
published, :func:`run_checks` judges it against them and returns one :class:`CheckResult` per
check, in order. Failed ``error`` results (:func:`blocking`) keep the batch from being published.
Everything here is pure: the caller hands over the batch and a :class:`CheckContext` (the clock,
earlier row counts, the declared schema), so the checks read no lake, no clock and no config.

All column checks of a batch run as **one aggregate DuckDB query** over the Arrow table (no copy,
no Python loop over rows); a second small query runs only to quote examples for a failure.

>>> from datetime import UTC, datetime
>>> import pyarrow as pa
>>> from thermocline.catalog.config import NotNullCheck, RangeCheck
>>> from thermocline.quality.builtin import run_checks
>>> from thermocline.quality.results import CheckContext, blocking
>>> batch = pa.table({"ride_id": [1, 2, None], "fare": [12.5, -3.0, 8.0]})
>>> specs = [NotNullCheck(check="not_null", columns=["ride_id"]),
...          RangeCheck(check="range", column="fare", min=0, severity="warn")]
>>> results = run_checks(batch, specs, CheckContext(now=datetime.now(UTC)))
>>> for result in results:
...     print(result.name, result.passed, result.message)
not_null_ride_id False ride_id: 1 of 3 rows are null
range_fare False fare: 1 of 3 rows below min 0 (lowest -3)
>>> [result.name for result in blocking(results)]
['not_null_ride_id']

Semantics worth knowing (each check's docstring below says more):

- **NaN is a value, not a null**: it counts as present for ``not_null`` and ``completeness``,
  equals itself for ``unique``, and lies outside every ``range``.
- ``schema`` fails on undeclared extra columns as well as on missing ones and on types that
  cannot be cast losslessly (decided from the types, not the values).
- A check that names a column the batch lacks gives a failed result saying so, never an error.
- An empty batch passes every column check but ``freshness`` (nothing shows the data is fresh);
  ``row_count`` is the check that decides whether empty is acceptable.
- Naive timestamps are read as UTC; a date counts from the end of its day.

Other judges (a Great Expectations suite, PII detection) plug in beside the built-in checks as a
:class:`BatchCheck`; :class:`BuiltinChecks` is the built-in checks in that shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from thermocline.catalog.config import (
    AcceptedValuesCheck,
    Check,
    CompletenessCheck,
    FreshnessCheck,
    NotNullCheck,
    RangeCheck,
    RowCountCheck,
    SchemaCheck,
    UniqueCheck,
    parse_duration,
)
from thermocline.quality.history import check_row_count
from thermocline.quality.messages import (
    as_number,
    show_bounds,
    show_column,
    show_columns,
    show_duration,
    show_instant,
    show_list,
    show_number,
    show_observed,
    show_percent,
    show_value,
)
from thermocline.quality.query import CheckPlan, Query, all_rows, evaluate, first_row
from thermocline.quality.results import (
    CheckContext,
    CheckResult,
    MetadataValue,
    check_names,
    check_result,
)
from thermocline.quality.schema import check_schema

__all__ = [
    "BuiltinChecks",
    "run_checks",
]


@dataclass(frozen=True)
class BuiltinChecks:
    """A dataset's built-in checks as one :class:`BatchCheck`.

    >>> from thermocline.catalog.config import RangeCheck
    >>> checks = BuiltinChecks([RangeCheck(check="range", column="fare", min=0),
    ...                         RangeCheck(check="range", column="fare", max=500)])
    >>> checks.names  # known up front, e.g. to declare the Dagster asset checks
    ['range_fare', 'range_fare_2']
    """

    specs: Sequence[Check]

    def __post_init__(self) -> None:
        object.__setattr__(self, "specs", tuple(self.specs))

    @property
    def names(self) -> list[str]:
        """The names the results will carry, known before any batch arrives."""
        return check_names(self.specs)

    def __call__(self, batch: pa.Table, context: CheckContext, /) -> list[CheckResult]:
        return run_checks(batch, self.specs, context)


def run_checks(batch: pa.Table, specs: Sequence[Check], context: CheckContext) -> list[CheckResult]:
    """Judge ``batch`` against ``specs``: one result per spec, in order.

    Checks that need the data are compiled into one aggregate SQL query over the batch, run on a
    fresh in-memory DuckDB connection. A column DuckDB cannot read, or a query that fails, fails
    only the checks concerned ("could not evaluate the check: ..."); the others still run.
    """
    names = check_names(specs)
    results: list[CheckResult | None] = [None] * len(specs)
    query = Query(batch)
    plans: list[tuple[int, CheckPlan]] = []
    for position, (spec, name) in enumerate(zip(specs, names, strict=True)):
        outcome = _compile(spec, name, batch, context, query, position)
        if isinstance(outcome, CheckResult):
            results[position] = outcome
        else:
            plans.append((position, outcome))
    if plans:
        connection, unreadable = query.connect()
        try:
            ready = []
            for position, plan in plans:
                problems = [unreadable[i] for i in plan.indices if i in unreadable]
                if problems:
                    reason = f"could not evaluate the check: {problems[0]}"
                    results[position] = check_result(
                        plan.spec, plan.name, False, reason, {"rows": batch.num_rows}
                    )
                else:
                    ready.append((position, plan))
            for position, result in evaluate(connection, ready, batch.num_rows):
                results[position] = result
        finally:
            connection.close()
    return [result for result in results if result is not None]


def _compile(
    spec: Check, name: str, batch: pa.Table, context: CheckContext, query: Query, key: int
) -> CheckResult | CheckPlan:
    """A result for checks that need no query (or cannot run), else the check's plan."""
    if isinstance(spec, SchemaCheck):
        return check_schema(spec, name, batch.schema, context.schema)
    if isinstance(spec, RowCountCheck):
        return check_row_count(spec, name, batch.num_rows, context.previous_row_counts)
    columns = list(spec.columns) if isinstance(spec, NotNullCheck | UniqueCheck) else [spec.column]
    indices: list[int] = []
    for column in columns:
        found = batch.schema.get_all_field_indices(column)
        if len(found) != 1:
            return _column_problem(spec, name, column, len(found), batch)
        indices.append(found[0])
    plan = CheckPlan(spec, name, key, indices)
    if isinstance(spec, NotNullCheck):
        _not_null(plan, spec, [query.column(i) for i in indices], batch.num_rows)
    elif isinstance(spec, UniqueCheck):
        _unique(plan, spec, [query.column(i) for i in indices], batch.num_rows)
    else:
        kind = batch.schema.field(indices[0]).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        alias = query.column(indices[0])
        problem = None
        if isinstance(spec, AcceptedValuesCheck):
            problem = _accepted_values(plan, spec, alias, kind, query, batch.num_rows)
        elif isinstance(spec, RangeCheck):
            problem = _range(plan, spec, alias, kind, batch.num_rows)
        elif isinstance(spec, CompletenessCheck):
            _completeness(plan, spec, alias, batch.num_rows)
        else:
            problem = _freshness(plan, spec, alias, kind, context.now, batch.num_rows)
        if problem is not None:
            return check_result(spec, name, False, problem, {"rows": batch.num_rows})
    return plan


def _column_problem(
    spec: Check, name: str, column: str, count: int, batch: pa.Table
) -> CheckResult:
    if count == 0:
        message = f"{show_column(column)}: column is missing from the batch (columns: "
        message += show_list([show_column(c) for c in batch.schema.names]) + ")"
    else:
        message = f"{show_column(column)}: the batch has {count} columns of that name"
    return check_result(spec, name, False, message, {"rows": batch.num_rows})


def _not_null(plan: CheckPlan, spec: NotNullCheck, aliases: list[str], rows: int) -> None:
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
            return check_result(
                spec, plan.name, True, f"{label}: no nulls in {rows} rows", metadata
            )
        if len(spec.columns) == 1:
            message = f"{label}: {failing} of {rows} rows are null"
        else:
            counts = ", ".join(
                f"{show_column(c)} {n}" for c, n in zip(spec.columns, per_column, strict=True)
            )
            message = f"{label}: {failing} of {rows} rows have nulls ({counts})"
        return check_result(spec, plan.name, False, message, metadata)

    plan.finish = finish


def _unique(plan: CheckPlan, spec: UniqueCheck, aliases: list[str], rows: int) -> None:
    """No key combination twice; a null is a value like any other, and NaN equals NaN."""
    keys = ", ".join(aliases)
    # row(...) makes a struct, which is never NULL itself, so null keys are counted, not skipped.
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
            return check_result(spec, plan.name, True, message, metadata)
        message = f"{label}: {failing} of {rows} rows repeat an earlier key"
        example = first_row(
            connection,
            f"SELECT count(*) OVER (), count(*) AS n, {keys} FROM batch GROUP BY ALL"  # noqa: S608
            f" HAVING count(*) > 1 ORDER BY n DESC, {keys} LIMIT 1",
        )
        if example is not None:
            repeated, times, *key = example
            metadata["repeated_keys"] = int(repeated)
            shown = ", ".join(
                f"{show_column(c)}={show_value(v)}" for c, v in zip(spec.columns, key, strict=True)
            )
            keys_repeat = "1 key repeats" if repeated == 1 else f"{repeated} keys repeat"
            message += f" ({keys_repeat}), e.g. {shown} appears {times} times"
        return check_result(spec, plan.name, False, message, metadata)

    plan.finish = finish


def _accepted_values(
    plan: CheckPlan,
    spec: AcceptedValuesCheck,
    alias: str,
    kind: pa.DataType,
    query: Query,
    rows: int,
) -> str | None:
    """Every non-null value is in the list; the list is cast to the column's type first.

    The values travel as a registered Arrow table, never as SQL text. A listed value that cannot
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
    table = query.table(pa.table({"v": accepted}))
    # Only quoted aliases and generated names go into the text; the values stay in the table.
    outside = f"{alias} IS NOT NULL AND {alias} NOT IN (SELECT v FROM {table})"  # noqa: S608
    plan.expressions.append(f"count(*) FILTER (WHERE {outside})")

    def finish(values: Sequence[Any], connection: duckdb.DuckDBPyConnection) -> CheckResult:
        failing = int(values[0])
        metadata: dict[str, MetadataValue] = {"rows": rows, "failing_rows": failing}
        if failing == 0:
            message = f"{label}: every non-null value of {rows} rows is accepted"
            return check_result(spec, plan.name, True, message, metadata)
        message = f"{label}: {failing} of {rows} rows have values outside the accepted list"
        examples = all_rows(
            connection,
            f"SELECT count(*) OVER (), count(*) AS n, {alias} FROM batch WHERE {outside}"  # noqa: S608
            f" GROUP BY {alias} ORDER BY n DESC, {alias} LIMIT 3",
        )
        if examples:
            metadata["unexpected_values"] = int(examples[0][0])
            shown = ", ".join(f"{show_value(v)} ({n})" for _, n, v in examples)
            message += f", e.g. {shown}"
        return check_result(spec, plan.name, False, message, metadata)

    plan.finish = finish
    return None


def _range(
    plan: CheckPlan, spec: RangeCheck, alias: str, kind: pa.DataType, rows: int
) -> str | None:
    """Non-null values lie within ``[min, max]``; NaN lies outside every range."""
    label = show_column(spec.column)
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    if not (numeric or pa.types.is_null(kind)):
        return f"{label}: a range check needs a numeric column, got {kind}"
    floating = pa.types.is_floating(kind)
    # DuckDB sorts NaN above every number: keep it out of "above max" and count it on its own.
    number = f"{alias} IS NOT NULL" + (f" AND NOT isnan({alias})" if floating else "")
    below = f"{alias} < {plan.param(spec.min)}" if spec.min is not None else "false"
    above = f"{alias} > {plan.param(spec.max)}" if spec.max is not None else "false"
    plan.expressions += [
        f"count(*) FILTER (WHERE {number} AND {below})",
        f"count(*) FILTER (WHERE {number} AND {above})",
        f"count(*) FILTER (WHERE isnan({alias}))" if floating else "0",
        f"min({alias}) FILTER (WHERE {number})",
        f"max({alias}) FILTER (WHERE {number})",
    ]
    bounds = show_bounds(spec.min, spec.max)

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        n_below, n_above, n_nan = (int(v) for v in values[:3])
        lowest, highest = (as_number(v) for v in values[3:])
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
            return check_result(spec, plan.name, True, message, metadata)
        parts: list[tuple[int, str]] = []
        if n_below:
            parts.append(
                (n_below, f"below min {show_number(spec.min)} (lowest {show_observed(lowest)})")
            )
        if n_above:
            parts.append(
                (n_above, f"above max {show_number(spec.max)} (highest {show_observed(highest)})")
            )
        if n_nan:
            parts.append((n_nan, "NaN"))
        if len(parts) == 1:
            text = "are NaN" if n_nan else parts[0][1]
            message = f"{label}: {failing} of {rows} rows {text}"
        else:
            detail = ", ".join(f"{n} {text}" for n, text in parts)
            message = f"{label}: {failing} of {rows} rows not {bounds}: {detail}"
        return check_result(spec, plan.name, False, message, metadata)

    plan.finish = finish
    return None


def _completeness(plan: CheckPlan, spec: CompletenessCheck, alias: str, rows: int) -> None:
    """At least ``min_ratio`` of the rows are non-null (NaN counts as present).

    An empty batch passes: it has no missing values, and ``row_count`` is the check for
    batches that should not be empty.
    """
    plan.expressions.append(f"count({alias})")
    label = show_column(spec.column)
    wanted = show_percent(spec.min_ratio)

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        present = int(values[0])
        metadata: dict[str, MetadataValue] = {
            "rows": rows,
            "failing_rows": rows - present,
            "min_ratio": spec.min_ratio,
        }
        if rows == 0:
            return check_result(
                spec, plan.name, True, f"{label}: empty batch, nothing to measure", metadata
            )
        ratio = present / rows
        metadata["ratio"] = ratio
        # Round the shown ratio down so it never reads as "95%" while it is below a 95% minimum.
        floor = math.floor(ratio * 10_000) / 10_000
        shown = f"{label}: {show_percent(floor)} non-null ({present} of {rows} rows)"
        if ratio >= spec.min_ratio:
            return check_result(spec, plan.name, True, f"{shown}, min {wanted}", metadata)
        return check_result(spec, plan.name, False, f"{shown}, below min {wanted}", metadata)

    plan.finish = finish


def _freshness(
    plan: CheckPlan,
    spec: FreshnessCheck,
    alias: str,
    kind: pa.DataType,
    now: datetime,
    rows: int,
) -> str | None:
    """The newest value is at most ``max_age`` old at ``context.now``.

    Timestamps with a zone are compared as instants; naive ones are read as UTC. A date stands
    for its whole day, so its age is counted from the end of that day (UTC): a ``day`` column
    holding today is fresh. A newest value in the future passes (age < 0, shown as such). An empty
    or all-null column fails: nothing shows the data is fresh.
    """
    label = show_column(spec.column)
    is_date = pa.types.is_date(kind)
    if not (pa.types.is_timestamp(kind) or is_date):
        return f"{label}: a freshness check needs a timestamp or date column, got {kind}"
    # DuckDB has no epoch_us for nanosecond timestamps with a zone; epoch_ns covers them.
    nanos = pa.types.is_timestamp(kind) and kind.unit == "ns"
    newest = f"epoch_ns(max({alias})) // 1000" if nanos else f"epoch_us(max({alias}))"
    plan.expressions.append(newest)
    max_age = parse_duration(spec.max_age)
    now_us = _epoch_us(now)

    def finish(values: Sequence[Any], _: duckdb.DuckDBPyConnection) -> CheckResult:
        metadata: dict[str, MetadataValue] = {"rows": rows, "max_age_seconds": max_age}
        if values[0] is None:
            what = "the batch is empty" if rows == 0 else f"all {rows} rows are null"
            message = f"{label}: no values to tell freshness by ({what})"
            return check_result(spec, plan.name, False, message, metadata)
        newest_us = int(values[0])
        newest = show_instant(newest_us, is_date)
        if is_date:
            newest_us += 86_400_000_000
        age = (now_us - newest_us) / 1_000_000
        metadata["newest"] = newest
        metadata["newest_age_seconds"] = age
        if age < 0:
            message = f"{label}: newest value {newest} is {show_duration(-age)} in the future"
            return check_result(spec, plan.name, True, message, metadata)
        if age <= max_age:
            shown = show_duration(age)
            message = f"{label}: newest value {newest} is {shown} old (max_age {spec.max_age})"
            return check_result(spec, plan.name, True, message, metadata)
        message = (
            f"{label}: newest value {newest} is {show_duration(age)} old, "
            f"older than max_age {spec.max_age}"
        )
        return check_result(spec, plan.name, False, message, metadata)

    plan.finish = finish
    return None


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
