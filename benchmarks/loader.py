"""Training loader throughput against raw pyarrow, Hugging Face ``datasets``, Daft, Polars and
Ray Data, and the loader cache's second-epoch speed-up on the dev S3 server.

One local Delta table of ``--rows`` rows (default 9,000,000: 20 float32 columns, an int64 id
and a variable-length ``list<float32>`` of 0-15 items; about 1.1 GB of zstd Parquet in 750,000-row
files), generated once under ``.thermocline/bench/loader`` and reused. Every reader gets the
same version, the same 22 columns and the rows in file order:

(a) raw: ``pyarrow.parquet.ParquetFile.iter_batches`` over every data file (the limit);
(b) ours: ``TableDataset`` through ``torch.utils.data.DataLoader(batch_size=None)``, in-process
    prefetch threads, ``--batch-size`` rows a batch as tensors (list column as values + offsets);
(c) Hugging Face ``datasets`` streaming the same Parquet files, ``with_format("torch")``,
    ``.iter(batch_size=...)``: tensors out, like ours. It runs in its own venv
    (``.thermocline/bench/venv-hf``, made by uv on first use with the project's constraints), so
    the project's pinned stack stays as it is;
(d) the peers, each reading the Delta table itself into torch batches of the same size and form
    (``benchmarks/loader_peers.py`` says how each is used): Daft (``daft.read_deltalake``),
    Polars (``pl.scan_delta``; its streaming batches and, beside them, ``collect`` +
    ``iter_slices``: the faster of the two counts) and Ray Data (``ray.data.read_delta``).
    They run in a venv of their own (Daft 0.7 needs pyarrow < 26), made by hand once::

        uv venv .thermocline/bench/venv-loader
        uv pip install --python .thermocline/bench/venv-loader/bin/python \\
            --find-links /opt/wheels -r benchmarks/requirements-loader.txt

    (or ``--peers-python`` naming another one). Without it, or without one of the packages,
    those peers are skipped and said so; their ratios print as ``nan``.

Each side runs ``--repeat`` times, each time in a fresh subprocess (so peak RSS is its own),
rounds in alternating order, after one untimed read of every file warms the page cache and one
untimed run of each side (but HF's slow torch form) warms imports; medians are reported. Also
measured, outside the RESULT: our loader with shuffling, through ``TableLoader`` with 2 worker
processes, and HF with ``with_format("arrow")`` (Arrow tables out, no tensors: its fastest).
Our loader's time includes making its plan (the Delta log and the Parquet footers), the peers'
time their own planning. With a CUDA device, host-to-device throughput from pinned buffers is
measured too.

Cache: ``--cache-rows`` rows (default 4,500,000, ~540 MB) of the same shape written to a fresh
prefix of the dev S3 server (Ceph RGW, started when it is not running and then stopped again),
two epochs of our loader over it without and with ``cache_dir`` (decoded row groups as Arrow IPC
files, :class:`~thermocline.datasets.training.unitcache.UnitCache`, a fresh folder each run),
interleaved; the speed-up is the uncached second epoch's time over the cached one's. The same
pairs over the local ``--rows`` table print beside it (outside the RESULT). The prefix is
deleted afterwards. ``--cache-rows 0`` skips it.

Run: .venv/bin/python benchmarks/loader.py [--rows 9000000] [--batch-size 8192] [--repeat 3]
    [--cache-rows 4500000] [--skip hf,ray]
The last line is ``RESULT loader_vs_pyarrow=<b/a> loader_vs_hf=<b/c> loader_rows_s=<b>
loader_vs_daft=<b/daft> loader_vs_polars=<b/polars> cache_epoch2_speedup=<x>``.
Targets: >= 0.8, >= 2, >= 1.0 against the faster of Daft and Polars, >= 2 for the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".thermocline" / "bench"
HF_VENV = WORK / "venv-hf"
PEERS_VENV = WORK / "venv-loader"
PEERS_SCRIPT = Path(__file__).resolve().parent / "loader_peers.py"
PEERS = {"daft": "daft", "polars": "polars", "polars_collect": "polars", "ray": "ray"}
DATASET = "bench"
COLUMNS = ["id", *[f"f{i:02d}" for i in range(20)], "seq"]
Result = dict[str, Any]


def lake_path(rows: int) -> Path:
    return WORK / f"loader-{rows}"


def generate(
    rows: int, uri: str | Path | None = None, options: dict[str, str] | None = None
) -> None:
    """Write the table once (in 1.5M-row commits, so memory stays near 200 MB): locally under
    ``lake_path(rows)`` (reused by later runs), or into the lake at ``uri``."""
    import numpy as np
    import pyarrow as pa

    from thermocline.catalog.catalog import Catalog
    from thermocline.catalog.lake import Lake
    from thermocline.datasets.tables.writes import write

    lake = Lake.open(uri or lake_path(rows), options)
    marker = lake_path(rows) / "done"
    if uri is None and marker.exists():
        return
    print(f"generating {rows:,} rows under {lake.uri} ...", flush=True)
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
    if uri is None:
        marker.touch()


def table_version(rows: int) -> int:
    from thermocline.catalog.lake import Lake
    from thermocline.datasets.tables.versions import open_table

    return int(open_table(Lake.open(lake_path(rows)), DATASET).version())


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


def peers_available(python: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """The peers of ``wanted`` whose package imports in the peers' venv, and the others."""
    found, missing = [], []
    for name in wanted:
        ok = (
            python.exists()
            and not subprocess.run(
                [python, "-c", f"import {PEERS[name]}, torch"], capture_output=True
            ).returncode
        )
        (found if ok else missing).append(name)
    return found, missing


def peer_versions(python: Path, peers: list[str]) -> str:
    modules = sorted({PEERS[p] for p in peers} | {"pyarrow", "deltalake", "torch"})
    code = "import importlib; print(' '.join(m + ' ' + importlib.import_module(m).__version__ "
    code += f"for m in {modules!r}))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


# --- the sides: each runs in its own process and prints one JSON line -----------------------


def side_raw(table_rows: int) -> Result:
    import pyarrow.parquet as pq

    files = data_files(table_rows)  # the Delta log is read before the clock starts
    rows = nbytes = 0
    start = time.perf_counter()
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=COLUMNS):
            rows += batch.num_rows
            nbytes += batch.nbytes
    return {"seconds": time.perf_counter() - start, "rows": rows, "bytes": nbytes}


def side_ours(table_rows: int, batch_size: int, shuffle: bool = False, workers: int = 0) -> Result:
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
    result: Result = {"seconds": time.perf_counter() - start, "rows": rows}
    if h2d_seconds:
        result["h2d_gb_s"] = h2d_bytes / h2d_seconds / 1e9
    return result


def side_epochs(uri: str, batch_size: int, cache_dir: str | None) -> Result:
    """Two epochs of our loader over the table at ``uri`` (on the dev S3 server, or a local
    folder), with the cache of decoded row groups in ``cache_dir`` or without one; seconds of
    each epoch."""
    from torch.utils.data import DataLoader

    from thermocline.catalog.lake import Lake
    from thermocline.datasets.training import MASK, TableDataset
    from thermocline.pipelines import devstack

    options = None
    if uri.startswith("s3://"):
        options = devstack.status(REPO / ".thermocline" / "dev").s3_storage_options()
    start = time.perf_counter()
    dataset = TableDataset(
        DATASET,
        lake=Lake.open(uri, options),
        columns=COLUMNS,
        batch_size=batch_size,
        cache_dir=cache_dir,
        record_run=False,
    )
    result: Result = {"plan": time.perf_counter() - start}
    for epoch in (1, 2):
        start, rows = time.perf_counter(), 0
        for batch in DataLoader(dataset, batch_size=None):
            rows += int(batch[MASK].sum())
        result[f"epoch{epoch}"] = time.perf_counter() - start
        result["rows"] = rows
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


def run_side(name: str, args: argparse.Namespace, *extra: str) -> Result:
    """One measurement of a side in a fresh process."""
    rows, batch_size = args.rows, args.batch_size
    if name.startswith("hf"):
        argv = [hf_python(), "-c", HF_SIDE, json.dumps(data_files(rows)), json.dumps(COLUMNS)]
        argv += [str(batch_size), "arrow" if name == "hf_arrow" else "torch"]
    elif name in PEERS:
        table = str(lake_path(rows) / DATASET)
        argv = [args.peers_python, PEERS_SCRIPT, name, table, str(table_version(rows))]
        argv += [json.dumps(COLUMNS), str(batch_size)]
    else:
        argv = [sys.executable, __file__, "--side", name, "--rows", str(rows)]
        argv += ["--batch-size", str(batch_size), *extra]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"side {name} failed:\n{done.stderr[-3000:]}")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cache_speedup(args: argparse.Namespace) -> float:
    """Two epochs on the dev S3 server without and with the cache of decoded row groups,
    ``--repeat`` times each, interleaved; the uncached second epoch's median time over the
    cached one's. The same pairs on the local ``--rows`` table are printed beside it (outside
    the RESULT). Starts the dev S3 server when it is not running, and then stops it afterwards."""
    import pyarrow.fs as pafs
    from tiering import reclaim  # frees what RGW keeps of deleted objects (see tiering.py)

    from thermocline.catalog.lake import Lake
    from thermocline.pipelines import devstack

    state = REPO / ".thermocline" / "dev"
    before = devstack.status(state).s3
    started_here = before is None or not before.running
    stack = devstack.up(state, kafka=False, log=print)
    assert stack.s3 is not None
    reclaim(stack)
    uri = f"s3://{stack.s3.bucket}/bench/loader-cache-{uuid.uuid4().hex[:10]}"
    lake = Lake.open(uri, stack.s3_storage_options())
    sides = {  # name: (table, rows, cached)
        "uncached": (uri, args.cache_rows, False),
        "cached": (uri, args.cache_rows, True),
        "local uncached": (str(lake_path(args.rows)), args.rows, False),
        "local cached": (str(lake_path(args.rows)), args.rows, True),
    }
    runs: dict[str, list[Result]] = {name: [] for name in sides}
    try:
        generate(args.cache_rows, uri, stack.s3_storage_options())
        parquet = sum(
            info.size
            for info in lake.table_filesystem(DATASET).get_file_info(
                pafs.FileSelector("", recursive=True)
            )
            if info.path.endswith(".parquet")
        )
        print(f"{parquet / 1e6:,.0f} MB of Parquet on RGW")
        for round_number in range(args.repeat + 1):  # round 0 warms up, untimed
            for name in list(sides) if round_number % 2 else list(sides)[::-1]:
                table, rows, cached = sides[name]
                cache = WORK / f"cache-{uuid.uuid4().hex[:10]}"
                extra = ["--uri", table] + (["--cache-dir", str(cache)] if cached else [])
                try:
                    result = run_side("epochs", args, *extra)
                    cached_bytes = (
                        sum(f.stat().st_size for f in cache.glob("*")) if cache.exists() else 0
                    )
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
                if cached != (cached_bytes > 0):
                    raise SystemExit(f"{name} run left {cached_bytes} bytes in its cache folder")
                if result["rows"] != rows:
                    raise SystemExit(f"{name} delivered {result['rows']} rows, not {rows}")
                if round_number:
                    runs[name].append(result)
                print(
                    f"cache {'run ' + str(round_number) if round_number else 'warm-up'} "
                    f"{name:14s} plan {result['plan']:5.2f} s  epoch 1 {result['epoch1']:6.2f} s"
                    f"  epoch 2 {result['epoch2']:6.2f} s  ({cached_bytes / 1e6:,.0f} MB cached)",
                    flush=True,
                )
    finally:
        fs = lake.filesystem
        assert isinstance(fs, pafs.SubTreeFileSystem)
        fs.base_fs.delete_dir(fs.base_path.rstrip("/"))
        reclaim(stack)
        print(f"deleted {uri} and reclaimed its space")
        if started_here:
            print("stopped the dev stack this run started:", ", ".join(devstack.down(state)))
    median = {
        n: {k: statistics.median(r[k] for r in rs) for k in ("epoch1", "epoch2")}
        for n, rs in runs.items()
    }
    for name, m in median.items():
        rate = sides[name][1] / m["epoch2"]
        print(
            f"cache {name:14s} medians: epoch 1 {m['epoch1']:.2f} s, "
            f"epoch 2 {m['epoch2']:.2f} s ({rate:,.0f} rows/s)"
        )
    local = median["local uncached"]["epoch2"] / median["local cached"]["epoch2"]
    print(f"outside the RESULT: local_cache_epoch2_speedup={local:.3f}")
    return median["uncached"]["epoch2"] / median["cached"]["epoch2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=9_000_000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-rows", type=int, default=4_500_000)
    parser.add_argument("--peers-python", type=Path, default=PEERS_VENV / "bin" / "python")
    parser.add_argument("--skip", default="", help="sides to leave out, e.g. hf,ray")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a child process: measure one side, print JSON
        sides = {
            "raw": lambda: side_raw(args.rows),
            "ours": lambda: side_ours(args.rows, args.batch_size),
            "ours_shuffled": lambda: side_ours(args.rows, args.batch_size, shuffle=True),
            "ours_workers2": lambda: side_ours(args.rows, args.batch_size, workers=2),
            "epochs": lambda: side_epochs(args.uri, args.batch_size, args.cache_dir),
        }
        result = sides[args.side]()
        result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result))
        return

    skip = {s for s in args.skip.split(",") if s}
    peers, missing = peers_available(args.peers_python, [p for p in PEERS if p not in skip])
    if missing:
        print(
            f"skipped peers {', '.join(missing)}: not importable with {args.peers_python} (make "
            "its venv as this file's docstring says, or pass --peers-python)"
        )
    if peers:
        print(f"peers' venv: {peer_versions(args.peers_python, peers)}")
    generate(args.rows)
    files = data_files(args.rows)
    on_disk = sum(Path(f).stat().st_size for f in files)
    print(f"{len(files)} files, {on_disk / 1e6:,.0f} MB of Parquet; warming the page cache")
    for path in files:
        Path(path).read_bytes()
    if not {"hf", "hf_arrow"} <= skip:
        hf_python()

    names = ["raw", "ours", "hf", *peers, "ours_shuffled", "ours_workers2", "hf_arrow"]
    names = [n for n in names if n not in skip]
    for name in names:  # one untimed run each (imports, first-use costs); HF's torch form is
        if name != "hf":  # the one too slow for it
            print(f"warm-up {name:14s} {run_side(name, args)['seconds']:7.2f} s", flush=True)
    runs: dict[str, list[Result]] = {n: [] for n in names}
    for round_number in range(args.repeat):
        for name in names if round_number % 2 == 0 else names[::-1]:
            result = run_side(name, args)
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

    def versus(*peer: str) -> float:
        found = [speed[p] for p in peer if p in speed]
        return speed["ours"] / max(found) if found else math.nan

    if "ray" in speed:
        print(f"outside the RESULT: loader_vs_ray={versus('ray'):.3f}")
    speedup = cache_speedup(args) if args.cache_rows else math.nan
    print(
        f"RESULT loader_vs_pyarrow={versus('raw'):.3f} loader_vs_hf={versus('hf'):.3f} "
        f"loader_rows_s={speed['ours']:.0f} loader_vs_daft={versus('daft'):.3f} "
        f"loader_vs_polars={versus('polars', 'polars_collect'):.3f} "
        f"cache_epoch2_speedup={speedup:.3f}"
    )


if __name__ == "__main__":
    main()
