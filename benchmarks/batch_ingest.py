"""Batch ingest: CSV and JSON-lines files into Delta, our source vs plain pyarrow + deltalake.

What it measures. The same files (by default about 320 MB of CSV and 290 MB of JSON lines, 12
columns of mixed types, deterministic numpy data generated once into a temp dir) go into a
fresh local Delta table two ways, in one run, on the same machine:

- **raw**: ``pyarrow.csv.read_csv`` / ``pyarrow.json.read_json`` with the explicit schema, then
  one ``deltalake.write_deltalake`` per format;
- **ours**: ``thermocline.datasets.ingest.sources.read_new`` (listing, consumed-file check,
  read with the declared schema, schema conformance) +
  ``thermocline.datasets.tables.staging.stage`` +
  ``publish`` (statistics, commit with the source metadata and app transaction, catalog event),
  one batch per format, into a fresh lake.

Runs alternate which side goes first; each run writes to fresh folders (deleted untimed, then
``os.sync()`` so one run's disk writeback is not timed in the next);
medians over ``--repeat`` runs. ``x = raw_seconds / our_seconds`` (higher is better for us),
``y = input MB / our seconds``. ``--profile`` adds a cProfile of one of our runs.

Run:  .venv/bin/python benchmarks/batch_ingest.py [--csv-mb 300] [--jsonl-mb 260] [--repeat 3]
The last line is ``RESULT batch_ingest_vs_raw=<x> batch_ingest_mb_s=<y>``. Target: x >= 0.8.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import deltalake
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from deltalake import write_deltalake

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.sources import read_new
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.writes import publish

SCHEMA = {
    "id": "int64",
    "user_id": "int64",
    "amount": "float64",
    "score": "float32",
    "qty": "int32",
    "city": "string",
    "country": "string",
    "device": "string",
    "flag": "bool",
    "ts": "timestamp[us, tz=UTC]",
    "day": "date32",
    "note": "string",
}
ROWS_PER_FILE = 250_000
_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "river",
    "stone",
    "cloud",
    "north",
    "quiet",
    "amber",
    "signal",
    "harbor",
]


def make_rows(seed: int, start: int, rows: int) -> pa.Table:
    """Deterministic rows; ``ts`` as ISO 8601 text, the way files carry it."""
    rng = np.random.default_rng(seed)
    phrases = np.array(
        [" ".join(rng.choice(_WORDS, size=int(k))) for k in rng.integers(1, 7, size=1000)]
    )
    cities = np.array([f"city-{i:02d}" for i in range(50)])
    countries = np.array([f"c{i:02d}" for i in range(20)])
    devices = np.array(["ios", "android", "web", "kiosk", "api"])
    micros = 1_795_000_000_000_000 + rng.integers(0, 30 * 86_400 * 10**6, size=rows)
    stamps = pa.array(micros.astype("datetime64[us]"), pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "id": np.arange(start, start + rows, dtype=np.int64),
            "user_id": rng.integers(0, 10_000_000, size=rows),
            "amount": np.round(rng.random(rows) * 500, 2),
            "score": rng.standard_normal(rows).astype(np.float32),
            "qty": rng.integers(1, 20, size=rows, dtype=np.int32),
            "city": cities[rng.integers(0, len(cities), size=rows)],
            "country": countries[rng.integers(0, len(countries), size=rows)],
            "device": devices[rng.integers(0, len(devices), size=rows)],
            "flag": rng.random(rows) < 0.3,
            "ts": pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ"),  # %S has the micros
            "day": pc.cast(stamps, pa.date32()),
            "note": phrases[rng.integers(0, len(phrases), size=rows)],
        }
    )


def generate(folder: Path, file_format: str, megabytes: int) -> list[Path]:
    """Files of ``ROWS_PER_FILE`` rows until ``megabytes`` are written."""
    out = folder / file_format
    out.mkdir(parents=True)
    files: list[Path] = []
    written = 0
    while written < megabytes * 1e6:
        index = len(files)
        seed = index + (1000 if file_format == "jsonl" else 0)
        table = make_rows(seed, start=index * ROWS_PER_FILE, rows=ROWS_PER_FILE)
        path = out / f"part-{index:03d}.{file_format}"
        if file_format == "csv":
            pacsv.write_csv(table, path)
        else:
            connection = duckdb.connect()
            connection.register("batch", table)
            connection.execute(f"COPY batch TO '{path}' (FORMAT json)")
            connection.close()
        written += path.stat().st_size
        files.append(path)
    return files


def raw_ingest(files: dict[str, list[Path]], schema: pa.Schema, root: Path) -> None:
    """Plain pyarrow read with the explicit schema + one write_deltalake per format."""
    for file_format, paths in files.items():
        if file_format == "csv":
            convert = pacsv.ConvertOptions(column_types=schema)
            tables = [pacsv.read_csv(p, convert_options=convert) for p in paths]
        else:
            # pyarrow's JSON reader parses dates only from numbers: read the ISO text, then cast
            # (what our source does too).
            as_text = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in schema]
            )
            parse = pajson.ParseOptions(explicit_schema=as_text)
            tables = [pajson.read_json(p, parse_options=parse).cast(schema) for p in paths]
        write_deltalake(str(root / f"raw_{file_format}"), pa.concat_tables(tables), mode="append")


def our_ingest(folder: Path, files: dict[str, list[Path]], lake: Lake) -> None:
    """read_new + stage + publish, one batch per format."""
    for file_format in files:
        source = {"kind": "files", "url": f"{folder}/{file_format}/*", "format": file_format}
        spec = DatasetSpec.model_validate({"source": source, "schema": SCHEMA})
        name = f"ours_{file_format}"
        batch = read_new(lake, name, spec)
        assert batch is not None
        assert len(batch.files) == len(files[file_format])
        staged = stage(lake, name, batch.data)
        publish(
            Catalog(lake),
            staged,
            reason=batch.description,
            app_transactions=batch.app_transactions,
            metadata=batch.commit_metadata,
        )


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*.parquet")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-mb", type=int, default=300, help="MB of CSV to generate")
    parser.add_argument("--jsonl-mb", type=int, default=260, help="MB of JSON lines to generate")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile one of our runs")
    args = parser.parse_args()
    schema = DatasetSpec.model_validate({"schema": SCHEMA}).arrow_schema()
    assert schema is not None

    with tempfile.TemporaryDirectory(prefix="bench-batch-ingest-") as tmp:
        folder = Path(tmp, "input")
        start = time.perf_counter()
        files = {
            "csv": generate(folder, "csv", args.csv_mb),
            "jsonl": generate(folder, "jsonl", args.jsonl_mb),
        }
        sizes = {k: sum(p.stat().st_size for p in v) / 1e6 for k, v in files.items()}
        total_mb = sum(sizes.values())
        rows = {k: len(v) * ROWS_PER_FILE for k, v in files.items()}
        print(
            f"generated in {time.perf_counter() - start:.1f} s: "
            + ", ".join(
                f"{k}: {len(v)} files {sizes[k]:.0f} MB {rows[k]:,} rows" for k, v in files.items()
            )
            + f"; total {total_mb:.0f} MB",
            flush=True,
        )

        def run_raw() -> float:
            root = Path(tmp, "raw")
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            os.sync()  # the previous run's writeback must not land in this run's time
            began = time.perf_counter()
            raw_ingest(files, schema, root)
            return time.perf_counter() - began

        def run_ours() -> float:
            root = Path(tmp, "lake")
            shutil.rmtree(root, ignore_errors=True)
            os.sync()
            began = time.perf_counter()
            our_ingest(folder, files, Lake.open(root))
            return time.perf_counter() - began

        raw_times: list[float] = []
        our_times: list[float] = []
        for run in range(args.repeat):
            order = [("raw", run_raw), ("ours", run_ours)]
            for label, function in order if run % 2 == 0 else order[::-1]:
                took = function()
                (raw_times if label == "raw" else our_times).append(took)
                print(f"run {run + 1} {label:4s} {took:6.2f} s", flush=True)

        # Same result both ways: row counts and Parquet sizes (compression differs).
        lake = Lake.open(Path(tmp, "lake"))
        for file_format in files:
            raw_rows = deltalake.DeltaTable(str(Path(tmp, "raw", f"raw_{file_format}"))).count()
            our_rows = deltalake.DeltaTable(lake.table_uri(f"ours_{file_format}")).count()
            assert raw_rows == our_rows == rows[file_format], (raw_rows, our_rows)
        print(
            f"parquet written: raw {folder_mb(Path(tmp, 'raw')):.0f} MB (write_deltalake default), "
            f"ours {folder_mb(Path(tmp, 'lake')):.0f} MB (zstd)"
        )

        if args.profile:
            root = Path(tmp, "lake")
            shutil.rmtree(root, ignore_errors=True)
            profiler = cProfile.Profile()
            profiler.enable()
            our_ingest(folder, files, Lake.open(root))
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
            print(text.getvalue())

    raw_s, our_s = statistics.median(raw_times), statistics.median(our_times)
    print(
        f"input {total_mb:.0f} MB ({', '.join(f'{k} {v:.0f} MB' for k, v in sizes.items())}); "
        f"median of {args.repeat}: raw {raw_s:.2f} s, ours {our_s:.2f} s"
    )
    ratio, throughput = raw_s / our_s, total_mb / our_s
    print(f"RESULT batch_ingest_vs_raw={ratio:.3f} batch_ingest_mb_s={throughput:.1f}")


if __name__ == "__main__":
    main()
