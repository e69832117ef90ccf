"""Rollback cost against history length: a 1,000-version table vs a 10-version one.

Both tables hold the same rows (``--rows``, default 1,000,000 rows of four numeric columns, about
30 MB of Parquet), written the way many ingests leave them: plain ``write_deltalake(...,
mode="append")`` calls, 10 for one table and 1,000 for the other. So the long table has the same
data in 100x the files and 100x the log, with delta-rs's default checkpoint every 100 commits.

Each timed run copies each table afresh (untimed) and rolls it back to the version that holds
half the data (version 4, and version 499, which falls on a checkpoint) with
``thermocline.datasets.tables.rollback.rollback``: resolve, preflight, ``DeltaTable.restore``,
catalog event. For reference it also times bare ``DeltaTable(uri).restore(target)`` on another fresh
copy. One untimed warm-up run per table first (it also creates the catalog's event table);
medians over ``--repeat`` runs. Building the 1,000-version table takes about 30 s.

Run: .venv/bin/python benchmarks/rollback.py [--rows 1000000] [--repeat 7]
The last line is ``RESULT rollback_ratio_1000_vs_10=<x> rollback_1000_s=<seconds>``.
Target: ratio <= 2 and under 1 s on a local lake.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.rollback import rollback

VERSIONS = (10, 1000)


def build(uri: Path, rows: int, versions: int) -> None:
    """``versions`` appends of ``rows / versions`` rows each, same values for every table."""
    rng = np.random.default_rng(0)
    per = rows // versions
    for v in range(versions):
        batch = pa.table(
            {
                "id": np.arange(v * per, (v + 1) * per, dtype=np.int64),
                "x": rng.random(per),
                "y": rng.standard_normal(per),
                "k": rng.integers(0, 1000, per, dtype=np.int32),
            }
        )
        write_deltalake(str(uri), batch, mode="append")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in each table")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs (median reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as tmp:
        source = Path(tmp, "source")
        lake = Lake.open(Path(tmp, "lake"))
        target = {n: n // 2 - 1 for n in VERSIONS}  # the version holding half the rows
        for n in VERSIONS:
            print(f"building the {n}-version table ...", flush=True)
            build(source / f"v{n}", args.rows, n)

        def fresh(n: int) -> str:
            name = f"v{n}"
            shutil.rmtree(lake.table_uri(name), ignore_errors=True)
            shutil.copytree(source / name, lake.table_uri(name))
            return name

        def ours(n: int) -> float:
            name = fresh(n)
            start = time.perf_counter()
            result = rollback(Catalog(lake), name, to=target[n], reason="benchmark")
            took = time.perf_counter() - start
            assert (result.target_version, result.new_version) == (target[n], n), result
            return took

        def raw(n: int) -> float:
            table = lake.table_uri(fresh(n))
            start = time.perf_counter()
            DeltaTable(table).restore(target[n])
            return time.perf_counter() - start

        for n in VERSIONS:  # warm-up
            ours(n)
            raw(n)
        times: dict[tuple[int, str], list[float]] = {}
        for _ in range(args.repeat):
            for n in VERSIONS:
                times.setdefault((n, "ours"), []).append(ours(n))
                times.setdefault((n, "raw"), []).append(raw(n))
        median = {key: statistics.median(values) for key, values in times.items()}

        print(
            f"\n{'versions':>8} {'files':>6} {'data MB':>8} {'target':>6} "
            f"{'rollback s':>11} {'raw restore s':>14}"
        )
        for n in VERSIONS:
            files = list((source / f"v{n}").glob("*.parquet"))
            mb = sum(f.stat().st_size for f in files) / 1e6
            print(
                f"{n:>8} {len(files):>6} {mb:>8.1f} {target[n]:>6} "
                f"{median[n, 'ours']:>11.4f} {median[n, 'raw']:>14.4f}"
            )
        print(f"(medians of {args.repeat} runs, {args.rows:,} rows per table)")

    long, short = median[1000, "ours"], median[10, "ours"]
    print(f"RESULT rollback_ratio_1000_vs_10={long / short:.3f} rollback_1000_s={long:.4f}")


if __name__ == "__main__":
    main()
