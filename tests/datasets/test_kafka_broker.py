"""The dev stack's Kafka broker (Tansu) behaves as Kafka for what ingestion relies on."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka

MESSAGES = 10_000
PARTITIONS = 4


def consumer_config(bootstrap: str, group: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # Tansu's join waits half the session timeout; the fetch settings avoid 1 s stalls.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "fetch.wait.max.ms": 50,
        "fetch.queue.backoff.ms": 10,
    }


def test_group_consumes_every_message_exactly_once(
    kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic, group = fresh_name("topic"), fresh_name("group")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[
        topic
    ].result(timeout=30)

    # Two members join the group first, so the partitions are split before any message exists.
    consumers = [Consumer(consumer_config(kafka_bootstrap, group)) for _ in range(2)]
    assigned: list[set[int]] = [set(), set()]
    for index, consumer in enumerate(consumers):
        consumer.subscribe(
            [topic],
            on_assign=lambda _c, parts, i=index: assigned[i].update(p.partition for p in parts),
            on_revoke=lambda _c, parts, i=index: assigned[i].difference_update(
                p.partition for p in parts
            ),
        )
    deadline = time.monotonic() + 60
    while sum(map(len, assigned)) < PARTITIONS or not all(assigned):
        assert time.monotonic() < deadline, f"group never settled: {assigned}"
        for consumer in consumers:
            consumer.poll(0.1)
    assert assigned[0].isdisjoint(assigned[1])
    settled = [set(partitions) for partitions in assigned]

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
    for number in range(MESSAGES):
        producer.produce(topic, key=str(number).encode(), value=f'{{"n": {number}}}'.encode())
        if number % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    received: list[list[tuple[int, int, int]]] = [[], []]
    errors: list[str] = []
    stop = threading.Event()

    def consume(index: int) -> None:
        consumer = consumers[index]
        while not stop.is_set():
            fresh = 0
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                if message.error():
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        errors.append(str(message.error()))
                    continue
                received[index].append((message.partition(), message.offset(), int(message.key())))
                fresh += 1
            if fresh:
                consumer.commit(asynchronous=False)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while sum(map(len, received)) < MESSAGES and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # keep polling a moment: a duplicate would arrive now
    stop.set()
    for thread in threads:
        thread.join()
    assert assigned == settled, "the group rebalanced while consuming"
    for consumer in consumers:
        consumer.close()

    assert errors == []
    numbers = Counter(n for part in received for (_, _, n) in part)
    assert len(numbers) == MESSAGES, f"missing {MESSAGES - len(numbers)} messages"
    assert set(numbers.values()) == {1}, "some message was delivered twice"
    positions = [(p, o) for part in received for (p, o, _) in part]
    assert len(set(positions)) == MESSAGES
    # Each member read only its own partitions, and both did work.
    for index in range(2):
        assert received[index]
        assert {p for (p, _, _) in received[index]} <= settled[index]
    assert {p for (p, _) in positions} == set(range(PARTITIONS))
