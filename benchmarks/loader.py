"""Training loader throughput against raw pyarrow and Hugging Face ``datasets`` streaming.

One local Delta table of ``--rows`` rows (default 9,000,000: 20 float32 columns, an int64 id
and a variable-length ``list<float32>`` of 0-15 items; about 1.1 GB of zstd Parquet in 500,000-row
files), generated once under ``.thermocline/bench/loader`` and reused. All three readers get the
same files, the same 22 columns and the rows in file order:

(a) raw: ``pyarrow.parquet.ParquetFile.iter_batches`` over every data file (the limit);
(b) ours: ``TableDataset`` through ``torch.utils.data.DataLoader(batch_size=None)``, in-process
    prefetch threads, ``--batch-size`` rows a batch as tensors (list column as values + offsets);
(c) Hugging Face ``datasets`` streaming the same Parquet files, ``with_format("torch")``,
    ``.iter(batch_size=...)``: tensors out, like ours. It runs in its own venv
    (``.thermocline/bench/venv-hf``, made by uv on first use with the project's constraints), so
    the project's pinned stack stays as it is.

Each side runs ``--repeat`` times, each time in a fresh subprocess (so peak RSS is its own),
after one untimed read of every file warms the page cache; medians are reported. Also measured,
outside the RESULT: our loader with shuffling, through ``TableLoader`` with 2 worker
processes, and HF with ``with_format("arrow")`` (Arrow tables out, no tensors: its fastest).
Our loader's time includes making its plan (the Delta log and the Parquet footers). With a
CUDA device, host-to-device throughput from pinned buffers is measured too.

Run: .venv/bin/python benchmarks/loader.py [--rows 9000000] [--batch-size 8192] [--repeat 3]
The last line is ``RESULT loader_vs_pyarrow=<b/a> loader_vs_hf=<b/c> loader_rows_s=<b>``.
Targets: >= 0.8 and >= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".thermocline" / "bench"
HF_VENV = WORK / "venv-hf"
DATASET = "bench"
COLUMNS = ["id", *[f"f{i:02d}" for i in range(20)], "seq"]


def lake_path(rows: int) -> Path:
    return WORK / f"loader-{rows}"


def generate(rows: int) -> None:
    """Write the table once (in 1.5M-row commits, so memory stays near 200 MB)."""
    import numpy as np
    import pyarrow as pa

    from thermocline.catalog.catalog import Catalog
    from thermocline.catalog.lake import Lake
    from thermocline.datasets.tables.writes import write

    lake = Lake.open(lake_path(rows))
    marker = lake_path(rows) / "done"
    if marker.exists():
        return
    print(f"generating {rows:,} rows under {lake_path(rows)} (once) ...", flush=True)
    rng = np.random.default_rng(0)
    step = 1_500_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        lengths = rng.integers(0, 16, n)
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
        values = pa.array(rng.standard_normal(int(offsets[-1]), dtype=np.float32))
        columns = {
            "id": np.arange(start, start + n, dtype=np.int64),
            **{f"f{i:02d}": rng.standard_normal(n, dtype=np.float32) for i in range(20)},
            "seq": pa.ListArray.from_arrays(pa.array(offsets), values),
        }
        write(Catalog(lake), DATASET, pa.table(columns), reason="loader benchmark data")
    marker.touch()


def data_files(rows: int) -> list[str]:
    from thermocline.catalog.lake import Lake
    from thermocline.datasets.tables.versions import open_table

    table = open_table(Lake.open(lake_path(rows)), DATASET)
    return sorted(table.file_uris())


def hf_python() -> Path:
    """The HF venv's python, made with uv from the project's constraints on first use."""
    python = HF_VENV / "bin" / "python"
    if not python.exists():
        print("creating the Hugging Face venv (once) ...", flush=True)
        uv = REPO / ".venv" / "bin" / "uv"
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, HF_VENV], check=True)
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", python, "-c", REPO / "constraints.txt"]
            + ["datasets", "torch", "psutil"]
            + (["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []),
            check=True,
        )
    return python


# --- the sides: each runs in its own process and prints one JSON line -----------------------


def side_raw(table_rows: int) -> dict[str, float]:
    import pyarrow.parquet as pq

    files = data_files(table_rows)  # the Delta log is read before the clock starts
    rows = nbytes = 0
    start = time.perf_counter()
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=COLUMNS):
            rows += batch.num_rows
            nbytes += batch.nbytes
    return {"seconds": time.perf_counter() - start, "rows": rows, "bytes": nbytes}


def side_ours(
    table_rows: int, batch_size: int, shuffle: bool = False, workers: int = 0
) -> dict[str, float]:
    import torch
    from torch.utils.data import DataLoader

    from thermocline.catalog.lake import Lake
    from thermocline.datasets.training import MASK, TableDataset, TableLoader

    start = time.perf_counter()
    dataset = TableDataset(
        DATASET,
        lake=Lake.open(lake_path(table_rows)),
        columns=COLUMNS,
        batch_size=batch_size,
        shuffle=shuffle,
        record_run=False,
        pin_memory=torch.cuda.is_available(),
    )
    loader = (
        TableLoader(dataset, num_workers=workers)
        if workers
        else DataLoader(dataset, batch_size=None)
    )
    rows = 0
    h2d_bytes, h2d_seconds = 0, 0.0
    for batch in loader:
        rows += int(batch[MASK].sum())
        if torch.cuda.is_available():
            tick = time.perf_counter()
            for value in batch.values():
                value.to("cuda", non_blocking=True)
                h2d_bytes += value.numel() * value.element_size()
            torch.cuda.synchronize()
            h2d_seconds += time.perf_counter() - tick
    result = {"seconds": time.perf_counter() - start, "rows": rows}
    if h2d_seconds:
        result["h2d_gb_s"] = h2d_bytes / h2d_seconds / 1e9
    return result


HF_SIDE = """
import json, resource, sys, time
from datasets import load_dataset
files, columns, batch_size = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
output = sys.argv[4]
start = time.perf_counter()
stream = load_dataset("parquet", data_files=files, split="train", streaming=True)
stream = stream.select_columns(columns).with_format(output)
rows = 0
for batch in stream.iter(batch_size=batch_size):
    rows += len(batch["id"])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss": peak}))
"""


def run_side(name: str, rows: int, batch_size: int) -> dict[str, float]:
    """One measurement of a side in a fresh process."""
    if name.startswith("hf"):
        args = [hf_python(), "-c", HF_SIDE, json.dumps(data_files(rows)), json.dumps(COLUMNS)]
        args += [str(batch_size), "arrow" if name == "hf_arrow" else "torch"]
    else:
        args = [sys.executable, __file__, "--side", name, "--rows", str(rows)]
        args += ["--batch-size", str(batch_size)]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=9_000_000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child process: measure one side, print JSON
        sides = {
            "raw": lambda: side_raw(args.rows),
            "ours": lambda: side_ours(args.rows, args.batch_size),
            "ours_shuffled": lambda: side_ours(args.rows, args.batch_size, shuffle=True),
            "ours_workers2": lambda: side_ours(args.rows, args.batch_size, workers=2),
        }
        result = sides[args.side]()
        result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result))
        return

    generate(args.rows)
    files = data_files(args.rows)
    on_disk = sum(Path(f).stat().st_size for f in files)
    print(f"{len(files)} files, {on_disk / 1e6:,.0f} MB of Parquet; warming the page cache")
    for path in files:
        Path(path).read_bytes()
    hf_python()

    names = ["raw", "ours", "hf", "ours_shuffled", "ours_workers2", "hf_arrow"]
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for round_number in range(args.repeat):
        for name in names if round_number % 2 == 0 else names[::-1]:
            result = run_side(name, args.rows, args.batch_size)
            runs[name].append(result)
            print(f"run {round_number + 1} {name:14s} {result['seconds']:7.2f} s", flush=True)

    raw_bytes = statistics.median(r["bytes"] for r in runs["raw"])
    rows = int(statistics.median(r["rows"] for r in runs["raw"]))
    width = raw_bytes / rows  # Arrow bytes per row of the 22 columns: MB/s on the same scale
    print(f"\n{rows:,} rows x {len(COLUMNS)} columns, {width:.1f} Arrow bytes a row")
    print(f"{'side':16s} {'rows/s':>12s} {'MB/s':>8s} {'peak RSS MB':>12s}")
    speed = {}
    for name in names:
        if any(int(r["rows"]) != rows for r in runs[name]):
            raise SystemExit(f"{name} delivered {[r['rows'] for r in runs[name]]} rows, not {rows}")
        seconds = statistics.median(r["seconds"] for r in runs[name])
        speed[name] = rows / seconds
        peak = max(r["peak_rss"] for r in runs[name]) / 1e6
        print(f"{name:16s} {speed[name]:12,.0f} {speed[name] * width / 1e6:8.0f} {peak:12.0f}")
    h2d = [r["h2d_gb_s"] for r in runs["ours"] if "h2d_gb_s" in r]
    if h2d:
        print(f"host-to-device from pinned buffers: {statistics.median(h2d):.1f} GB/s")
    else:
        print("no CUDA device: the host-to-device measurement did not run")
    print(
        f"RESULT loader_vs_pyarrow={speed['ours'] / speed['raw']:.3f} "
        f"loader_vs_hf={speed['ours'] / speed['hf']:.3f} loader_rows_s={speed['ours']:.0f}"
    )


if __name__ == "__main__":
    main()
