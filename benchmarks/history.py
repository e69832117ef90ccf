"""Cost of everyday operations against history length: tables of 100, 10,000 and 100,000 versions.

Issue #18: a Kafka table that publishes once a second gains 86,400 versions a day, and nothing
that needs only the tail of the log may slow down with it. Each table here is a rolling window
of the same data: version 0 adds 10 Parquet files of 1,000 rows, and every later version is a
Kafka-like micro-batch commit (commit info, an app transaction ``kafka:bench:0`` with the
offset, one ``remove`` of the oldest file and one ``add`` of a new one). Every version holds 10
files and 10,000 rows, so the tables differ only in their history. One commit per second,
ending a minute ago (a 100,000-version table spans 28 hours).

**Built fast, by writing the log directly.** The data is a pool of 20 Parquet files that the
window cycles through (a path removed and later added again is plain Delta: the newest action
wins), the commits are ``_delta_log/%020d.json`` files, and a checkpoint every 100 versions as
delta-rs writes them: delta-rs writes the first (version 100) and this script writes the rest
with its schema (the live ``add`` rows, the ``remove`` tombstones, the app transaction,
protocol and metadata). On the local lake each log file's mtime is its commit time, since log
cleanup goes by the file's age. :func:`validate` checks that the result is a valid Delta table
as delta-rs sees it: the latest version, its app transaction and the newest commits; at sampled
versions (on both sides of checkpoints) the live file set and the row count equal the model's;
and the checkpoint this script wrote at version 200 equals, row for row, the one delta-rs writes
from the JSON commits alone. 100,000 versions build in about 40 s on a quiet machine.

Then, per table, each in a lake (and catalog) of its own: tags ``golden`` (a version half way)
and ``recent`` (10 versions back), the dataset's default log retention
(:func:`apply_default_retention`, the issue's ``thermocline maintain``), and the timed
operations, each once untimed and then in ``--repeat`` rounds (median) that take the tables in
turn, so that what the machine does meanwhile weighs on every table alike: open latest
(``open_table``), ``thermocline history DATASET --json`` (the default page), ``thermocline
describe DATASET --json`` (both in-process), read at a tag and at an ISO time
(``read_dataset(...).to_table()``; the time is that of the version five minutes back, or 90% of
the way in a table younger than that: within the log's 15 minutes), rollback to a tag
(``rollback``, alternating between the two tags so every one restores files), and ``thermocline
--help`` (the console script, a fresh process). The 10,000-version table, and the smallest one
to compare it with, also run on the dev stack's RGW (uploaded under ``bench/``, deleted
afterwards; an ``RGW ratios`` line): the script starts the dev S3 server when it is not running
and stops it again (``--no-s3`` skips this). On RGW the log files' modification times are their
upload times, so retention trims nothing there. On the local lake, after the retention the
log's files move to a fresh folder (:func:`fresh_log_folder`): ext4 never shrinks a directory,
and one built with 101,000 files in one go lists like one of that size forever, which a table
trimmed along the way (at most ~1,100 entries) never is.

The tables are Kafka datasets, whose default log retention is 15 minutes (with a restore
point every 15 minutes for a day past it): the 100,000-version table (28 hours at one commit a
second) keeps about 1,000 log entries. Opening a table on the local lake lists all of its
``_delta_log/`` (delta-rs), so under the earlier one-day default it kept ~86,000 entries and
every open cost ~0.1 s; on S3 the listing starts at the last checkpoint. A time past the log
reads a restore point's file list, which costs what a read at a tag costs (``read_tag``).

Run: .venv/bin/python benchmarks/history.py [--versions 100,10000,100000] [--repeat 15] [--no-s3]
The last line is ``RESULT history_ratio_max=<largest 100k/100 ratio over the operations>
history_100k_max_s=<slowest of them at 100k> cli_help_s=<x>``.
Targets: ratio <= 1.5, slowest < 0.3 s, CLI help < 0.3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import KIND_KEY, ROWS_KEY, USER_KEY
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.versions import open_table, read_dataset, resolve_version
from thermocline.pipelines import devstack
from thermocline.pipelines.cli import cli

REPO = Path(__file__).resolve().parents[1]
POOL, LIVE, ROWS = 20, 10, 1_000  # pool of data files, files per version, rows per file
CHECKPOINT_EVERY = 100  # delta-rs's default checkpoint interval
APP_ID = "kafka:bench:0"
OPERATIONS = ("open_latest", "history", "describe", "read_tag", "read_time", "rollback_tag")
SCHEMA = {
    "type": "struct",
    "fields": [
        {"name": "id", "type": "long", "nullable": True, "metadata": {}},
        {"name": "x", "type": "double", "nullable": True, "metadata": {}},
    ],
}


# --- building a table of N versions ---------------------------------------------------------


def live(version: int) -> list[int]:
    """The pool indexes of the files version ``version`` holds (the model the table follows)."""
    return sorted((version + k) % POOL for k in range(LIVE))


class Builder:
    """Writes one rolling-window table of ``versions`` commits under ``root`` (a local folder)."""

    def __init__(self, root: Path, versions: int) -> None:
        self.root, self.versions, self.log = root, versions, root / "_delta_log"
        self.start_ms = int(time.time() * 1000) - (versions + 60) * 1000
        self.files: list[dict[str, object]] = []
        self.table_id = str(uuid.uuid4())
        self.schema: pa.Schema | None = None  # a checkpoint's, once delta-rs wrote one

    def ts(self, version: int) -> int:
        return self.start_ms + version * 1000

    def build(self) -> None:
        self.log.mkdir(parents=True)
        for i in range(POOL):
            ids = pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64())
            pq.write_table(pa.table({"id": ids, "x": pa.array([i / 7] * ROWS)}), self._data(i))
            stats = {
                "numRecords": ROWS,
                "minValues": {"id": i * ROWS, "x": i / 7},
                "maxValues": {"id": (i + 1) * ROWS - 1, "x": i / 7},
                "nullCount": {"id": 0, "x": 0},
            }
            size = self._data(i).stat().st_size
            self.files.append({"path": self._data(i).name, "size": size, "stats": stats})
        for version in range(self.versions):
            self._commit(version)
            if version and version % CHECKPOINT_EVERY == 0:
                self._checkpoint(version)

    def _data(self, i: int) -> Path:
        return self.root / f"part-{i:05d}-bench.snappy.parquet"

    def _add(self, i: int, ts: int) -> dict[str, object]:
        f = self.files[i]
        return {
            "path": f["path"],
            "partitionValues": {},
            "size": f["size"],
            "modificationTime": ts,
            "dataChange": True,
            "stats": json.dumps(f["stats"]),
        }

    def _remove(self, i: int, ts: int) -> dict[str, object]:
        f = self.files[i]
        return {
            "path": f["path"],
            "deletionTimestamp": ts,
            "dataChange": True,
            "extendedFileMetadata": True,
            "partitionValues": {},
            "size": f["size"],
        }

    def _metadata(self) -> dict[str, object]:
        return {
            "id": self.table_id,
            "format": {"provider": "parquet", "options": {}},
            "schemaString": json.dumps(SCHEMA),
            "partitionColumns": [],
            "configuration": {},
            "createdTime": self.ts(0),
        }

    def _commit(self, version: int) -> None:
        ts = self.ts(version)
        if version == 0:
            info = {"timestamp": ts, "operation": "CREATE TABLE", "operationParameters": {}}
            actions = [
                {"commitInfo": info},
                {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                {"metaData": self._metadata()},
                *({"add": self._add(i, ts)} for i in live(0)),
            ]
        else:
            info = {
                "timestamp": ts,
                "operation": "WRITE",
                "operationParameters": {"mode": "Append"},
                USER_KEY: "benchmark",
                ROWS_KEY: str(ROWS),
                KIND_KEY: "kafka",
            }
            actions = [
                {"commitInfo": info},
                {"txn": {"appId": APP_ID, "version": version * ROWS, "lastUpdated": ts}},
                {"remove": self._remove((version - 1) % POOL, ts)},
                {"add": self._add((version - 1 + LIVE) % POOL, ts)},
            ]
        path = self.log / f"{version:020d}.json"
        path.write_text("".join(json.dumps(a) + "\n" for a in actions))
        os.utime(path, (ts / 1000, ts / 1000))

    def _checkpoint(self, version: int) -> None:
        name = self.log / f"{version:020d}.checkpoint.parquet"
        if self.schema is None:  # the first: delta-rs's own, whose schema the rest follow
            DeltaTable(str(self.root), version=version).create_checkpoint()
            self.schema = pq.read_schema(name)
        else:
            rows = self.checkpoint_rows(version)
            pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), name)
            last = {"version": version, "size": len(rows), "numOfAddFiles": LIVE}
            (self.log / "_last_checkpoint").write_text(json.dumps(last))
        ts = self.ts(version) / 1000
        os.utime(name, (ts, ts))

    def checkpoint_rows(self, version: int) -> list[dict[str, object]]:
        """The actions of a checkpoint at ``version``: what delta-rs writes (see validate)."""
        held = live(version)
        rows: list[dict[str, object]] = [
            {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
            {"metaData": {**self._metadata(), "format": {"provider": "parquet", "options": []}}},
            {"txn": {"appId": APP_ID, "version": version * ROWS, "lastUpdated": self.ts(version)}},
        ]
        for i in held:  # added by the newest commit that added it
            added = max(v for v in range(max(0, version - POOL), version + 1) if i in _added(v))
            rows.append({"add": {**self._add(i, self.ts(added)), "partitionValues": []}})
        for i in sorted(set(range(POOL)) - set(held)):
            removed = max(
                v for v in range(max(1, version - POOL), version + 1) if (v - 1) % POOL == i
            )
            rows.append({"remove": {**self._remove(i, self.ts(removed)), "partitionValues": []}})
        return rows


def _added(version: int) -> set[int]:
    return set(live(0)) if version == 0 else {(version - 1 + LIVE) % POOL}


def validate(root: Path, versions: int, builder: Builder) -> None:
    """Raise unless delta-rs reads the table as the model says (see the module docstring)."""
    uri = str(root)
    table = DeltaTable(uri)
    if table.version() != versions - 1:
        raise SystemExit(f"{uri}: latest version {table.version()}, expected {versions - 1}")
    txn = table.transaction_version(APP_ID)
    if versions > 1 and txn != (versions - 1) * ROWS:
        raise SystemExit(f"{uri}: app transaction {txn}, expected {(versions - 1) * ROWS}")
    newest = [h["version"] for h in table.history(3)]
    if newest != list(range(versions - 1, versions - 4, -1)):
        raise SystemExit(f"{uri}: newest commits {newest}")
    samples = {0, 1, versions // 2, versions - 1}
    samples |= {v for c in (100, 200, 5_000) for v in (c - 1, c, c + 1, c + 37) if v < versions}
    for v in sorted(samples):
        at = DeltaTable(uri, version=v)
        names = sorted(Path(p).name for p in at.file_uris())
        expected = sorted(str(builder.files[i]["path"]) for i in live(v))
        rows = at.to_pyarrow_dataset().count_rows()
        if names != expected or rows != LIVE * ROWS:
            raise SystemExit(f"{uri}@{v}: files {names} rows {rows}, expected {expected}")
    if versions > 200:  # the checkpoint written here vs delta-rs's from the JSON commits alone
        with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as scratch:
            copy = Path(scratch, "t")
            (copy / "_delta_log").mkdir(parents=True)
            for v in range(201):
                name = f"{v:020d}.json"
                (copy / "_delta_log" / name).write_bytes((root / "_delta_log" / name).read_bytes())
            DeltaTable(str(copy), version=200).create_checkpoint()
            theirs = pq.read_table(copy / "_delta_log" / f"{200:020d}.checkpoint.parquet")
            ours = pq.read_table(root / "_delta_log" / f"{200:020d}.checkpoint.parquet")
            key = lambda row: json.dumps(row, sort_keys=True, default=str)  # noqa: E731
            if sorted(map(key, theirs.to_pylist())) != sorted(map(key, ours.to_pylist())):
                raise SystemExit(f"{uri}: the checkpoint at 200 differs from delta-rs's")


# --- the retention step and the timed operations --------------------------------------------


def apply_default_retention(project: Path, dataset: str) -> str:
    """THE RETENTION STEP: the dataset's default log retention, as ``thermocline maintain``
    applies it (checkpoint, ``delta.logRetentionDuration``, ``cleanup_metadata``). Until that
    command is on this branch the benchmark measures without it and says so."""
    if "maintain" not in cli.commands:
        return "not applied: `thermocline maintain` is not on this branch"
    shown = run_cli(project, "maintain", dataset, "--json")
    return "applied: " + " ".join(shown.split())[:300]


def fresh_log_folder(log: Path) -> str:
    """Move the log's files into a new folder, as a table trimmed along the way has them.

    ext4 never shrinks a directory: one that held 101,000 files keeps its blocks (5 MB) after
    cleanup leaves 812, and every listing reads them all: 4.4 ms against 3.3 ms to open a
    table whose log is down to 3 files (measured, 200 rounds in turn). A table under the
    default policy never holds more than its retention plus a turn (~1,100 entries at one
    commit a second), so its folder never grows like the one this script builds in one go.
    No writer runs here, so the move is safe; on a live table it would not be."""
    before = log.stat().st_size
    fresh = log.with_name("_delta_log.fresh")
    fresh.mkdir()
    for path in sorted(log.iterdir()):
        path.rename(fresh / path.name)
    log.rmdir()
    fresh.rename(log)
    return f"log folder moved to a fresh one: {before:,} -> {log.stat().st_size:,} bytes"


def run_cli(project: Path, *words: str) -> str:
    """``thermocline --project PROJECT WORDS...`` in this process; its stdout."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            cli.main([f"--project={project}", *words], prog_name="thermocline")
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise SystemExit(f"thermocline {' '.join(words)} exited {stop.code}") from None
    return printed.getvalue()


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up, untimed
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


Timed = dict[str, Callable[[], object]]


def prepare(lake: Lake, project: Path, name: str, versions: int, repeat: int) -> Timed:
    """Tag, apply the retention and check one table; its timed operations."""
    catalog = Catalog(lake)
    golden, recent = versions // 2 + 3, versions - 10  # different files (not 20 apart)
    catalog.set_tag("golden", name, golden, reason="benchmark")
    catalog.set_tag("recent", name, recent, reason="benchmark")
    log = lake.filesystem.get_file_info(pafs.FileSelector(f"{name}/_delta_log"))
    print(f"  {name}: retention {apply_default_retention(project, name)}")
    after = lake.filesystem.get_file_info(pafs.FileSelector(f"{name}/_delta_log"))
    print(f"  {name}: log files {len(log):,} -> {len(after):,}")
    if lake.is_local:
        print(f"  {name}: {fresh_log_folder(Path(lake.table_uri(name)) / '_delta_log')}")
    at_version = max(int(versions * 0.9), versions - 300)  # 5 minutes back at one a second
    with lake.filesystem.open_input_stream(f"{name}/_delta_log/{at_version:020d}.json") as f:
        info = json.loads(f.read().splitlines()[0])["commitInfo"]
    moment = datetime.fromtimestamp(info["timestamp"] / 1000, UTC)
    at = (moment + timedelta(milliseconds=500)).isoformat()
    found = resolve_version(catalog, name, at)
    if found != at_version:
        raise SystemExit(f"{name}: {at} resolved to version {found}, expected {at_version}")
    tags = iter(["golden", "recent"] * (repeat + 2))
    timed: Timed = {
        "open_latest": lambda: open_table(lake, name).version(),
        "history": lambda: run_cli(project, "history", name, "--json"),
        "describe": lambda: run_cli(project, "describe", name, "--json"),
        "read_tag": lambda: read_dataset(catalog, name, "golden").to_table(),
        "read_time": lambda: read_dataset(catalog, name, at).to_table(),
        "rollback_tag": lambda: rollback(catalog, name, to=next(tags), reason="benchmark"),
    }
    rows = read_dataset(catalog, name, "golden").to_table().num_rows
    if rows != LIVE * ROWS:
        raise SystemExit(f"{name}@golden: {rows} rows, expected {LIVE * ROWS}")
    return timed


def measure(tables: dict[int, Timed], repeat: int) -> dict[int, dict[str, float]]:
    """The median time of each operation on each table, the tables taken in turn within each
    round (every operation once, untimed, first): a few milliseconds apart, so what the
    machine does meanwhile weighs on every table alike, not on the one measured last."""
    for timed in tables.values():
        for op in OPERATIONS:
            timed[op]()
    times: dict[int, dict[str, list[float]]] = {n: {op: [] for op in OPERATIONS} for n in tables}
    for _ in range(repeat):
        for n, timed in tables.items():
            for op in OPERATIONS:
                start = time.perf_counter()
                timed[op]()
                times[n][op].append(time.perf_counter() - start)
    return {n: {op: statistics.median(t) for op, t in ops.items()} for n, ops in times.items()}


def cli_help_s(repeat: int) -> float:
    script = str(Path(sys.executable).parent / "thermocline")
    run = lambda: subprocess.run([script, "--help"], capture_output=True, check=True)  # noqa: E731
    return median_time(run, max(repeat, 7))


def write_project(folder: Path, uri: str, names: list[str], s3: bool) -> Path:
    """A project file declaring each table as a Kafka dataset (the streaming defaults)."""
    options = (
        "\n  storage_options:\n"
        + "".join(
            f"    {key}: ${{{key}}}\n"
            for key in (
                "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_REGION",
                "AWS_ALLOW_HTTP",
            )
        )
        if s3
        else "\n"
    )
    datasets = "".join(
        f"  {n}:\n    source: {{kind: kafka, topic: bench-{n}}}\n"
        "    schema: {id: int64, x: float64}\n"
        for n in names
    )
    path = folder / "thermocline.yaml"
    path.write_text(f"lake:\n  uri: {uri}{options}datasets:\n{datasets}")
    return path


def report(label: str, results: dict[str, float]) -> None:
    print(f"  {label}: " + ", ".join(f"{op} {results[op]:.4f} s" for op in OPERATIONS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default="100,10000,100000", help="table lengths")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (median reported)")
    parser.add_argument("--no-s3", action="store_true", help="skip the RGW run")
    args = parser.parse_args()
    lengths = [int(v) for v in args.versions.split(",")]
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        names = {n: f"h{n}" for n in lengths}
        for n, name in names.items():
            built = build(Path(tmp, name, name), n)
            print(f"built {name} ({n:,} versions) in {built:.1f} s; valid Delta (see validate)")
        prepared = {}
        for n, name in names.items():
            # A lake (and catalog) of its own per table: what one table's measurements add to
            # the catalog (events, pins) must not weigh on the next table's.
            folder = Path(tmp, name)
            project = write_project(folder, str(folder), [name], s3=False)
            prepared[n] = prepare(Lake.open(folder), project, name, n, args.repeat)
        results = measure(prepared, args.repeat)
        for n, name in names.items():
            report(f"{name} local", results[n])
        rgw: dict[int, dict[str, float]] = {}
        if not args.no_s3 and 10_000 in lengths:  # the table, and the small one to compare
            on_s3 = {}
            for n in (min(lengths), 10_000):  # built again: the local run trimmed its copies
                on_s3[n] = Path(tmp, "s3-source", f"h{n}")
                build(on_s3[n], n)
            rgw = s3_run(on_s3, Path(tmp), args.repeat)
    help_s = cli_help_s(args.repeat)
    print(f"thermocline --help: {help_s:.3f} s (median)")
    small, large = min(lengths), max(lengths)
    ratios = {op: results[large][op] / results[small][op] for op in OPERATIONS}
    print("ratios " + ", ".join(f"{op} {r:.2f}" for op, r in ratios.items()))
    if len(rgw) == 2:
        low, high = min(rgw), max(rgw)
        on_rgw = {op: rgw[high][op] / rgw[low][op] for op in OPERATIONS}
        print(
            f"RGW ratios {high:,}/{low:,} versions: "
            + ", ".join(f"{op} {r:.2f}" for op, r in on_rgw.items())
        )
    print(
        f"RESULT history_ratio_max={max(ratios.values()):.2f} "
        f"history_100k_max_s={max(results[large].values()):.3f} cli_help_s={help_s:.3f}"
    )


def build(root: Path, versions: int) -> float:
    """Build and validate a table of ``versions`` under ``root``; the seconds the build took."""
    start = time.perf_counter()
    builder = Builder(root, versions)
    builder.build()
    built = time.perf_counter() - start
    validate(root, versions, builder)
    return built


def s3_run(tables: dict[int, Path], tmp: Path, repeat: int) -> dict[int, dict[str, float]]:
    """The tables of ``tables`` ({versions: local root}) on the dev RGW: uploaded under
    ``bench/``, measured, deleted. Starts the dev S3 server when it is not running and stops it
    afterwards (a server it found running is left running)."""
    state = REPO / ".thermocline" / "dev"
    before = devstack.status(state).s3
    started_here = before is None or not before.running
    stack = devstack.up(state, kafka=False, log=print)
    if stack.s3 is None:
        raise SystemExit("the dev stack started without an S3 server")
    if stack.s3.kind != "ceph":
        print(f"warning: the dev S3 server is {stack.s3.kind}, not Ceph RGW")
    options = stack.s3_storage_options()
    os.environ.update(options)
    prefix = f"s3://{stack.s3.bucket}/bench/history-{uuid.uuid4().hex[:10]}"
    lake = Lake.open(prefix, options)
    fs = lake.filesystem
    if not isinstance(fs, pafs.SubTreeFileSystem):
        raise SystemExit(f"unexpected lake filesystem {fs!r}")
    prepared = {}
    try:
        for n, source in tables.items():  # a lake of its own per table, as on the local lake
            name = f"h{n}"
            folder = tmp / "s3" / name
            folder.mkdir(parents=True)
            project = write_project(folder, f"{prefix}/{name}", [name], s3=True)
            start = time.perf_counter()
            target = f"{name}/{name}"
            pafs.copy_files(str(source), target, pafs.LocalFileSystem(), fs, use_threads=True)
            print(f"  uploaded {name} to {prefix} in {time.perf_counter() - start:.1f} s")
            prepared[n] = prepare(Lake.open(f"{prefix}/{name}", options), project, name, n, repeat)
        results = measure(prepared, repeat)
        for n in tables:
            report(f"h{n} RGW", results[n])
    finally:
        fs.base_fs.delete_dir(fs.base_path.rstrip("/"))
        print(f"  deleted {prefix}")
        if started_here:
            print("  stopped the dev stack this run started:", ", ".join(devstack.down(state)))
    return results


if __name__ == "__main__":
    main()
