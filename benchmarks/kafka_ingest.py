"""Kafka ingest: our Kafka -> Delta ingester against a raw confluent-kafka consumer, plus latency.

What it measures, in one run against one broker (the dev stack's Tansu by default):

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
     afterwards the table must hold exactly ``--events`` rows.

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

Run:  .venv/bin/python benchmarks/kafka_ingest.py [--events N]   (needs `thermocline dev up`;
~1.5 min with the defaults). The last line is
``RESULT kafka_ingest_vs_raw=<x> kafka_msgs_s=<y> visible_p95_s=<z>`` with x = ours msg/s /
raw msg/s, y = ours msg/s, z = p95 produce-to-visible seconds. Targets: x >= 0.5, z <= 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project, load_project
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
from thermocline.datasets.ingest.kafka_topic import CONSUMER_DEFAULTS
from thermocline.datasets.tables.versions import read_dataset

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


def event(number: int, ts: int) -> bytes:
    """One JSON event, ~430 B; ``ts`` is the produce time in epoch ns for latency runs."""
    return (
        f'{{"id": {number}, "user": "user-{number * 7919 % 100_000:05d}", '
        f'"kind": "{KINDS[number % len(KINDS)]}", "value": {(number % 10_007) * 0.731:.3f}, '
        f'"ts": {ts}, "payload": "{_PAYLOADS[number % len(_PAYLOADS)]}"}}'
    ).encode()


def create_topic(bootstrap: str, partitions: int, prefix: str) -> str:
    topic = f"bench-{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(timeout=30)
    return topic


def produce_bulk(bootstrap: str, topic: str, events: int) -> tuple[int, float]:
    """Produce ``events`` events as fast as the broker takes them; (value bytes, seconds)."""
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
        value = event(number, now_ns)
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


def write_project(folder: Path, bootstrap: str, topic: str) -> Project:
    path = folder / "thermocline.yaml"
    path.write_text(
        "lake: {uri: ./lake}\n"
        f'kafka: {{bootstrap_servers: "{bootstrap}"}}\n'
        "datasets:\n"
        "  events:\n"
        f"    source: {{kind: kafka, topic: {topic}}}\n"
        f"    schema: {SCHEMA}\n"
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
) -> dict[str, float]:
    """``KafkaIngester.run(until_caught_up=True)`` on ``topic`` into a fresh lake."""
    project = write_project(folder, bootstrap, topic)
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
    published = 0
    all_in: float | None = None
    for at, report in batches:
        published += report.published
        if all_in is None and published >= expected:
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


def dev_bootstrap() -> str:
    return os.environ.get("THERMOCLINE_KAFKA", "127.0.0.1:19092")


def print_profile(profiler: cProfile.Profile, limit: int = 30) -> None:
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(limit)
        print(out.getvalue())


def throughput_round(
    bootstrap: str, partitions: int, n: int, max_records: int, folder: Path, raw_first: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """Produce fresh topics A and B, read A raw and B with ours (in the given order)."""
    topic_a = create_topic(bootstrap, partitions, "raw")
    topic_b = create_topic(bootstrap, partitions, "ours")
    bytes_a, produce_a = produce_bulk(bootstrap, topic_a, n)
    bytes_b, produce_b = produce_bulk(bootstrap, topic_b, n)
    print(
        f"  produced {n:,} events ({bytes_a / n:.0f} B avg, {bytes_a / MB:.0f} MB) into "
        f"{partitions} partitions of {topic_a} in {produce_a:.1f} s and {topic_b} in "
        f"{produce_b:.1f} s"
    )
    results: dict[str, dict[str, float]] = {}
    for side in ("raw", "ours") if raw_first else ("ours", "raw"):
        if side == "raw":
            raw = run_raw(bootstrap, topic_a, partitions, n)
            if raw["messages"] != n or raw["bytes"] != bytes_a:
                raise RuntimeError(f"raw read {raw['messages']} messages, {raw['bytes']} B")
            results["raw"] = {**raw, "size": bytes_a}
        else:
            ours = run_ours(bootstrap, topic_b, folder, max_records, n)
            if ours["rows"] != n or ours["published"] != n:
                raise RuntimeError(
                    f"ours published {ours['published']}, the table has {ours['rows']} rows"
                )
            results["ours"] = {**ours, "size": bytes_b}
        r = results[side]
        print(
            f"  {side:<4}: join {r['join']:.2f} s, first record -> all {n:,} "
            f"{'in hand' if side == 'raw' else 'committed'} {r['seconds']:.2f} s "
            f"({n / r['seconds']:,.0f} msg/s), -> done {r['to_done']:.2f} s"
        )
    delete_topics(bootstrap, [topic_a, topic_b])
    return results["raw"], results["ours"]


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
    parser.add_argument("--bootstrap", default=dev_bootstrap())
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--batch-latency", type=float, default=0.5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    bootstrap, partitions, n = args.bootstrap, args.partitions, args.events

    raws: list[dict[str, float]] = []
    ourses: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        root = Path(tmp)
        for number in range(args.repeat):
            print(f"round {number + 1} of {args.repeat}")
            folder = root / f"ours-{number}"
            folder.mkdir()
            raw, ours = throughput_round(
                bootstrap, partitions, n, args.max_records, folder, raw_first=number % 2 == 0
            )
            raws.append(raw)
            ourses.append(ours)
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
    for name, results in (("raw", raws), ("ours", ourses)):
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


if __name__ == "__main__":
    main()
