"""The history-aware checks (volume, schema_drift, distribution_drift, referential) and the
"*" forms of completeness and freshness, as pure functions of a batch and a context."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from thermocline.catalog.config import Check
from thermocline.quality.builtin import run_checks
from thermocline.quality.drift import ks_statistic, psi_numeric
from thermocline.quality.results import Baseline, CheckContext, CheckResult, SchemaChanges

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CHECK = TypeAdapter(Check)


def spec(**fields: Any) -> Check:
    return CHECK.validate_python(fields)


def run_one(batch: pa.Table, check: Check, **context: Any) -> CheckResult:
    (result,) = run_checks(batch, [check], CheckContext(now=NOW, **context))
    return result


def rows(count: int) -> pa.Table:
    return pa.table({"x": pa.array(range(count), pa.int64())})


# --- volume ----------------------------------------------------------------------------------

HISTORY = [1000, 1010, 990, 1005, 995, 1002]


def test_volume_passes_a_normal_count() -> None:
    result = run_one(rows(1003), spec(check="volume"), previous_row_counts=HISTORY)
    assert (result.passed, result.engine) == (True, "history")
    # median 1001, MAD 5 -> z = 2 / 7.413
    assert result.observed == pytest.approx(2 / (1.4826 * 5))
    assert result.threshold == "<= 3.5"
    assert result.metadata["median"] == 1001
    assert result.metadata["mad"] == 5


def test_volume_fails_an_outlier_and_names_the_baseline() -> None:
    result = run_one(rows(400), spec(check="volume"), previous_row_counts=HISTORY)
    assert not result.passed
    assert result.observed == pytest.approx(601 / (1.4826 * 5))
    assert result.message == (
        "batch has 400 rows, 81.0738 robust deviations from the median 1001 of the last 6 "
        "publishes (MAD 5, max 3.5)"
    )


def test_volume_uses_only_its_window_and_waits_for_min_history() -> None:
    # The 100-row publishes lie beyond the window of 5: they do not move the median.
    window = spec(check="volume", window=5, min_history=5)
    assert run_one(rows(1000), window, previous_row_counts=[*HISTORY[:5], 100, 100, 100]).passed
    early = run_one(rows(5), spec(check="volume"), previous_row_counts=[1000, 1000])
    assert early.passed
    assert early.message == "5 rows; 2 of 5 earlier publishes needed before the volume is judged"
    assert early.observed is None


def test_volume_with_mad_zero_judges_by_equality_or_max_change() -> None:
    flat = [500] * 6
    same = run_one(rows(500), spec(check="volume"), previous_row_counts=flat)
    assert same.passed
    assert "MAD 0: judged by equality" in same.message
    other = run_one(rows(501), spec(check="volume"), previous_row_counts=flat)
    assert not other.passed
    assert (other.observed, other.threshold) == (501, "== 500")
    tolerant = spec(check="volume", max_change=0.1)
    assert run_one(rows(540), tolerant, previous_row_counts=flat).passed
    big = run_one(rows(600), tolerant, previous_row_counts=flat)
    assert not big.passed
    assert big.observed == pytest.approx(0.2)
    assert "20% more than the median 500 of the last 6 batches (max change 10%)" in big.message


def test_volume_when_most_counts_are_equal_uses_the_mean_deviation() -> None:
    """More than half the window equal makes the MAD 0 though the rest vary: the spread is the
    mean absolute deviation then, and the message does not claim every count was equal."""
    history = [1000, 1010, 1000, 990, 1000, 1005, 1000]
    normal = run_one(rows(1008), spec(check="volume"), previous_row_counts=history)
    assert normal.passed, normal.message
    # mean absolute deviation 25/7, times 1.2533: z = 8 / 4.476
    assert normal.observed == pytest.approx(8 / (1.2533 * 25 / 7))
    wild = run_one(rows(1100), spec(check="volume"), previous_row_counts=history)
    assert not wild.passed
    assert wild.message == (
        "batch has 1100 rows, 22.341 robust deviations from the median 1000 of the last 7 "
        "publishes (MAD 0, mean deviation 3.57, max 3.5)"
    )


def test_volume_max_change_applies_beside_the_z_score() -> None:
    wide = [100, 1000, 2000, 3000, 4000]  # MAD large: z alone lets 1500 through
    result = run_one(rows(1500), spec(check="volume", max_change=0.2), previous_row_counts=wide)
    assert not result.passed
    assert result.metadata["change"] == pytest.approx(-0.25)
    assert result.observed == pytest.approx(500 / (1.4826 * 1000))  # z is within 3.5
    assert result.message.endswith(
        "25% fewer than the median 2000 of the last 5 batches (max change 20%)"
    )


# --- schema_drift ----------------------------------------------------------------------------


def drift_result(changes: SchemaChanges | None, **fields: Any) -> CheckResult:
    return run_one(rows(3), spec(check="schema_drift", **fields), schema_changes=changes)


def test_schema_drift_passes_without_changes_and_on_a_first_batch() -> None:
    assert drift_result(SchemaChanges()).passed
    first = drift_result(None)
    assert first.passed
    assert first.message == "no earlier version to compare with (the table's first batch)"


def test_schema_drift_an_added_column_warns() -> None:
    result = drift_result(SchemaChanges(added={"tip": "double"}))
    assert (result.passed, result.severity, result.engine) == (False, "warn", "history")
    assert result.message == "added tip (double)"
    assert (result.observed, result.sample) == (1, ("tip (double)",))


def test_schema_drift_takes_the_most_severe_kind_that_occurred() -> None:
    changes = SchemaChanges(
        added={"tip": "double"}, removed=("city",), retyped={"fare": ("double", "string")}
    )
    result = drift_result(changes)
    assert (result.passed, result.severity) == (False, "error")
    assert result.message == "added tip (double); removed city; retyped fare (double -> string)"
    assert result.metadata == {"added": 1, "removed": 1, "retyped": 1}
    ignored = drift_result(SchemaChanges(removed=("city",)), removed="ignore")
    assert ignored.passed
    assert ignored.message == "only ignored changes: removed city"


# --- distribution_drift ----------------------------------------------------------------------


def numbers(values: np.ndarray) -> pa.Table:
    return pa.table({"fare": pa.array(values)})


def drift(batch: pa.Table, baseline: Baseline | None, **fields: Any) -> CheckResult:
    check = spec(check="distribution_drift", column=next(iter(batch.column_names)), **fields)
    name = f"distribution_drift_{batch.column_names[0]}"
    return run_one(batch, check, baselines={} if baseline is None else {name: baseline})


RNG = np.random.default_rng(7)
REFERENCE = Baseline("rides@3", pa.chunked_array([RNG.normal(20, 5, 50_000)]))


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_distribution_drift_passes_the_same_population(method: str) -> None:
    result = drift(numbers(RNG.normal(20, 5, 5_000)), REFERENCE, method=method)
    assert result.passed, result.message
    assert result.engine == "history"
    assert result.observed is not None
    assert result.observed < 0.05
    assert result.threshold == ("<= 0.2" if method == "psi" else "<= 0.1")


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_distribution_drift_fails_a_shifted_population(method: str) -> None:
    result = drift(numbers(RNG.normal(26, 5, 5_000)), REFERENCE, method=method)
    assert not result.passed
    assert result.observed is not None
    assert result.observed > (0.5 if method == "psi" else 0.3)
    assert result.message.startswith(f"fare: {method.upper()} ")
    assert "against rides@3 (5000 batch, 50000 reference values), above max" in result.message
    assert result.sample  # the bins (or the point) that moved most


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_small_batches_of_the_same_population_pass_and_tiny_ones_are_not_judged(
    method: str,
) -> None:
    """Sampling alone moves PSI and KS on small batches (a 50-row batch of the reference's own
    population failed PSI 0.2 half the time): the limit in force grows with 1/n, and a batch
    under min_rows (default 100) is not judged."""
    rng = np.random.default_rng(11)
    for _ in range(30):
        same = drift(numbers(rng.normal(20, 5, 100)), REFERENCE, method=method)
        assert same.passed, same.message
    shifted = drift(numbers(rng.normal(30, 5, 100)), REFERENCE, method=method)
    assert not shifted.passed, "a real shift still fails at 100 rows"
    assert shifted.metadata["limit_in_force"] > shifted.metadata["limit"]
    assert "raised for 100 values" in shifted.message
    tiny = drift(numbers(rng.normal(90, 5, 40)), REFERENCE, method=method)
    assert tiny.passed
    assert tiny.message == "fare: 40 values, fewer than min_rows 100: too few to judge"
    judged = drift(numbers(rng.normal(90, 5, 40)), REFERENCE, method=method, min_rows=20)
    assert not judged.passed


def test_distribution_drift_threshold_and_bins_come_from_the_check() -> None:
    batch = numbers(RNG.normal(21, 5, 5_000))  # a small shift
    default = drift(batch, REFERENCE)
    strict = drift(batch, REFERENCE, threshold=0.01)
    assert (default.passed, strict.passed) == (True, False)
    assert strict.threshold == "<= 0.01"
    assert drift(batch, REFERENCE, bins=4).metadata["bins"] == 4
    assert drift(batch, REFERENCE).metadata["bins"] == 10


def test_psi_and_ks_by_hand() -> None:
    reference = np.arange(100, dtype=np.float64)  # quartile edges 24.75, 49.5, 74.25
    batch = np.array([10.0] * 50 + [90.0] * 50)  # half in the first bin, half in the last
    statistic = psi_numeric(reference, batch, bins=4)
    expected = 2 * (0.5 - 0.25) * np.log(0.5 / 0.25) + 2 * (1e-4 - 0.25) * np.log(1e-4 / 0.25)
    assert statistic.value == pytest.approx(expected)
    assert statistic.bins == 4
    assert ks_statistic(reference, batch).value == pytest.approx(0.4)  # at 49: 0.5 vs 0.9


def test_psi_on_categories_counts_a_new_value() -> None:
    reference = Baseline("rides@3", pa.chunked_array([["card", "cash"] * 500]))
    same = drift(pa.table({"pay": ["card", "cash"] * 50}), reference)
    assert (same.passed, same.observed) == (True, 0)
    new = drift(pa.table({"pay": ["card", "cash", "crypto", "crypto"] * 25}), reference)
    assert not new.passed
    assert new.sample[0] == "'crypto' 0% -> 50%"
    coded = pa.table({"pay": pa.array(["card", "cash"] * 50).dictionary_encode()})
    assert drift(coded, reference).passed
    ks = drift(pa.table({"pay": ["card"]}), reference, method="ks")
    assert not ks.passed
    assert "ks needs a numeric column" in ks.message


def test_distribution_drift_leaves_nulls_and_nan_out() -> None:
    values = np.concatenate([RNG.normal(20, 5, 2_000), [np.nan] * 500])
    batch = pa.table({"fare": pa.array(list(values) + [None] * 500, pa.float64())})
    result = drift(batch, REFERENCE)
    assert result.passed
    assert result.metadata["batch_values"] == 2_000


def test_distribution_drift_without_a_reference_and_with_a_bad_one() -> None:
    batch = numbers(RNG.normal(20, 5, 100))
    first = drift(batch, Baseline("rides (no version yet)"))
    assert first.passed
    assert first.message == "fare: nothing to compare with yet (rides (no version yet))"
    unknown = drift(batch, Baseline("rides@golden", None, "unknown tag 'golden' of rides"))
    assert not unknown.passed
    assert unknown.message == "fare: reference rides@golden: unknown tag 'golden' of rides"


def test_distribution_drift_on_dates_compares_epoch_days() -> None:
    days = pa.chunked_array([[date(2026, 1, 1) + timedelta(days=int(d % 30)) for d in range(900)]])
    later = pa.table({"day": [date(2026, 3, 1) + timedelta(days=d % 30) for d in range(300)]})
    result = drift(later, Baseline("rides@1", days), method="ks")
    assert (result.passed, result.observed) == (False, 1.0)


# --- referential -----------------------------------------------------------------------------


def referential(batch: pa.Table, keys: Baseline | None) -> CheckResult:
    check = spec(check="referential", column="driver_id", dataset="drivers", key="id")
    return run_one(batch, check, baselines={} if keys is None else {"referential_driver_id": keys})


KEYS = Baseline("drivers@4", pa.chunked_array([pa.array(range(100), pa.int64())]))


def test_referential_passes_when_every_value_is_a_key() -> None:
    result = referential(pa.table({"driver_id": [1, 5, None, 99]}), KEYS)
    assert (result.passed, result.failing_rows, result.engine) == (True, 0, "history")
    assert result.message == (
        "driver_id: every non-null value of 4 rows is a key of drivers.id (drivers@4)"
    )


def test_referential_compares_keys_of_another_type_by_value() -> None:
    """Keys typed differently from the column are compared in a type both fit (never cast
    down to the column's type, which fails on a wide key and makes '01' equal 1)."""
    wide = Baseline("drivers@2", pa.chunked_array([pa.array([1, 5, 2**40], pa.int64())]))
    narrow = pa.table({"driver_id": pa.array([1, 5], pa.int32())})
    assert referential(narrow, wide).passed
    floats = Baseline("drivers@2", pa.chunked_array([pa.array([1.0, 5.5])]))
    assert not referential(narrow, floats).passed  # 5 is no key: 5.5 is
    text = Baseline("drivers@2", pa.chunked_array([pa.array(["01", "5"])]))
    refused = referential(narrow, text)
    assert not refused.passed
    assert "cannot compare" in refused.message


def test_referential_fails_with_the_missing_values() -> None:
    batch = pa.table({"driver_id": pa.array([1, 500, 500, 700, None], pa.int32())})
    result = referential(batch, KEYS)
    assert not result.passed
    assert (result.failing_rows, result.observed, result.threshold) == (3, 3, "== 0")
    assert result.sample == ("500", "700")
    assert result.message == (
        "driver_id: 3 of 5 rows reference no key of drivers.id (drivers@4): 2 distinct values, "
        "e.g. 500, 700"
    )


def test_referential_fails_when_the_keys_could_not_be_read() -> None:
    batch = pa.table({"driver_id": [1]})
    gone = referential(batch, Baseline("drivers", None, "dataset 'drivers' has no table yet"))
    assert not gone.passed
    assert (
        gone.message
        == "driver_id: keys of drivers.id (drivers): dataset 'drivers' has no table yet"
    )
    names = Baseline("drivers@4", pa.chunked_array([["ann", "bob"]]))
    text = referential(pa.table({"driver_id": [1]}), names)
    assert not text.passed
    assert text.message == (
        "driver_id: cannot compare with drivers.id (int64 here, string in drivers@4)"
    )


# --- completeness "*" and freshness "*" --------------------------------------------------------


def test_completeness_of_every_column_names_the_failing_ones() -> None:
    batch = pa.table(
        {"a": [1, 2, 3, 4], "b": [1, None, None, 4], "c": [None, 2, 3, 4], "d": [1.0, np.nan, 3, 4]}
    )
    result = run_one(batch, spec(check="completeness", column="*", min_ratio=0.8))
    assert result.name == "completeness_all"
    assert not result.passed
    assert (result.observed, result.failing_rows, result.threshold) == (0.5, 2, ">= 0.8")
    assert result.message == "2 of 4 columns below min 80% non-null: b 50%, c 75%"
    assert result.sample == ("b", "c")
    passing = run_one(batch, spec(check="completeness", column="*", min_ratio=0.5))
    assert passing.passed
    assert passing.message == "all 4 columns at least 50% non-null (lowest b 50%)"


def test_freshness_of_the_first_time_column() -> None:
    batch = pa.table(
        {
            "id": [1, 2],
            "at": pa.array(
                [NOW - timedelta(minutes=10), NOW - timedelta(hours=5)], pa.timestamp("us")
            ),
            "later": pa.array([NOW, NOW], pa.timestamp("us")),
        }
    )
    result = run_one(batch, spec(check="freshness", column="*", max_age="1h"))
    assert result.name == "freshness_all"
    assert result.passed
    assert result.message == "at: newest value 2026-11-02T11:50:00+00:00 is 10m old (max_age 1h)"
    assert (result.observed, result.threshold) == (600.0, "<= 1h")
    assert result.metadata["column"] == "at"
    none = run_one(pa.table({"id": [1]}), spec(check="freshness", column="*", max_age="1h"))
    assert not none.passed
    assert none.message == (
        "no timestamp or date column in the batch to tell freshness by (columns: id)"
    )


# --- observed / threshold / failing_rows / sample on every built-in ----------------------------


def test_every_builtin_result_carries_what_it_judged() -> None:
    batch = pa.table(
        {
            "id": [1, 1, 2, None],
            "fare": [5.0, -1.0, 900.0, 3.0],
            "status": ["done", "lost", "done", "done"],
            "at": pa.array([NOW - timedelta(hours=2)] * 4, pa.timestamp("us", tz="UTC")),
        }
    )
    specs = [
        spec(check="not_null", columns=["id"]),
        spec(check="unique", columns=["id"]),
        spec(check="accepted_values", column="status", values=["done"]),
        spec(check="range", column="fare", min=0, max=500),
        spec(check="completeness", column="id", min_ratio=0.9),
        spec(check="row_count", min_rows=10),
        spec(check="freshness", column="at", max_age="1h"),
        spec(check="schema"),
    ]
    declared = pa.schema([("id", pa.int64()), ("fare", pa.float64())])
    results = run_checks(batch, specs, CheckContext(now=NOW, schema=declared))
    assert [(r.passed, r.engine) for r in results] == [(False, "builtin")] * 8
    assert [(r.observed, r.threshold, r.failing_rows) for r in results] == [
        (1, "== 0", 1),
        (1, "== 0", 1),
        (1, "in ['done']", 1),
        (2, ">= 0 and <= 500", 2),
        (0.75, ">= 0.9", 1),
        (4, ">= 10", None),
        (7200.0, "<= 1h", None),
        (2, "== 0", None),
    ]
    assert [r.sample for r in results] == [
        (),
        ("id=1",),
        ("'lost'",),
        ("-1", "900"),
        (),
        (),
        ("2026-11-02T10:00:00+00:00",),
        ("status", "at"),
    ]
    # the metadata numbers stay
    assert results[3].metadata["below_min"] == 1
