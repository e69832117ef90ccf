"""The built-in data-quality checks: DuckDB SQL over an Arrow batch, one result per check.

A dataset's spec lists checks (``quality.checks`` in ``thermocline.yaml``); before a batch is
published, :func:`run_checks` judges it against them and returns one :class:`CheckResult` per
check, in order. Failed ``error`` results (:func:`blocking`) keep the batch from being published.
Everything here is pure: the caller hands over the batch and a :class:`CheckContext` (the clock,
earlier row counts, the declared schema, the schema changes, the baselines of history-aware
checks), so the checks read no lake, no clock and no config.

All column checks of a batch run as **one aggregate DuckDB query** over the Arrow table (no copy,
no Python loop over rows); a second small query runs only to quote examples for a failure.
This module compiles and dispatches; each family lives in its own module:
:mod:`.column_checks` (not_null, unique, accepted_values, range), :mod:`.coverage`
(completeness, freshness, also over ``"*"``), :mod:`.schema`, :mod:`.history` (row_count,
volume), :mod:`.schema_drift`, :mod:`.drift` (distribution_drift) and :mod:`.referential`.
The history-aware ones (``engine="history"``) judge the batch against what the caller read for
them (``context.previous_row_counts``, ``context.schema_changes``, ``context.baselines``).

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
- Every result carries ``observed`` (the number judged), ``threshold`` (the bound, as read),
  ``failing_rows`` where rows can fail and a ``sample`` of offending values, besides metadata.
- Naive timestamps are read as UTC; a date counts from the end of its day.

Other judges (a Great Expectations suite, PII detection) plug in beside the built-in checks as a
:class:`BatchCheck`; :class:`BuiltinChecks` is the built-in checks in that shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from thermocline.catalog.config import (
    AcceptedValuesCheck,
    Check,
    CompletenessCheck,
    DistributionDriftCheck,
    FreshnessCheck,
    NotNullCheck,
    RangeCheck,
    ReferentialCheck,
    RowCountCheck,
    SchemaCheck,
    SchemaDriftCheck,
    UniqueCheck,
    VolumeCheck,
)
from thermocline.quality.column_checks import (
    plan_accepted_values,
    plan_not_null,
    plan_range,
    plan_unique,
)
from thermocline.quality.coverage import (
    check_completeness_all,
    first_time_column,
    plan_completeness,
    plan_freshness,
)
from thermocline.quality.drift import check_distribution_drift
from thermocline.quality.history import check_row_count, check_volume
from thermocline.quality.messages import show_column, show_list
from thermocline.quality.query import CheckPlan, Query, evaluate
from thermocline.quality.referential import check_referential
from thermocline.quality.results import (
    CheckContext,
    CheckResult,
    check_names,
    check_result,
    engine_of,
)
from thermocline.quality.schema import check_schema
from thermocline.quality.schema_drift import check_schema_drift

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
    if isinstance(spec, VolumeCheck):
        return check_volume(spec, name, batch.num_rows, context.previous_row_counts)
    if isinstance(spec, SchemaDriftCheck):
        return check_schema_drift(spec, name, context.schema_changes)
    if isinstance(spec, CompletenessCheck) and spec.column == "*":
        return check_completeness_all(spec, name, batch)
    columns = list(spec.columns) if isinstance(spec, NotNullCheck | UniqueCheck) else [spec.column]
    if isinstance(spec, FreshnessCheck) and spec.column == "*":
        found = first_time_column(batch.schema)
        if found is None:
            message = "no timestamp or date column in the batch to tell freshness by (columns: "
            message += show_list([show_column(c) for c in batch.schema.names]) + ")"
            return check_result(spec, name, False, message, {"rows": batch.num_rows})
        columns = [batch.schema.names[found]]
    indices: list[int] = []
    for column in columns:
        found_at = batch.schema.get_all_field_indices(column)
        if len(found_at) != 1:
            return _column_problem(spec, name, column, len(found_at), batch)
        indices.append(found_at[0])
    if isinstance(spec, DistributionDriftCheck):
        baseline = context.baselines.get(name)
        return check_distribution_drift(spec, name, batch.column(indices[0]), baseline)
    if isinstance(spec, ReferentialCheck):
        baseline = context.baselines.get(name)
        return check_referential(spec, name, batch.column(indices[0]), baseline)
    plan = CheckPlan(spec, name, key, indices)
    if isinstance(spec, NotNullCheck):
        plan_not_null(plan, spec, [query.column(i) for i in indices], batch.num_rows)
    elif isinstance(spec, UniqueCheck):
        plan_unique(plan, spec, [query.column(i) for i in indices], batch.num_rows)
    else:
        kind = batch.schema.field(indices[0]).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        alias = query.column(indices[0])
        problem = None
        if isinstance(spec, AcceptedValuesCheck):
            problem = plan_accepted_values(plan, spec, alias, kind, batch.num_rows)
        elif isinstance(spec, RangeCheck):
            problem = plan_range(plan, spec, alias, kind, batch.num_rows)
        elif isinstance(spec, CompletenessCheck):
            plan_completeness(plan, spec, alias, batch.num_rows)
        else:
            problem = plan_freshness(
                plan, spec, columns[0], alias, kind, context.now, batch.num_rows
            )
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
    engine = engine_of(spec.check)
    return check_result(spec, name, False, message, {"rows": batch.num_rows}, engine=engine)
