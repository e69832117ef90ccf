"""Great Expectations suites: parsing (names, columns, severities), the runner on real GX
(chunked map expectations, whole-batch aggregates, the columns GX needs as numpy), validation
against a declared schema, and the profiled starter suite."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from thermocline.catalog.errors import ConfigError
from thermocline.quality.results import CheckContext, CheckResult
from thermocline.quality.suites.model import SuiteError, load_suite
from thermocline.quality.suites.profile import profile_suite
from thermocline.quality.suites.runner import SuiteCheck, run_whole
from thermocline.quality.suites.validation import suite_problems

CONTEXT = CheckContext(now=datetime(2026, 12, 1, tzinfo=UTC))


def suite_text(*expectations: dict[str, Any]) -> str:
    return json.dumps({"name": "rides", "expectations": list(expectations)})


def expect(kind: str, meta: dict[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "meta": meta or {}}


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


# ---- the model (no GX) -------------------------------------------------------------------


def test_names_are_unique_identifiers_with_the_columns_each_expectation_names() -> None:
    suite = load_suite(
        suite_text(
            expect("column_values_to_be_between", column="fare", min_value=0),
            expect("column_values_to_be_between", column="fare", max_value=500),
            expect("column_pair_values_a_to_be_greater_than_b", column_A="end", column_B="start"),
            expect("compound_columns_to_be_unique", column_list=["ride id", "city"]),
            expect("table_row_count_to_be_between", min_value=1),
        )
    )
    assert [(e.name, e.columns) for e in suite.expectations] == [
        ("gx_column_values_to_be_between_fare", ("fare",)),
        ("gx_column_values_to_be_between_fare_2", ("fare",)),
        (
            "gx_column_pair_values_a_to_be_greater_than_b_end_start",
            ("end", "start"),
        ),
        ("gx_compound_columns_to_be_unique_ride_id_city", ("ride id", "city")),
        ("gx_table_row_count_to_be_between", ()),
    ]
    assert suite.columns == ("fare", "end", "start", "ride id", "city")


def test_meta_severity_wins_else_gx_severity_else_error() -> None:
    items = [
        expect("column_values_to_not_be_null", column="a"),
        {**expect("column_values_to_not_be_null", column="b"), "severity": "warning"},
        {**expect("column_values_to_not_be_null", column="c"), "severity": "info"},
        {**expect("column_values_to_not_be_null", column="d"), "severity": "critical"},
        {
            **expect("column_values_to_not_be_null", {"severity": "error"}, column="e"),
            "severity": "warning",
        },
        {
            **expect("column_values_to_not_be_null", {"severity": "warn"}, column="f"),
            "severity": "critical",
        },
    ]
    suite = load_suite(suite_text(*items))
    assert [e.severity for e in suite.expectations] == [
        "error",
        "warn",
        "warn",
        "error",
        "error",
        "warn",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "x", "expectations": [', "not JSON"),
        ('{"expectations": []}', 'has no "name"'),
        ('{"name": "x", "expectations": {}}', 'has no "expectations" list'),
        ('{"name": "x", "expectations": [{"kwargs": {}}]}', 'expectation 1 has no valid "type"'),
        (suite_text(expect("column_values_to_be_null", {"severity": "fatal"}, column="a")), "meta"),
        (
            suite_text({**expect("column_values_to_be_null", column="a"), "severity": "high"}),
            "critical",
        ),
        (suite_text(expect("column_values_to_be_null", column=3)), "kwargs.column"),
    ],
)
def test_a_suite_that_does_not_parse_names_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert message.startswith(f"suite {path}: ")
    assert problem in message
    assert "\n" not in message


# ---- the runner (real GX) ----------------------------------------------------------------


def rides(rows: int = 100) -> pa.Table:
    """Fares 0..rows-1 with a null every 10th; cities cycling; ids unique."""
    return pa.table(
        {
            "ride_id": pa.array(range(rows), pa.int64()),
            "fare": pa.array([None if i % 10 == 0 else float(i) for i in range(rows)]),
            "city": pa.array([("oslo", "bergen", "tromso", "x")[i % 4] for i in range(rows)]),
        }
    )


def test_map_expectations_in_chunks_count_exactly_what_the_whole_batch_counts() -> None:
    suite = load_suite(
        suite_text(
            expect("column_values_to_be_between", column="fare", max_value=94, mostly=0.9),
            expect("column_values_to_not_be_null", column="fare", mostly=0.95),
            expect("column_values_to_be_in_set", column="city", value_set=["oslo", "bergen"]),
            expect("column_values_to_match_regex", column="city", regex="^[a-z]{4,}$"),
        )
    )
    batch = rides()
    chunked = SuiteCheck(suite, chunk_rows=7)(batch, CONTEXT)
    whole = run_whole(suite, batch)
    assert [(r.passed, r.failing_rows, r.observed) for r in chunked] == [
        (r.passed, r.failing_rows, r.observed) for r in whole
    ]
    between, not_null, in_set, regex = chunked
    # 95..99 are above 94; 5 of the 90 non-null fares is 5.6%: mostly 0.9 holds overall even
    # though the last chunk (rows 91..97 and 98..99) is mostly unexpected on its own.
    assert (between.passed, between.failing_rows) == (True, 5)
    assert between.metadata["chunks"] == 15
    assert between.threshold == "mostly >= 0.9"
    assert (not_null.passed, not_null.failing_rows, not_null.observed) == (False, 10, 10.0)
    # GX samples repeats ('tromso', 'x', 'tromso', ...): the sample shows each value once.
    assert (in_set.passed, in_set.failing_rows, in_set.sample) == (False, 50, ("tromso", "x"))
    assert in_set.threshold == "every row"
    assert in_set.message == (
        "expect_column_values_to_be_in_set on city: 50 of 100 rows unexpected (50%), "
        "e.g. 'tromso', 'x'; every row"
    )
    assert (regex.passed, regex.failing_rows) == (False, 25)
    assert all(r.engine == "gx" and r.severity == "error" for r in chunked)
    assert next(r.check for r in chunked) == "expect_column_values_to_be_between"


def test_aggregate_and_cross_row_expectations_run_on_the_whole_batch() -> None:
    """Two chunks each unique can share a value; a mean is not a sum of chunk means."""
    suite = load_suite(
        suite_text(
            expect("column_values_to_be_unique", column="city"),
            expect("column_mean_to_be_between", column="ride_id", min_value=49, max_value=50),
            expect("column_distinct_values_to_be_in_set", column="city", value_set=["oslo"]),
            expect("table_row_count_to_be_between", {"severity": "warn"}, min_value=101),
            expect("table_columns_to_match_set", column_set=["ride_id", "fare", "city"]),
        )
    )
    batch = rides().slice(0, 8)  # each chunk of 4 rows holds every city once
    unique, mean, distinct, rows, columns = SuiteCheck(suite, chunk_rows=4)(batch, CONTEXT)
    assert (unique.passed, unique.failing_rows, unique.metadata["chunks"]) == (False, 8, 1)
    assert (mean.passed, mean.observed, mean.threshold) == (False, 3.5, "between 49 and 50")
    assert mean.message == (
        "expect_column_mean_to_be_between on ride_id: observed 3.5, expected between 49 and 50"
    )
    assert not distinct.passed
    assert (rows.passed, rows.observed, rows.severity) == (False, 8.0, "warn")
    assert columns.passed


def test_type_and_column_pair_expectations_get_the_numpy_columns_gx_needs() -> None:
    """On Arrow-backed columns GX 1.24 sees ``int`` (no type name matches) and raises on NA in
    pair comparisons; the runner converts those columns to numpy dtypes."""
    suite = load_suite(
        suite_text(
            expect("column_values_to_be_in_type_list", column="ride_id", type_list=["int64"]),
            expect("column_values_to_be_in_type_list", column="city", type_list=["str"]),
            expect("column_values_to_be_of_type", column="fare", type_="int64"),
            expect(
                "column_pair_values_a_to_be_greater_than_b",
                column_A="ride_id",
                column_B="fare",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
        )
    )
    ids, cities, fares, pair = SuiteCheck(suite)(rides(), CONTEXT)
    assert ids.passed
    assert cities.passed
    assert (fares.passed, fares.message) == (
        False,
        "expect_column_values_to_be_of_type on fare: observed 'float64', expected type_ 'int64'",
    )
    assert (pair.passed, pair.failing_rows) == (True, 0)


def test_an_expectation_gx_cannot_evaluate_fails_with_the_reason() -> None:
    suite = load_suite(suite_text(expect("column_values_to_not_be_null", column="gone")))
    (result,) = SuiteCheck(suite)(rides(), CONTEXT)
    assert not result.passed
    assert result.blocking
    assert result.message.startswith(
        "expect_column_values_to_not_be_null on gone: GX could not evaluate it: "
    )
    assert "gone" in result.message.split("evaluate it: ", 1)[1]


def test_an_unknown_expectation_type_at_run_time_is_a_config_error() -> None:
    suite = load_suite(suite_text(expect("column_values_to_be_purple", column="city")))
    with pytest.raises(SuiteError, match="unknown expectation type 'expect_column_values_to_be"):
        SuiteCheck(suite)(rides(), CONTEXT)


def test_validation_names_unknown_types_refused_kwargs_and_undeclared_columns() -> None:
    suite = load_suite(
        suite_text(
            expect("column_values_to_be_purple", column="city"),
            expect("column_values_to_be_between", column="fair", min_value=0),
            expect("column_values_to_be_in_set", column="city"),
            expect("column_values_to_not_be_null", column="ride_id"),
        ),
        label="suites/rides.json",
    )
    problems = suite_problems(suite, rides().schema, dataset="rides")
    assert len(problems) == 3
    unknown, column, kwargs = problems
    assert unknown.startswith(
        "suite suites/rides.json: gx_column_values_to_be_purple_city: unknown expectation type"
    )
    assert column.startswith(
        "suite suites/rides.json: gx_column_values_to_be_between_fair "
        "(expect_column_values_to_be_between) names column 'fair', which datasets.rides.schema "
        "does not declare"
    )
    assert "GX refuses its kwargs" in kwargs
    assert "value_set" in kwargs
    assert suite_problems(suite, None)[1:] == [kwargs], "no declared schema: no column check"


# ---- the profile ---------------------------------------------------------------------------


def test_a_profiled_suite_passes_its_table_and_warns_on_a_worse_batch() -> None:
    table = pa.table(
        {
            "ride_id": pa.array(range(200), pa.int64()),
            "fare": pa.array([None if i % 50 == 0 else i / 2 for i in range(200)]),
            "city": pa.array([("oslo", "bergen")[i % 2] for i in range(200)]),
            "note": pa.array([f"free text {i}" for i in range(200)]),
            "at": pa.array([datetime(2026, 1, 1)] * 200, pa.timestamp("us")),
        }
    )
    suite = load_suite(json.dumps(profile_suite(table, "rides")))
    types = {
        e.columns[0]: e.kwargs["type_list"]
        for e in suite.expectations
        if e.type == "expect_column_values_to_be_in_type_list"
    }
    assert types == {
        "ride_id": ["int64", "float64"],
        "fare": ["float64"],
        "city": ["str"],
        "note": ["str"],
        "at": ["datetime64[us]"],
    }
    kinds = {
        (e.type.removeprefix("expect_column_values_to_"), e.columns[0]): e
        for e in suite.expectations
    }
    assert kinds[("not_be_null", "fare")].kwargs["mostly"] == 0.98
    assert "mostly" not in kinds[("not_be_null", "city")].kwargs
    assert kinds[("be_between", "fare")].kwargs == {
        "column": "fare",
        "min_value": 0.5,
        "max_value": 99.5,
    }
    assert kinds[("be_in_set", "city")].kwargs["value_set"] == ["bergen", "oslo"]
    assert ("be_in_set", "note") not in kinds, "an identifier-like column gets no value set"
    assert {e.severity for e in suite.expectations} == {"warn"}

    assert all(r.passed for r in SuiteCheck(suite)(table, CONTEXT))
    worse = pa.table(
        {
            "ride_id": pa.array([1, None], pa.int64()),
            "fare": pa.array([None, 500.0]),
            "city": ["oslo", "trondheim"],
            "note": ["a", "b"],
            "at": pa.array([datetime(2026, 1, 1)] * 2, pa.timestamp("us")),
        }
    )
    failed = {r.name for r in SuiteCheck(suite)(worse, CONTEXT) if not r.passed}
    assert failed == {
        "gx_column_values_to_not_be_null_ride_id",
        "gx_column_values_to_not_be_null_fare",
        "gx_column_values_to_be_between_fare",
        "gx_column_values_to_be_in_set_city",
    }


def test_nan_is_a_value_as_in_the_builtin_checks_not_a_missing_one() -> None:
    """A NaN fare is present (not null) and outside every range, as the built-in checks and GX
    on Arrow-backed columns see it; numpy would turn it into a missing value and let it by."""
    suite = load_suite(
        suite_text(
            expect("column_values_to_not_be_null", column="fare"),
            expect("column_values_to_be_between", column="fare", min_value=0, max_value=100),
        )
    )
    batch = pa.table({"fare": pa.array([1.0, float("nan"), 3.0, None])})
    for results in (SuiteCheck(suite, chunk_rows=2)(batch, CONTEXT), run_whole(suite, batch)):
        not_null, between = results
        assert (not_null.passed, not_null.failing_rows) == (False, 1), "only the null is missing"
        assert (between.passed, between.failing_rows) == (False, 1), "NaN is out of range"
    clean = pa.table({"fare": pa.array([1.0, 2.0, None])})
    not_null, between = SuiteCheck(suite)(clean, CONTEXT)
    assert (not_null.failing_rows, between.passed) == (1, True)


# The string form is deprecated since GX 1.9 (condition objects replace it) and still in use.
@pytest.mark.filterwarnings("ignore:The condition_parser parameter is deprecated")
@pytest.mark.filterwarnings("ignore:Passing a string to the row_condition parameter")
def test_a_row_condition_reads_the_columns_it_names() -> None:
    """``row_condition`` may name a column no other kwarg names: it is put in the frame too
    (before, GX failed every batch with "name 'city' is not defined")."""
    suite = load_suite(
        suite_text(
            expect(
                "column_values_to_be_between",
                column="fare",
                max_value=50,
                row_condition='city=="oslo"',
                condition_parser="pandas",
            )
        )
    )
    assert suite.expectations[0].reads == ("fare", "city")
    objects = {"column": {"name": "city"}, "operator": "==", "parameter": "oslo"}  # GX >= 1.9
    modern = load_suite(
        suite_text(expect("column_values_to_be_between", column="fare", row_condition=objects))
    )
    assert modern.expectations[0].reads == ("fare", "city")
    batch = pa.table({"fare": [10.0, 90.0, 20.0], "city": ["oslo", "bergen", "oslo"]})
    (result,) = SuiteCheck(suite)(batch, CONTEXT)
    assert result.passed, result.message  # the 90 is in bergen, outside the condition
    worse = pa.table({"fare": [10.0, 90.0], "city": ["oslo", "oslo"]})
    (failed,) = SuiteCheck(suite)(worse, CONTEXT)
    assert (failed.passed, failed.failing_rows) == (False, 1)
