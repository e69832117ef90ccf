from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from thermocline.catalog.config import Check
from thermocline.quality.builtin import BuiltinChecks, run_checks
from thermocline.quality.results import (
    BatchCheck,
    CheckContext,
    CheckResult,
    blocking,
    check_name,
    check_names,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CHECK = TypeAdapter(Check)


def spec(**fields: Any) -> Check:
    """A check spec as the project file would give it."""
    return CHECK.validate_python(fields)


def run_one(batch: pa.Table, check: Check, context: CheckContext | None = None) -> CheckResult:
    (result,) = run_checks(batch, [check], context or CheckContext(now=NOW))
    return result


def rides(rows: int = 5000) -> pa.Table:
    return pa.table(
        {
            "ride_id": pa.array(range(rows), pa.int64()),
            "fare": pa.array([float(i % 100) for i in range(rows)]),
            "status": pa.array(["done", "cancelled"] * (rows // 2)),
        }
    )


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"check": "schema"}, "schema"),
        (
            {"check": "not_null", "columns": ["ride_id", "started_at"]},
            "not_null_ride_id_started_at",
        ),
        ({"check": "unique", "columns": ["ride_id"]}, "unique_ride_id"),
        (
            {"check": "accepted_values", "column": "status", "values": ["a"]},
            "accepted_values_status",
        ),
        ({"check": "range", "column": "fare", "min": 0}, "range_fare"),
        ({"check": "completeness", "column": "email", "min_ratio": 0.9}, "completeness_email"),
        ({"check": "row_count"}, "row_count"),
        ({"check": "freshness", "column": "started_at", "max_age": "1h"}, "freshness_started_at"),
        ({"check": "range", "column": 'Fare "USD" (net)', "min": 0}, "range_Fare_USD_net"),
        ({"check": "range", "column": "€", "min": 0}, "range_column"),
    ],
)
def test_check_name(fields: dict[str, Any], name: str) -> None:
    assert check_name(spec(**fields)) == name


def test_check_names_are_unique_within_a_dataset() -> None:
    specs = [
        spec(check="range", column="fare", min=0),
        spec(check="range", column="fare", max=500, severity="warn"),
        spec(check="range", column="fare_2", min=1),
        spec(check="range", column="fare", min=5),
        spec(check="range", column="fare amount", min=0),
        spec(check="range", column="fare-amount", min=0),
    ]
    assert check_names(specs) == [
        "range_fare",
        "range_fare_2",
        "range_fare_2_2",
        "range_fare_3",
        "range_fare_amount",
        "range_fare_amount_2",
    ]
    assert [r.name for r in run_checks(rides(), specs, CheckContext(now=NOW))] == check_names(specs)


# --- results, context, the generic slot ------------------------------------------------------


def test_result_metadata_is_read_only_and_results_hash() -> None:
    result = CheckResult("x", "custom", "warn", True, "fine", {"rows": 1})
    metadata: Any = result.metadata  # typed Mapping; this checks it is read-only at run time too
    with pytest.raises(TypeError):
        metadata["rows"] = 2
    assert result == CheckResult("x", "custom", "warn", True, "fine", {"rows": 1})
    assert len({result, result}) == 1


def test_context_needs_an_aware_time_and_keeps_it_in_utc() -> None:
    with pytest.raises(ValueError, match="must be time zone aware"):
        CheckContext(now=datetime(2026, 11, 2, 12))
    paris = CheckContext(now=datetime(2026, 11, 2, 13, tzinfo=timezone(timedelta(hours=1))))
    assert paris.now == NOW
    assert paris.now.tzinfo is UTC
    assert CheckContext(now=NOW, previous_row_counts=[3, 2]).previous_row_counts == (3, 2)


def test_blocking_is_the_failed_errors() -> None:
    batch = pa.table({"id": [1, 1, None]})
    specs = [
        spec(check="not_null", columns=["id"]),
        spec(check="unique", columns=["id"], severity="warn"),
        spec(check="row_count", min_rows=1),
    ]
    results = run_checks(batch, specs, CheckContext(now=NOW))
    assert [(r.name, r.passed, r.severity) for r in results] == [
        ("not_null_id", False, "error"),
        ("unique_id", False, "warn"),
        ("row_count", True, "error"),
    ]
    assert blocking(results) == [results[0]]
    assert [r.blocking for r in results] == [True, False, False]


def test_builtin_checks_is_a_batch_check_like_any_plugin() -> None:
    def no_secrets(batch: pa.Table, context: CheckContext, /) -> list[CheckResult]:
        found = "secret" in batch.column_names
        return [CheckResult("pii", "pii", "error", not found, "columns look clean", {})]

    specs = [spec(check="not_null", columns=["ride_id"]), spec(check="row_count")]
    checks: list[BatchCheck] = [BuiltinChecks(specs), no_secrets]
    context = CheckContext(now=NOW)
    results = [r for check in checks for r in check(rides(10), context)]
    assert [r.name for r in results] == ["not_null_ride_id", "row_count", "pii"]
    assert results[:2] == run_checks(rides(10), specs, context)
    assert BuiltinChecks(specs).names == ["not_null_ride_id", "row_count"]
    assert blocking(results) == []


def test_one_result_per_spec_in_order() -> None:
    specs = [
        spec(check="row_count"),
        spec(check="completeness", column="fare", min_ratio=0.5),
        spec(check="schema"),
        spec(check="not_null", columns=["missing"]),
        spec(check="range", column="fare", min=0, max=99),
    ]
    results = run_checks(rides(), specs, CheckContext(now=NOW))
    assert [r.check for r in results] == [
        "row_count",
        "completeness",
        "schema",
        "not_null",
        "range",
    ]
    assert [r.passed for r in results] == [True, True, True, False, True]
    assert run_checks(rides(), [], CheckContext(now=NOW)) == []


# --- schema ----------------------------------------------------------------------------------

DECLARED = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("score", pa.float64()),
    ]
)


def schema_result(batch_schema: pa.Schema, declared: pa.Schema | None = DECLARED) -> CheckResult:
    batch = batch_schema.empty_table()
    return run_one(batch, spec(check="schema"), CheckContext(now=NOW, schema=declared))


def test_schema_passes_when_it_matches() -> None:
    result = schema_result(DECLARED)
    assert result.passed
    assert result.message == "all 4 declared columns present with compatible types"
    assert result.metadata == {
        "declared_columns": 4,
        "missing_columns": 0,
        "mismatched_columns": 0,
        "extra_columns": 0,
        "repeated_columns": 0,
        "cast_columns": 0,
    }


def test_schema_ignores_order_and_accepts_lossless_casts() -> None:
    batch = pa.schema(
        [
            ("score", pa.int32()),
            ("at", pa.timestamp("s", tz="Europe/Paris")),
            ("name", pa.dictionary(pa.int32(), pa.large_string())),
            ("id", pa.null()),
        ]
    )
    result = schema_result(batch)
    assert result.passed
    assert result.message == "all 4 declared columns present with compatible types (4 to be cast)"
    assert result.metadata["cast_columns"] == 4


def test_schema_without_a_declared_schema_passes() -> None:
    result = schema_result(DECLARED, declared=None)
    assert (result.passed, result.message) == (
        True,
        "no declared schema (schema: infer), nothing to compare",
    )


def test_schema_fails_on_missing_mismatched_and_extra_columns() -> None:
    batch = pa.schema(
        [
            ("id", pa.int32()),
            ("name", pa.int64()),
            ("at", pa.timestamp("us")),
            ("extra col", pa.string()),
        ]
    )
    result = schema_result(batch)
    assert not result.passed
    assert result.message == (
        "missing score; name is int64, declared string, at is timestamp[us], declared "
        "timestamp[us, tz=UTC] (no lossless cast); undeclared 'extra col'"
    )
    assert result.metadata == {
        "declared_columns": 4,
        "missing_columns": 1,
        "mismatched_columns": 2,
        "extra_columns": 1,
        "repeated_columns": 0,
        "cast_columns": 1,
    }


@pytest.mark.parametrize(
    ("have", "want", "safe"),
    [
        (pa.int8(), pa.int64(), True),
        (pa.int64(), pa.int32(), False),
        (pa.uint32(), pa.int64(), True),
        (pa.uint64(), pa.int64(), False),
        (pa.int32(), pa.uint64(), False),
        (pa.int32(), pa.float64(), True),
        (pa.int64(), pa.float64(), False),
        (pa.float32(), pa.float64(), True),
        (pa.float64(), pa.float32(), False),
        (pa.float64(), pa.int64(), False),
        (pa.string(), pa.int64(), False),
        (pa.large_string(), pa.string(), True),
        (pa.binary(), pa.string(), False),
        (pa.timestamp("ms"), pa.timestamp("us"), True),
        (pa.timestamp("ns"), pa.timestamp("us"), False),
        (pa.timestamp("us", tz="UTC"), pa.timestamp("us"), False),
        (pa.date32(), pa.date64(), True),
        (pa.date64(), pa.date32(), False),
        (pa.date32(), pa.timestamp("us"), False),
        (pa.decimal128(10, 2), pa.decimal128(12, 3), True),
        (pa.decimal128(10, 2), pa.decimal128(10, 3), False),
        (pa.list_(pa.float32()), pa.large_list(pa.float64()), True),
        (pa.list_(pa.float32()), pa.list_(pa.float32(), 4), False),
        (pa.list_(pa.float32(), 4), pa.list_(pa.float32()), True),
        (pa.struct([("a", pa.int32())]), pa.struct([("a", pa.int64())]), True),
        (pa.struct([("a", pa.int32())]), pa.struct([("b", pa.int32())]), False),
        (pa.map_(pa.string(), pa.int8()), pa.map_(pa.string(), pa.int16()), True),
    ],
    ids=str,
)
def test_schema_cast_rules(have: pa.DataType, want: pa.DataType, safe: bool) -> None:
    result = schema_result(pa.schema([("x", have)]), pa.schema([("x", want)]))
    assert result.passed is safe
    if not safe:
        assert result.message == f"x is {have}, declared {want} (no lossless cast)"


def test_schema_fails_on_a_repeated_column() -> None:
    batch = pa.schema([("id", pa.int64()), ("id", pa.int64())])
    result = schema_result(batch, pa.schema([("id", pa.int64())]))
    assert (result.passed, result.message) == (False, "repeated id")


# --- not_null --------------------------------------------------------------------------------


def test_not_null_passes() -> None:
    result = run_one(rides(), spec(check="not_null", columns=["ride_id", "status"]))
    assert result.passed
    assert result.message == "ride_id, status: no nulls in 5000 rows"
    assert result.metadata == {
        "rows": 5000,
        "failing_rows": 0,
        "nulls.ride_id": 0,
        "nulls.status": 0,
    }


def test_not_null_fails_with_counts_per_column() -> None:
    batch = pa.table({"a": [1, None, None, 4], "b": ["x", None, "z", None]})
    result = run_one(batch, spec(check="not_null", columns=["a", "b"]))
    assert not result.passed
    assert result.message == "a, b: 3 of 4 rows have nulls (a 2, b 2)"
    assert result.metadata == {"rows": 4, "failing_rows": 3, "nulls.a": 2, "nulls.b": 2}


def test_not_null_single_column_and_nan_is_a_value() -> None:
    batch = pa.table({"x": [1.0, math.nan, None]})
    result = run_one(batch, spec(check="not_null", columns=["x"]))
    assert result.message == "x: 1 of 3 rows are null"
    assert result.metadata["failing_rows"] == 1


# --- unique ----------------------------------------------------------------------------------


def test_unique_passes() -> None:
    result = run_one(rides(), spec(check="unique", columns=["ride_id"]))
    assert result.passed
    assert result.message == "ride_id: all 5000 rows have distinct keys"
    assert result.metadata == {"rows": 5000, "failing_rows": 0, "distinct_keys": 5000}


def test_unique_fails_with_an_example() -> None:
    batch = pa.table({"id": [1, 2, 2, 3, 3, 3, 4]})
    result = run_one(batch, spec(check="unique", columns=["id"]))
    assert not result.passed
    assert result.message == (
        "id: 3 of 7 rows repeat an earlier key (2 keys repeat), e.g. id=3 appears 3 times"
    )
    assert result.metadata == {
        "rows": 7,
        "failing_rows": 3,
        "distinct_keys": 4,
        "repeated_keys": 2,
    }


def test_unique_counts_null_keys_as_values() -> None:
    one_null = run_one(pa.table({"id": [1, None, 2]}), spec(check="unique", columns=["id"]))
    assert one_null.passed
    two_nulls = run_one(pa.table({"id": [1, None, None]}), spec(check="unique", columns=["id"]))
    assert two_nulls.message == (
        "id: 1 of 3 rows repeat an earlier key (1 key repeats), e.g. id=NULL appears 2 times"
    )


def test_unique_over_several_columns_and_nan_equals_nan() -> None:
    batch = pa.table({"a": [1, 1, 2, 2], "b": [math.nan, math.nan, 1.0, None]})
    result = run_one(batch, spec(check="unique", columns=["a", "b"]))
    assert not result.passed
    assert result.message == (
        "a, b: 1 of 4 rows repeat an earlier key (1 key repeats), e.g. a=1, b=nan appears 2 times"
    )


# --- accepted_values -------------------------------------------------------------------------


def test_accepted_values_passes_and_ignores_nulls() -> None:
    batch = pa.table({"status": ["done", None, "cancelled"]})
    check = spec(check="accepted_values", column="status", values=["done", "cancelled"])
    result = run_one(batch, check)
    assert result.passed
    assert result.message == "status: every non-null value of 3 rows is accepted"
    assert result.metadata == {"rows": 3, "failing_rows": 0}


def test_accepted_values_fails_with_the_most_common_strays() -> None:
    batch = pa.table({"status": ["done", "lost", "x", "lost", "done", "y", "z", None]})
    result = run_one(batch, spec(check="accepted_values", column="status", values=["done"]))
    assert not result.passed
    assert result.message == (
        "status: 5 of 8 rows have values outside the accepted list, e.g. 'lost' (2), 'x' (1), "
        "'y' (1)"
    )
    assert result.metadata == {"rows": 8, "failing_rows": 5, "unexpected_values": 4}


INJECTIONS = [
    "x' OR '1'='1",
    "done'); DROP TABLE batch; --",
    'a"b',
    "$p0_0",
    "it's",
]


def test_accepted_values_are_data_never_sql() -> None:
    batch = pa.table({"status": [*INJECTIONS, "done", "' OR 1=1 --"]})
    result = run_one(batch, spec(check="accepted_values", column="status", values=INJECTIONS))
    assert not result.passed
    assert result.metadata["failing_rows"] == 2
    assert result.message == (
        'status: 2 of 7 rows have values outside the accepted list, e.g. "\' OR 1=1 --" (1), '
        "'done' (1)"
    )
    # The batch is untouched and a second run still sees it all.
    check = spec(check="accepted_values", column="status", values=["done", *INJECTIONS])
    assert run_one(batch, check).metadata == {"rows": 7, "failing_rows": 1, "unexpected_values": 1}


def test_accepted_values_cast_to_the_column_type() -> None:
    batch = pa.table({"code": pa.array([1, 2, 3, None], pa.int32())})
    passed = run_one(batch, spec(check="accepted_values", column="code", values=["1", 2, 3.0]))
    assert passed.passed
    typo = run_one(batch, spec(check="accepted_values", column="code", values=[1, "two"]))
    assert not typo.passed
    assert typo.message == (
        "code: accepted value 'two' cannot be compared with the column's type int32; "
        "fix the check's values"
    )


def test_accepted_values_on_dictionary_and_bool_columns() -> None:
    batch = pa.table({"s": pa.array(["a", "b", "a"]).dictionary_encode(), "f": [True, False, True]})
    strings = run_one(batch, spec(check="accepted_values", column="s", values=["a"]))
    assert strings.message == ("s: 1 of 3 rows have values outside the accepted list, e.g. 'b' (1)")
    flags = run_one(batch, spec(check="accepted_values", column="f", values=[True]))
    assert flags.metadata["failing_rows"] == 1


# --- range -----------------------------------------------------------------------------------


def test_range_passes() -> None:
    result = run_one(rides(), spec(check="range", column="fare", min=0, max=99))
    assert result.passed
    assert result.message == "fare: every non-null value of 5000 rows is within [0, 99]"
    assert result.metadata == {
        "rows": 5000,
        "failing_rows": 0,
        "below_min": 0,
        "above_max": 0,
        "nan_rows": 0,
        "min_value": 0.0,
        "max_value": 99.0,
    }


def test_range_fails_below_min() -> None:
    fares = [-1.0, -12.5, -3.0] + [10.0] * 4997
    batch = pa.table({"fare": fares})
    result = run_one(batch, spec(check="range", column="fare", min=0))
    assert not result.passed
    assert result.message == "fare: 3 of 5000 rows below min 0 (lowest -12.5)"
    assert result.metadata == {
        "rows": 5000,
        "failing_rows": 3,
        "below_min": 3,
        "above_max": 0,
        "nan_rows": 0,
        "min_value": -12.5,
        "max_value": 10.0,
    }


def test_range_counts_nan_outside_and_nulls_not_at_all() -> None:
    batch = pa.table({"x": [-1.0, 0.5, 7.0, math.nan, None, math.inf]})
    result = run_one(batch, spec(check="range", column="x", min=0, max=1.5))
    assert result.message == (
        "x: 4 of 6 rows not within [0, 1.5]: 1 below min 0 (lowest -1), "
        "2 above max 1.5 (highest inf), 1 NaN"
    )
    assert result.metadata["nan_rows"] == 1
    only_nan = run_one(pa.table({"x": [math.nan, 1.0]}), spec(check="range", column="x", max=2))
    assert only_nan.message == "x: 1 of 2 rows are NaN"


def test_range_on_integer_and_decimal_columns() -> None:
    ints = pa.table({"n": pa.array([1, 5, 10, None], pa.int16())})
    result = run_one(ints, spec(check="range", column="n", max=5))
    assert result.message == "n: 1 of 4 rows above max 5 (highest 10)"
    assert result.metadata == {
        "rows": 4,
        "failing_rows": 1,
        "below_min": 0,
        "above_max": 1,
        "min_value": 1,
        "max_value": 10,
    }
    money = pa.table({"m": pa.array([Decimal("1.25"), Decimal("-0.01")], pa.decimal128(10, 2))})
    result = run_one(money, spec(check="range", column="m", min=0))
    assert result.message == "m: 1 of 2 rows below min 0 (lowest -0.01)"


def test_range_needs_a_numeric_column() -> None:
    result = run_one(rides(), spec(check="range", column="status", min=0))
    assert (result.passed, result.message) == (
        False,
        "status: a range check needs a numeric column, got string",
    )


# --- completeness ----------------------------------------------------------------------------


def test_completeness_passes_and_nan_counts_as_present() -> None:
    batch = pa.table({"x": [1.0, math.nan, math.nan, None]})
    result = run_one(batch, spec(check="completeness", column="x", min_ratio=0.75))
    assert result.passed
    assert result.message == "x: 75% non-null (3 of 4 rows), min 75%"
    assert result.metadata == {"rows": 4, "failing_rows": 1, "min_ratio": 0.75, "ratio": 0.75}


def test_completeness_fails_below_the_ratio() -> None:
    values = [None if i % 9 == 0 else i for i in range(5000)]
    result = run_one(
        pa.table({"email": values}), spec(check="completeness", column="email", min_ratio=0.95)
    )
    assert not result.passed
    # 556 of 5000 are null: 88.88% present, shown rounded down.
    assert result.message == "email: 88.88% non-null (4444 of 5000 rows), below min 95%"
    assert result.metadata["failing_rows"] == 556
    assert result.metadata["ratio"] == pytest.approx(0.8888)


def test_completeness_never_rounds_up_to_the_minimum() -> None:
    values = [None] + [1] * 99_999
    result = run_one(pa.table({"x": values}), spec(check="completeness", column="x", min_ratio=1))
    assert result.message == "x: 99.99% non-null (99999 of 100000 rows), below min 100%"


# --- row_count -------------------------------------------------------------------------------


def row_count(rows: int, previous: list[int], **fields: Any) -> CheckResult:
    batch = pa.table({"x": pa.array(range(rows), pa.int64())})
    context = CheckContext(now=NOW, previous_row_counts=previous)
    return run_one(batch, spec(check="row_count", **fields), context)


def test_row_count_passes() -> None:
    result = row_count(5000, [4800, 4800, 4800], min_rows=100, max_change=0.5)
    assert result.passed
    assert result.message == (
        "5000 rows (min 100; 4.17% more than the median 4800 of the last 3 batches "
        "(max change 50%))"
    )
    assert result.metadata == {
        "rows": 5000,
        "min_rows": 100,
        "max_change": 0.5,
        "previous_median": 4800.0,
        "previous_batches": 3,
        "change": pytest.approx(200 / 4800),
    }


def test_row_count_fails_below_min_rows() -> None:
    result = row_count(0, [], min_rows=1)
    assert (result.passed, result.message) == (False, "batch has 0 rows, fewer than min 1")
    assert result.metadata == {"rows": 0, "min_rows": 1}


def test_row_count_fails_on_a_large_change() -> None:
    result = row_count(1200, [5000, 4000, 6000], max_change=0.5)
    assert not result.passed
    assert result.message == (
        "batch has 1200 rows, 76% fewer than the median 5000 of the last 3 batches (max change 50%)"
    )
    assert result.metadata["change"] == pytest.approx(-0.76)
    jump = row_count(20, [10], max_change=0.5)
    assert jump.message == (
        "batch has 20 rows, 100% more than the median 10 of the last batch (max change 50%)"
    )


def test_row_count_without_history_or_with_empty_history() -> None:
    first = row_count(10, [], max_change=0.1)
    assert first.passed
    assert first.message == "10 rows (min 1; no earlier batches to compare with)"
    empty = row_count(10, [0, 0], max_change=0.1)
    assert empty.passed
    assert empty.message == (
        "10 rows (min 1; the last 2 batches have a median of 0 rows, change not measured)"
    )
    assert row_count(0, [], min_rows=0).passed


# --- freshness -------------------------------------------------------------------------------


def freshness(values: pa.Array, max_age: str = "1h") -> CheckResult:
    return run_one(pa.table({"at": values}), spec(check="freshness", column="at", max_age=max_age))


def test_freshness_passes_with_a_zoned_timestamp() -> None:
    paris = timezone(timedelta(hours=1))
    newest = datetime(2026, 11, 2, 12, 50, tzinfo=paris)  # 11:50 UTC, 10 minutes old
    values = pa.array(
        [newest - timedelta(hours=5), newest, None], pa.timestamp("us", tz="Europe/Paris")
    )
    result = freshness(values)
    assert result.passed
    assert result.message == "at: newest value 2026-11-02T11:50:00+00:00 is 10m old (max_age 1h)"
    assert result.metadata == {
        "rows": 3,
        "max_age_seconds": 3600.0,
        "newest": "2026-11-02T11:50:00+00:00",
        "newest_age_seconds": 600.0,
    }


def test_freshness_fails_when_stale() -> None:
    stale = NOW - timedelta(hours=3, minutes=5, seconds=9)
    values = pa.array([stale], pa.timestamp("ns", tz="UTC"))
    result = freshness(values)
    assert not result.passed
    assert result.message == (
        "at: newest value 2026-11-02T08:54:51+00:00 is 3h5m old, older than max_age 1h"
    )
    assert result.metadata["newest_age_seconds"] == 11109.0


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Tokyo", "-03:30"])
def test_freshness_for_every_unit_and_zone(unit: str, tz: str | None) -> None:
    newest = datetime(2026, 11, 2, 10, 30, 15)  # read as UTC when naive
    if tz is not None:
        newest = newest.replace(tzinfo=UTC)
    result = freshness(pa.array([newest, None], pa.timestamp(unit, tz=tz)))
    assert result.message == (
        "at: newest value 2026-11-02T10:30:15+00:00 is 1h29m old, older than max_age 1h"
    )
    assert result.metadata["newest_age_seconds"] == 5385.0


def test_freshness_reads_naive_timestamps_as_utc() -> None:
    values = pa.array([datetime(2026, 11, 2, 11, 0)], pa.timestamp("ms"))
    result = freshness(values, "30m")
    assert result.message == (
        "at: newest value 2026-11-02T11:00:00+00:00 is 1h old, older than max_age 30m"
    )


def test_freshness_counts_a_date_from_the_end_of_its_day() -> None:
    today = freshness(pa.array([date(2026, 11, 1), date(2026, 11, 2)]))
    assert today.passed
    assert today.message == "at: newest value 2026-11-02 is 12h in the future"
    yesterday = freshness(pa.array([date(2026, 11, 1)]), "1d")
    assert yesterday.passed
    assert yesterday.message == "at: newest value 2026-11-01 is 12h old (max_age 1d)"
    older = freshness(pa.array([date(2026, 10, 30)]), "1d")
    assert older.message == "at: newest value 2026-10-30 is 2d12h old, older than max_age 1d"


def test_freshness_fails_without_values() -> None:
    all_null = freshness(pa.array([None, None], pa.timestamp("us", tz="UTC")))
    assert (all_null.passed, all_null.message) == (
        False,
        "at: no values to tell freshness by (all 2 rows are null)",
    )
    empty = freshness(pa.array([], pa.timestamp("us", tz="UTC")))
    assert empty.message == "at: no values to tell freshness by (the batch is empty)"


def test_freshness_needs_a_time_column() -> None:
    result = freshness(pa.array(["2026-11-02"]))
    assert result.message == "at: a freshness check needs a timestamp or date column, got string"


# --- missing columns, odd names, empty batches, odd types ------------------------------------

COLUMN_CHECKS = [
    {"check": "not_null", "columns": ["ride_id", "fare_usd"]},
    {"check": "unique", "columns": ["fare_usd"]},
    {"check": "accepted_values", "column": "fare_usd", "values": [1]},
    {"check": "range", "column": "fare_usd", "min": 0},
    {"check": "completeness", "column": "fare_usd", "min_ratio": 0.5},
    {"check": "freshness", "column": "fare_usd", "max_age": "1h"},
]


@pytest.mark.parametrize("fields", COLUMN_CHECKS, ids=lambda f: f["check"])
def test_a_missing_column_fails_the_check_not_the_run(fields: dict[str, Any]) -> None:
    results = run_checks(rides(), [spec(**fields), spec(check="row_count")], CheckContext(now=NOW))
    assert not results[0].passed
    assert results[0].message == (
        "fare_usd: column is missing from the batch (columns: ride_id, fare, status)"
    )
    assert results[0].metadata == {"rows": 5000}
    assert results[1].passed


def test_identifiers_with_spaces_quotes_and_case() -> None:
    batch = pa.table(
        [
            pa.array([1.0, -1.0, 3.0]),
            pa.array([-5.0, -6.0, None]),
            pa.array([1, 1, 2]),
            pa.array(["a", "b", "c"]),
        ],
        names=['fare "usd"', "Fare", "fare", 'x"); DROP TABLE batch; --'],
    )
    specs = [
        spec(check="range", column='fare "usd"', min=0),
        spec(check="range", column="Fare", max=0),
        spec(check="unique", columns=["fare"]),
        spec(check="not_null", columns=["Fare", 'x"); DROP TABLE batch; --']),
    ]
    results = run_checks(batch, specs, CheckContext(now=NOW))
    assert [r.name for r in results] == [
        "range_fare_usd",
        "range_Fare",
        "unique_fare",
        "not_null_Fare_x_DROP_TABLE_batch",
    ]
    assert [r.message for r in results] == [
        "'fare \"usd\"': 1 of 3 rows below min 0 (lowest -1)",
        "Fare: every non-null value of 3 rows is at most 0",
        "fare: 1 of 3 rows repeat an earlier key (1 key repeats), e.g. fare=1 appears 2 times",
        "Fare, 'x\"); DROP TABLE batch; --': 1 of 3 rows have nulls "
        "(Fare 1, 'x\"); DROP TABLE batch; --' 0)",
    ]


def test_a_repeated_column_name_fails_the_check() -> None:
    batch = pa.table([pa.array([1]), pa.array([2])], names=["id", "id"])
    result = run_one(batch, spec(check="not_null", columns=["id"]))
    assert (result.passed, result.message) == (False, "id: the batch has 2 columns of that name")


def test_every_kind_on_an_empty_batch() -> None:
    batch = pa.table(
        {
            "id": pa.array([], pa.int64()),
            "status": pa.array([], pa.string()),
            "at": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )
    specs = [
        spec(check="schema"),
        spec(check="not_null", columns=["id"]),
        spec(check="unique", columns=["id"]),
        spec(check="accepted_values", column="status", values=["a"]),
        spec(check="range", column="id", min=0),
        spec(check="completeness", column="id", min_ratio=0.9),
        spec(check="row_count", min_rows=0),
        spec(check="freshness", column="at", max_age="1h"),
    ]
    context = CheckContext(now=NOW, schema=batch.schema)
    results = run_checks(batch, specs, context)
    assert [(r.passed, r.message) for r in results] == [
        (True, "all 3 declared columns present with compatible types"),
        (True, "id: no nulls in 0 rows"),
        (True, "id: all 0 rows have distinct keys"),
        (True, "status: every non-null value of 0 rows is accepted"),
        (True, "id: every non-null value of 0 rows is at least 0"),
        (True, "id: empty batch, nothing to measure"),
        (True, "0 rows (min 0)"),
        (False, "at: no values to tell freshness by (the batch is empty)"),
    ]
    assert results[5].metadata == {"rows": 0, "failing_rows": 0, "min_ratio": 0.9}


def test_columns_duckdb_cannot_read() -> None:
    batch = pa.table(
        {
            "half": pa.array(np.array([1.0, -2.0], dtype=np.float16)),
            "huge": pa.array([Decimal(1), None], pa.decimal256(50, 2)),
            "ok": [1, None],
        }
    )
    specs = [
        spec(check="range", column="half", min=0),
        spec(check="not_null", columns=["huge"]),
        spec(check="not_null", columns=["ok"]),
    ]
    results = run_checks(batch, specs, CheckContext(now=NOW))
    assert [(r.passed, r.message) for r in results] == [
        (False, "half: 1 of 2 rows below min 0 (lowest -2)"),
        (False, "could not evaluate the check: DuckDB cannot read huge (decimal256(50, 2))"),
        (False, "ok: 1 of 2 rows are null"),
    ]


def test_many_chunks_and_many_checks_in_one_query() -> None:
    chunked = pa.concat_tables([rides(100)] * 50)
    specs = [
        spec(check="not_null", columns=["ride_id", "fare", "status"]),
        spec(check="unique", columns=["ride_id", "status"]),
        spec(check="accepted_values", column="status", values=["done", "cancelled"]),
        spec(check="range", column="fare", min=0, max=98),
        spec(check="completeness", column="fare", min_ratio=1),
    ]
    results = run_checks(chunked, specs, CheckContext(now=NOW))
    assert [r.metadata["failing_rows"] for r in results] == [0, 4900, 0, 50, 0]
    assert results[3].message == "fare: 50 of 5000 rows above max 98 (highest 99)"
