"""Tiering on the dev S3 server (Ceph RGW): storage-class moves through ``tier apply`` against a
plain parallel boto3 ``copy_object`` loop, and warm compaction + recompression against
``DeltaTable.optimize.compact`` alone, in one run.

**Class moves** (x, y). Under a fresh prefix of the dev bucket, ``--objects`` (default 1,100)
Parquet files of ``--object-mb`` (default 1 MB) of random bytes (incompressible: a file's size
is its payload) are uploaded twice, untimed: as the data files of one unpartitioned Delta table
(one commit adding them all) and as plain objects for the peer. Then two rounds; in each, both
sides move every one of their objects, and ``head_object`` checks afterwards (untimed) that each
object is in its new class:

1. hot -> warm (``STANDARD`` -> ``STANDARD_IA``), ``tier apply`` first;
2. warm -> cold (``STANDARD_IA`` -> ``GLACIER``, the dev RGW's cold class), the peer first.

- **tier**: ``apply_tiers(catalog, "moves", policy, settings, now=...)`` with ``now`` 40, then
  130 days ahead (warm after 30 days, cold after 90). The table is unpartitioned, so nothing is
  compacted (a compacted file's add time would be new) and every move is a copy in place. Its
  time includes planning from the Delta log and the catalog, the inventory commits (intents
  and dones, 500 files a batch) and the catalog event.
- **peer**: ``copy_object`` of each key onto itself with the new ``StorageClass``
  (``MetadataDirective=COPY``) from a ``ThreadPoolExecutor`` of 16 threads over one boto3
  client with 16 connections: the same parallelism as ``tier apply``'s default ``workers``.

``x = peer seconds / tier seconds`` summed over both rounds (target >= 0.8); ``y`` = MB (1e6
bytes) that ``tier apply`` moved per second. The tier inventory's cost report of the table is
printed after each round (``report_dataset``, what ``thermocline tier report`` shows; AWS prices
per GB-month of each class).

**Warm compaction** (z). On a local lake (so storage noise stays out of it), a table of
``--compact-files`` (default 200) appends of ~1 MB (snappy, delta-rs's default) in 4 dated
partitions, copied afresh (untimed) before each timed run:

- **tier**: ``apply_tiers`` with the partitions past ``warm_after_days``: one
  ``optimize.compact`` per partition into ``target_file_mb`` (128) files at zstd level 9 (a
  ``data_change=False`` commit each), the plan made again, the (logical) moves recorded;
- **optimize**: ``DeltaTable.optimize.compact(target_size=128 MB, writer_properties=zstd 9)``
  of the whole table, alone.

``z = optimize seconds / tier seconds`` (medians of ``--repeat`` runs, alternating order, after
one untimed warm-up). The row count of the table is checked after each run.

The S3 server is the dev stack's, reused when it runs (``thermocline dev up`` starts it). The
prefix is deleted at the end, also after a failure, and on Ceph RGW its space is reclaimed at
once (``radosgw-admin gc process --include-all``; RGW's collector would wait 2 hours, and a
few runs fill the dev OSD); it refuses to start on a nearly full cluster.

Run: .venv/bin/python benchmarks/tiering.py [--objects 1100] [--object-mb 1] [--repeat 3]
     (a few minutes and ~2.3 GB in the dev RGW at the defaults, removed afterwards;
     develop with --objects 100 --compact-files 40)
The last line is ``RESULT tier_vs_copy=<x> tier_mb_s=<y> warm_vs_optimize=<z>``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from botocore.config import Config
from deltalake import DeltaTable, Schema, WriterProperties, write_deltalake
from deltalake.transaction import AddAction, create_table_with_add_actions

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import TIERS, TieringPolicy, TieringSettings
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.tier_apply import apply_tiers
from thermocline.datasets.tables.tier_facts import report_dataset
from thermocline.datasets.tables.tier_report import GB
from thermocline.pipelines import devstack

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
WORKERS = 16  # tier apply's default workers, and the peer's threads and connections
DATASET = "moves"
SCHEMA = pa.schema([("id", pa.int64()), ("payload", pa.binary())])
ROUNDS = (  # (from, to, its storage class on the dev RGW, days ahead, which side goes first)
    ("hot", "warm", "STANDARD_IA", 40, "tier"),
    ("warm", "cold", "GLACIER", 130, "peer"),
)
POLICY = TieringPolicy(warm_after_days=30, cold_after_days=90, archive_after_days=None)
SETTINGS = TieringSettings(storage_classes={"cold": "GLACIER"})  # the dev RGW has no GLACIER_IR
COMPACT_DAYS = (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), date(2026, 1, 4))
TARGET_MB = 128
ZSTD_LEVEL = 9


# --- class moves on the dev RGW ---------------------------------------------------------------


def parquet_file(number: int, size: int) -> tuple[bytes, int]:
    """A Parquet file of ~``size`` random bytes in rows of 64 KB, and its row count."""
    rng = np.random.default_rng(number)
    row_bytes = 64 * 1024
    count = max(1, size // row_bytes)
    payload = rng.bytes(count * row_bytes)
    table = pa.table(
        {
            "id": pa.array(range(number * count, (number + 1) * count), pa.int64()),
            "payload": pa.array(
                [payload[i * row_bytes : (i + 1) * row_bytes] for i in range(count)], pa.binary()
            ),
        },
        schema=SCHEMA,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    return sink.getvalue(), count


class Bucket:
    """The peer's view of the dev bucket: one boto3 client with ``WORKERS`` connections."""

    def __init__(self, stack: devstack.StackInfo) -> None:
        s3 = stack.s3
        assert s3 is not None
        self.name = s3.bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name=s3.region,
            config=Config(
                max_pool_connections=WORKERS,
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def copy(self, key: str, storage_class: str) -> None:
        self.client.copy_object(
            Bucket=self.name,
            Key=key,
            CopySource={"Bucket": self.name, "Key": key},
            StorageClass=storage_class,
            MetadataDirective="COPY",
        )

    def storage_class(self, key: str) -> str:
        head = self.client.head_object(Bucket=self.name, Key=key)
        return str(head.get("StorageClass") or "STANDARD")


def upload(
    bucket: Bucket, lake: Lake, prefix: str, objects: int, size: int
) -> tuple[list[str], int]:
    """The table's files and the peer's copies, and the table's one commit; returns the
    peer's keys and the bytes of one side."""
    table_prefix = f"{prefix}/{DATASET}"
    peer_keys = [f"{prefix}/peer/part-{n:05d}.parquet" for n in range(objects)]

    def one(n: int) -> AddAction:
        body, rows = parquet_file(n, size)
        name = f"part-{n:05d}.parquet"
        bucket.put(f"{table_prefix}/{name}", body)
        bucket.put(peer_keys[n], body)
        stats = json.dumps({"numRecords": rows})
        return AddAction(name, len(body), {}, int(time.time() * 1000), True, stats)

    with ThreadPoolExecutor(WORKERS) as pool:
        actions = list(pool.map(one, range(objects)))
    create_table_with_add_actions(
        lake.table_uri(DATASET),
        Schema.from_arrow(SCHEMA),
        actions,
        storage_options=lake.delta_storage_options(),
    )
    return peer_keys, sum(a.size for a in actions)


def cost_lines(catalog: Catalog, settings: TieringSettings) -> list[str]:
    """The tier report of the table (``thermocline tier report``'s numbers): files, GB and USD
    per month per tier, and the same bytes all hot."""
    report = report_dataset(catalog, DATASET, settings)
    lines = [f"{'tier':<8} {'class':<12} {'files':>6} {'GiB':>8} {'USD/month':>10}"]
    for tier in TIERS:
        cost = report.tiers[tier]
        lines.append(
            f"{tier:<8} {cost.storage_class:<12} {cost.files:>6} "
            f"{cost.bytes / GB:>8.3f} {cost.monthly_usd:>10.4f}"
        )
    lines.append(
        f"total {report.monthly_usd:.4f} USD/month; all hot {report.all_hot_usd:.4f}; "
        f"saves {report.savings_usd:.4f} ({report.savings_share:.0%})"
    )
    return lines


def reclaim(stack: devstack.StackInfo) -> None:
    """Let RGW free the space of deleted objects and of the old copies a class change left
    now, not hours later (its garbage collector waits ``rgw_gc_obj_min_wait``, 2 h): one run
    leaves ~3x its data behind, enough to fill the dev OSD (20 GiB) in a few runs. Also
    refuses to start on a nearly full cluster."""
    if stack.s3 is None or stack.s3.kind != "ceph":
        return
    conf = str(stack.state_dir / "s3" / "ceph" / "ceph.conf")
    subprocess.run(
        ["radosgw-admin", "-c", conf, "gc", "process", "--include-all"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    health = subprocess.run(
        ["ceph", "-c", conf, "health", "-f", "json"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    full = [c for c in json.loads(health.stdout).get("checks", {}) if "FULL" in c]
    if full:
        raise SystemExit(f"the dev Ceph cluster is (nearly) full: {full}; not starting")


def class_moves(args: argparse.Namespace) -> tuple[float, float, float]:
    """Both rounds on the dev RGW; returns (peer seconds, tier seconds, tier bytes moved).
    Starts the dev S3 server when it is not running, and then stops it afterwards."""
    state = REPO / ".thermocline" / "dev"
    before = devstack.status(state).s3
    started_here = before is None or not before.running
    stack = devstack.up(state, kafka=False, log=print)
    assert stack.s3 is not None
    if stack.s3.kind != "ceph":
        print(f"warning: the dev S3 server is {stack.s3.kind}, not Ceph RGW")
    reclaim(stack)
    bucket = Bucket(stack)
    prefix = f"bench/tiering-{uuid.uuid4().hex[:10]}"
    lake = Lake.open(f"s3://{bucket.name}/{prefix}", stack.s3_storage_options())
    catalog = Catalog(lake)
    started = datetime.now(UTC)
    peer_total = tier_total = tier_bytes = 0.0
    try:
        start = time.perf_counter()
        keys, size = upload(bucket, lake, prefix, args.objects, int(args.object_mb * MB))
        took = time.perf_counter() - start
        print(
            f"uploaded 2 x {args.objects:,} objects, 2 x {size / 1e9:.2f} GB in {took:.1f} s "
            f"({2 * size / MB / took:.0f} MB/s) to {stack.s3.kind} at {stack.s3.endpoint_url}"
        )
        for source, tier, storage_class, days, first in ROUNDS:

            def tier_side(days: int = days) -> tuple[float, int]:
                start = time.perf_counter()
                result = apply_tiers(
                    catalog, DATASET, POLICY, SETTINGS, now=started + timedelta(days=days)
                )
                took = time.perf_counter() - start
                assert result.compacted == (), result.compacted
                return took, result.moved_bytes

            def peer_side(storage_class: str = storage_class) -> tuple[float, int]:
                start = time.perf_counter()
                with ThreadPoolExecutor(WORKERS) as pool:
                    list(pool.map(lambda key: bucket.copy(key, storage_class), keys))
                return time.perf_counter() - start, size

            sides: dict[str, Callable[[], tuple[float, int]]] = {
                "tier": tier_side,
                "peer": peer_side,
            }
            order = [first, *(s for s in sides if s != first)]
            timed = {name: sides[name]() for name in order}
            (tier_s, moved), (peer_s, _) = timed["tier"], timed["peer"]
            assert moved == size, (moved, size)
            table_keys = [f"{prefix}/{DATASET}/part-{n:05d}.parquet" for n in range(args.objects)]
            with ThreadPoolExecutor(WORKERS) as pool:
                found = set(pool.map(bucket.storage_class, table_keys + keys))
            assert found == {storage_class}, f"expected every object in {storage_class}: {found}"
            print(
                f"round {source}->{tier} ({storage_class}), {first} first: "
                f"tier apply {tier_s:.2f} s ({moved / MB / tier_s:.0f} MB/s), "
                f"copy_object loop {peer_s:.2f} s ({size / MB / peer_s:.0f} MB/s), "
                f"x={peer_s / tier_s:.3f}"
            )
            for line in cost_lines(catalog, SETTINGS):
                print(f"  {line}")
            peer_total += peer_s
            tier_total += tier_s
            tier_bytes += moved
    finally:
        fs = lake.filesystem
        assert isinstance(fs, pafs.SubTreeFileSystem)
        fs.base_fs.delete_dir(fs.base_path.rstrip("/"))
        reclaim(stack)
        print(f"deleted s3://{bucket.name}/{prefix} and reclaimed its space")
        if started_here:
            print("stopped the dev stack this run started:", ", ".join(devstack.down(state)))
    return peer_total, tier_total, tier_bytes


# --- warm compaction on a local lake ----------------------------------------------------------


def build_compact_table(uri: Path, files: int) -> tuple[int, int]:
    """``files`` appends of ~1 MB over the 4 days; returns (rows, bytes)."""
    rng = np.random.default_rng(1)
    rows_per_file = 90_000
    words = np.array([f"w{n:04d}" for n in range(5000)])
    cities = np.array(["amsterdam", "berlin", "lisbon", "madrid", "oslo", "paris"])
    for n in range(files):
        batch = pa.table(
            {
                "id": np.arange(n * rows_per_file, (n + 1) * rows_per_file, dtype=np.int64),
                "day": pa.array([COMPACT_DAYS[n % len(COMPACT_DAYS)]] * rows_per_file),
                "value": rng.standard_normal(rows_per_file).round(3),
                "city": cities[rng.integers(0, len(cities), rows_per_file)],
                "note": words[rng.integers(0, len(words), rows_per_file)],
            }
        )
        write_deltalake(str(uri), batch, mode="append", partition_by=["day"])
    table = DeltaTable(str(uri))
    return files * rows_per_file, sum(pa.table(table.get_add_actions())["size_bytes"].to_pylist())


def warm_compaction(args: argparse.Namespace) -> tuple[float, float, int]:
    """Median seconds of (optimize alone, tier apply) and the input bytes."""
    with tempfile.TemporaryDirectory(prefix="bench-tiering-") as tmp:
        source = Path(tmp, "source")
        rows, size = build_compact_table(source, args.compact_files)
        print(f"compaction table: {args.compact_files} files, {rows:,} rows, {size / MB:.0f} MB")
        lake = Lake.open(Path(tmp, "lake"))
        now = datetime(2026, 6, 1, tzinfo=UTC)
        policy = TieringPolicy(
            warm_after_days=30,
            cold_after_days=None,
            target_file_mb=TARGET_MB,
            zstd_level=ZSTD_LEVEL,
        )

        runs = iter(range(1_000_000))

        def fresh(kind: str) -> str:
            """A new copy of the table under a new name; the catalog (made by the warm-up
            run) stays, as in a lake that has been tiered before."""
            name = f"{kind}-{next(runs)}"
            shutil.copytree(source, lake.table_uri(name))
            return name

        def ours() -> float:
            name = fresh("events")
            start = time.perf_counter()
            result = apply_tiers(Catalog(lake), name, policy, SETTINGS, now=now)
            took = time.perf_counter() - start
            assert len(result.compacted) == len(COMPACT_DAYS), result.compacted
            assert all(c.version is not None for c in result.compacted), result.compacted
            assert DeltaTable(lake.table_uri(name)).to_pyarrow_dataset().count_rows() == rows
            shutil.rmtree(lake.table_uri(name))
            return took

        def optimize() -> float:
            path = lake.table_uri(fresh("plain"))
            start = time.perf_counter()
            DeltaTable(path).optimize.compact(
                target_size=TARGET_MB * 1024 * 1024,
                writer_properties=WriterProperties(
                    compression="ZSTD", compression_level=ZSTD_LEVEL
                ),
            )
            took = time.perf_counter() - start
            assert DeltaTable(path).to_pyarrow_dataset().count_rows() == rows
            shutil.rmtree(path)
            return took

        ours()
        optimize()
        times: dict[str, list[float]] = {"tier": [], "optimize": []}
        for n in range(args.repeat):
            for name, run in (("tier", ours), ("optimize", optimize))[:: 1 if n % 2 else -1]:
                times[name].append(run())
        for name, values in times.items():
            print(
                f"warm {name:<8} "
                + " ".join(f"{v:.2f}" for v in values)
                + f"  median {statistics.median(values):.2f} s"
                + f" ({size / MB / statistics.median(values):.0f} MB/s in)"
            )
        return statistics.median(times["optimize"]), statistics.median(times["tier"]), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1100, help="objects moved per side")
    parser.add_argument("--object-mb", type=float, default=1.0, help="size of each object")
    parser.add_argument("--compact-files", type=int, default=200, help="files to compact")
    parser.add_argument("--repeat", type=int, default=3, help="timed compaction runs")
    args = parser.parse_args()

    peer_s, tier_s, tier_bytes = class_moves(args)
    optimize_s, warm_s, _ = warm_compaction(args)
    x = peer_s / tier_s
    print(
        f"class moves, both rounds: tier apply {tier_s:.2f} s, copy_object loop {peer_s:.2f} s; "
        f"warm: optimize alone {optimize_s:.2f} s, tier apply {warm_s:.2f} s"
    )
    print(
        f"RESULT tier_vs_copy={x:.3f} tier_mb_s={tier_bytes / MB / tier_s:.1f} "
        f"warm_vs_optimize={optimize_s / warm_s:.3f}"
    )


if __name__ == "__main__":
    main()
