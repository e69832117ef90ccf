"""Data-quality checks: our built-in checks against hand-written DuckDB SQL, our Great
Expectations runner against GX run directly, on the same in-memory data, in one run.

What it measures.

- **Built-in checks.** A synthetic rides table (``--rows``, default 20,000,000: int64 ids, two
  UTC timestamps, float64 fare/distance/tip with some nulls, int32 passengers, three
  low-cardinality strings, one with nulls; about 1.5 GB of Arrow) is judged by 12 built-in
  checks (:data:`CHECKS`: not_null, unique, accepted_values x3, range x3, completeness x2,
  freshness, row_count, schema) two ways:

  - **ours**: ``thermocline.quality.builtin.run_checks(table, CHECKS, context)``, the publish
    path's judge (it registers the Arrow columns in a fresh DuckDB connection, runs one
    aggregate query and turns the numbers into results with messages);
  - **hand**: what a careful engineer writes for the same verdicts: a fresh DuckDB connection,
    the Arrow table registered, ONE aggregate ``SELECT`` with the failing-row counts of every
    check (:func:`hand_checks`; values inline as SQL literals), the schema compared in Python.

  Both sides get the same table and decide the same verdicts; the benchmark asserts they agree
  on every failing-row count. The data passes every check (the common case at publish: no
  example queries run). ``x = hand seconds / our seconds`` (higher is better for us).

- **Great Expectations.** The same kind of table, ``--gx-rows`` rows (default 3,000,000: GX on
  pandas copies the frame and its per-expectation metrics several times over, so 20M rows would
  take many GiB on a shared 24 GiB machine), judged by the same suite of 8 expectations
  (:data:`SUITE`) two ways:

  - **direct**: GX 1.x as its docs show it: an ephemeral context, a pandas data source, a
    whole-dataframe batch definition, ``batch.validate(suite)`` on a pandas frame made before
    the clock starts (the peer's best case: it gets the frame for free);
  - **ours**: ``thermocline.quality.suites.runner.SuiteCheck(load_suite(...), chunk_rows=...)``
    called on the Arrow table, as the publish path calls it (its time includes making pandas
    frames of the columns the suite names, in chunks of ``--chunk-rows`` for row-level
    expectations).

  ``y = direct seconds / our seconds``.

Each side runs ``--repeat`` times after one untimed warm-up run, alternating which goes first;
medians are reported. ``z = rows / our built-in seconds``. Nothing else is started: all data is
local and in memory.

Run:  .venv/bin/python benchmarks/checks.py [--rows 20000000] [--gx-rows 3000000] [--repeat 5]
      (about 2 minutes and 3 GiB at the defaults; develop with --rows 1000000 --gx-rows 200000)
The last line is ``RESULT checks_vs_sql=<x> gx_vs_direct=<y> checks_rows_s=<z>``.
Targets: x >= 0.85, y >= 0.9.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
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
)
from thermocline.quality.builtin import run_checks
from thermocline.quality.results import CheckContext, CheckResult

END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the newest pickup; judged 10 minutes later
NOW = END + timedelta(minutes=10)
CITIES = ["amsterdam", "berlin", "lisbon", "madrid", "oslo", "paris", "rome", "vienna"]
PAYMENTS = ["card", "cash", "voucher", "wallet"]
STATUSES = ["completed", "cancelled", "disputed"]

SCHEMA = pa.schema(
    [
        ("ride_id", pa.int64()),
        ("driver_id", pa.int64()),
        ("pickup_at", pa.timestamp("us", tz="UTC")),
        ("dropoff_at", pa.timestamp("us", tz="UTC")),
        ("fare", pa.float64()),
        ("distance_km", pa.float64()),
        ("tip", pa.float64()),
        ("passengers", pa.int32()),
        ("city", pa.string()),
        ("payment", pa.string()),
        ("status", pa.string()),
    ]
)

CHECKS: list[Check] = [
    SchemaCheck(check="schema"),
    RowCountCheck(check="row_count", min_rows=1, max_change=0.5),
    NotNullCheck(check="not_null", columns=["ride_id", "driver_id", "pickup_at"]),
    UniqueCheck(check="unique", columns=["ride_id"]),
    AcceptedValuesCheck(check="accepted_values", column="city", values=list(CITIES)),
    AcceptedValuesCheck(check="accepted_values", column="payment", values=list(PAYMENTS)),
    AcceptedValuesCheck(check="accepted_values", column="status", values=list(STATUSES)),
    RangeCheck(check="range", column="fare", min=0, max=1000),
    RangeCheck(check="range", column="distance_km", min=0, max=500),
    RangeCheck(check="range", column="passengers", min=1, max=8),
    CompletenessCheck(check="completeness", column="fare", min_ratio=0.95),
    CompletenessCheck(check="completeness", column="payment", min_ratio=0.9),
    FreshnessCheck(check="freshness", column="pickup_at", max_age="1h"),
]

SUITE: dict[str, Any] = {
    "name": "rides_bench",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ride_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "ride_id"}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "city", "value_set": CITIES},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "payment", "value_set": PAYMENTS},
            "meta": {"severity": "warn"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "fare", "min_value": 0, "max_value": 1000},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "fare", "mostly": 0.95},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "distance_km", "min_value": 1, "max_value": 50},
        },
    ],
}


def rides(rows: int, seed: int = 15) -> pa.Table:
    """A rides-like table that passes every check of :data:`CHECKS` and :data:`SUITE`."""
    rng = np.random.default_rng(seed)
    end_us = int(END.timestamp() * 1_000_000)
    pickup = end_us - rng.integers(0, 30 * 86_400 * 1_000_000, rows)
    pickup[0] = end_us  # the newest pickup is exactly END
    duration = rng.integers(120, 3_600, rows) * 1_000_000
    fare = rng.gamma(2.0, 9.0, rows)
    tip = rng.gamma(1.0, 2.0, rows)

    def nulls(share: float) -> np.ndarray:
        return rng.random(rows) < share

    def words(values: list[str], null_share: float = 0.0) -> pa.Array:
        indices = pa.array(rng.integers(0, len(values), rows, dtype=np.int8))
        column = pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())
        if null_share:
            column = pa.compute.if_else(pa.array(nulls(null_share)), None, column)
        return column

    timestamp = pa.timestamp("us", tz="UTC")
    columns = [
        pa.array(rng.permutation(rows).astype(np.int64) + 1_000_000),
        pa.array(rng.integers(1, 50_000, rows)),
        pa.array(pickup, timestamp),
        pa.array(pickup + duration, timestamp),
        pa.array(fare, mask=nulls(0.01)),
        pa.array(rng.gamma(2.0, 3.0, rows), mask=nulls(0.005)),
        pa.array(tip, mask=nulls(0.2)),
        pa.array(rng.integers(1, 5, rows, dtype=np.int32)),
        words(CITIES),
        words(PAYMENTS, 0.02),
        words(STATUSES),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def context(rows: int) -> CheckContext:
    return CheckContext(now=NOW, previous_row_counts=(rows, rows), schema=SCHEMA)


def our_checks(table: pa.Table) -> dict[str, int]:
    """Ours: the publish path's judge. Returns failing rows per result name."""
    results = run_checks(table, CHECKS, context(table.num_rows))
    return failing(results)


def failing(results: Sequence[CheckResult]) -> dict[str, int]:
    counts = {}
    for result in results:
        value = result.metadata.get("failing_rows")
        counts[result.name] = int(value) if isinstance(value, int) else int(not result.passed)
    return counts


def _literals(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


HAND_SQL = f"""
SELECT
    count(*),
    count(*) FILTER (WHERE ride_id IS NULL OR driver_id IS NULL OR pickup_at IS NULL),
    count(DISTINCT ride_id) + (count(*) > count(ride_id))::INT,
    count(*) FILTER (WHERE city NOT IN ({_literals(CITIES)})),
    count(*) FILTER (WHERE payment NOT IN ({_literals(PAYMENTS)})),
    count(*) FILTER (WHERE status NOT IN ({_literals(STATUSES)})),
    count(*) FILTER (WHERE NOT fare BETWEEN 0 AND 1000),
    count(*) FILTER (WHERE NOT distance_km BETWEEN 0 AND 500),
    count(*) FILTER (WHERE NOT passengers BETWEEN 1 AND 8),
    count(fare),
    count(payment),
    max(pickup_at)
FROM rides
"""


def hand_checks(table: pa.Table) -> dict[str, int]:
    """The same checks by hand: one aggregate query; schema and row count in Python."""
    connection = duckdb.connect()
    try:
        connection.register("rides", table)
        row = connection.execute(HAND_SQL).fetchone()
    finally:
        connection.close()
    assert row is not None
    rows, nulls, distinct, city, payment, status, fare, distance, passengers = row[:9]
    fare_present, payment_present, newest = row[9:]
    previous = table.num_rows  # the same history ours is given: no change
    return {
        "schema": int(table.schema != SCHEMA),
        "row_count": int(rows < 1 or abs(rows - previous) / previous > 0.5),
        "not_null_ride_id_driver_id_pickup_at": nulls,
        "unique_ride_id": rows - distinct,
        "accepted_values_city": city,
        "accepted_values_payment": payment,
        "accepted_values_status": status,
        "range_fare": fare,
        "range_distance_km": distance,
        "range_passengers": passengers,
        "completeness_fare": rows - fare_present,
        "completeness_payment": rows - payment_present,
        "freshness_pickup_at": int(newest is None or NOW - newest > timedelta(hours=1)),
    }


def timed(
    sides: dict[str, Callable[[], object]], repeat: int, label: str
) -> tuple[dict[str, float], dict[str, object]]:
    """Median wall seconds per side over ``repeat`` runs after one warm-up, alternating order.

    CPU seconds (this process, all threads) are printed too: on a shared machine they move
    less than wall time when a neighbour takes a core.
    """
    answers = {name: side() for name, side in sides.items()}  # warm-up, untimed
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for run in range(repeat):
        for name in names if run % 2 == 0 else names[::-1]:
            began, began_cpu = time.perf_counter(), time.process_time()
            sides[name]()
            wall[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - began_cpu)
    for name in names:
        shown = " ".join(f"{t:.3f}" for t in wall[name])
        print(
            f"{label} {name:6s} {shown}  median {statistics.median(wall[name]):.3f} s "
            f"(cpu {statistics.median(cpu[name]):.3f} s)"
        )
    return {name: statistics.median(values) for name, values in wall.items()}, answers


def gx_sides(table: pa.Table, chunk_rows: int, frame_kind: str) -> dict[str, Callable[[], object]]:
    """The direct GX run and ours (when the runner exists) on the same rows and suite."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from thermocline.quality.suites import load_suite
    from thermocline.quality.suites.runner import SuiteCheck

    if frame_kind == "arrow":
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    elif frame_kind == "projected":  # what a careful user hands GX: only the suite's columns
        named = {e["kwargs"]["column"] for e in SUITE["expectations"] if "column" in e["kwargs"]}
        frame = table.select([c for c in table.column_names if c in named]).to_pandas()
    else:
        frame = table.to_pandas()
    gx_context = gx.get_context(mode="ephemeral")
    gx_context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = gx_context.data_sources.add_pandas("bench").add_dataframe_asset("rides")
    definition = asset.add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(**SUITE)

    def direct() -> list[bool]:
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite)
        return [bool(r.success) for r in result.results]

    sides: dict[str, Callable[[], object]] = {"direct": direct}
    check = SuiteCheck(load_suite(json.dumps(SUITE), label="rides_bench"), chunk_rows=chunk_rows)
    judged = context(table.num_rows)

    def ours() -> list[bool]:
        return [r.passed for r in check(table, judged)]

    sides["ours"] = ours
    return sides


def profile(function: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(15)
    print(text.getvalue())


def builtin_half(rows: int, repeat: int, profiling: bool) -> tuple[float, float]:
    """Ours vs hand-written SQL on ``rows`` rows: (hand seconds / ours, our rows per second)."""
    began = time.perf_counter()
    table = rides(rows)
    print(
        f"built-in: {table.num_rows:,} rows x {len(CHECKS)} checks, "
        f"{table.nbytes / 1e9:.2f} GB of Arrow, made in {time.perf_counter() - began:.1f} s"
    )
    medians, answers = timed(
        {"hand": lambda: hand_checks(table), "ours": lambda: our_checks(table)},
        repeat,
        "built-in",
    )
    if answers["hand"] != answers["ours"]:
        raise SystemExit(f"the two sides disagree: {answers['hand']} vs {answers['ours']}")
    failed = [r.name for r in run_checks(table, CHECKS, context(table.num_rows)) if not r.passed]
    if failed:
        raise SystemExit(f"the data should pass every check; failed: {failed}")
    if profiling:
        for spec in CHECKS:
            began = time.perf_counter()
            run_checks(table, [spec], context(table.num_rows))
            print(f"  alone: {spec.check:16s} {time.perf_counter() - began:.3f} s")
        profile(lambda: our_checks(table))
    ratio = medians["hand"] / medians["ours"]
    rows_s = table.num_rows / medians["ours"]
    print(f"built-in: ours {rows_s / 1e6:.1f} M rows/s, {ratio:.3f} of hand-written SQL")
    return ratio, rows_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows of the built-in half")
    parser.add_argument("--gx-rows", type=int, default=3_000_000, help="rows of the GX half")
    parser.add_argument("--chunk-rows", type=int, default=250_000, help="our GX runner's chunks")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side (median)")
    parser.add_argument(
        "--gx-frame",
        choices=["numpy", "arrow", "projected"],
        default="numpy",
        help="the direct side's pandas frame: numpy-backed (to_pandas()), pd.ArrowDtype, or "
        "numpy-backed with only the columns the suite names",
    )
    parser.add_argument("--no-gx", action="store_true", help="skip the Great Expectations half")
    parser.add_argument("--profile", action="store_true", help="time each check alone, cProfile")
    args = parser.parse_args()
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, cpus {os.cpu_count()}")

    checks_vs_sql, rows_s = builtin_half(args.rows, args.repeat, args.profile)

    gx_vs_direct = float("nan")
    if not args.no_gx:
        began = time.perf_counter()
        warnings.filterwarnings("ignore", module="great_expectations")
        import great_expectations as gx

        print(
            f"gx: great_expectations {gx.__version__} imported in "
            f"{time.perf_counter() - began:.1f} s"
        )
        small = rides(args.gx_rows, seed=16)
        sides = gx_sides(small, args.chunk_rows, args.gx_frame)
        print(f"gx: {small.num_rows:,} rows x {len(SUITE['expectations'])} expectations")
        medians, answers = timed(sides, args.repeat, "gx")
        print(f"gx: direct successes {answers['direct']}")
        if "ours" in medians:
            print(f"gx: ours successes   {answers['ours']}")
            if answers["ours"] != answers["direct"]:
                raise SystemExit("the GX runner and GX directly disagree")
            gx_vs_direct = medians["direct"] / medians["ours"]
            if args.profile:
                profile(sides["ours"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {peak:.1f} GB")
    print(
        f"RESULT checks_vs_sql={checks_vs_sql:.3f} gx_vs_direct={gx_vs_direct:.3f} "
        f"checks_rows_s={rows_s:.0f}"
    )


if __name__ == "__main__":
    main()
