"""The dev stack's Kafka broker (Tansu) behaves as Kafka for what ingestion relies on."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
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
        # An event when a member has read to a partition's end: "everything read" is checkable.
        "enable.partition.eof": True,
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
    ends = dict.fromkeys(range(PARTITIONS), 0)  # each partition's end offset once all are in

    def delivered(error: object, message: Message) -> None:
        assert error is None, error
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        ends[partition] = max(ends[partition], offset + 1)

    for number in range(MESSAGES):
        producer.produce(
            topic, key=str(number).encode(), value=f'{{"n": {number}}}'.encode(), callback=delivered
        )
        if number % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    received: list[list[tuple[int, int, int]]] = [[], []]
    errors: list[str] = []
    deadline = time.monotonic() + 60

    def consume(index: int) -> None:
        """Read until every partition of this member is at its end: a duplicate would have been
        delivered before that end, in the partition's order."""
        consumer = consumers[index]
        at_end: set[int] = set()
        while at_end != settled[index] and time.monotonic() < deadline:
            fresh = 0
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                partition, error = message.partition(), message.error()
                if error is None:
                    received[index].append((partition, message.offset(), int(message.key())))
                    at_end.discard(partition)
                    fresh += 1
                elif error.code() != KafkaError._PARTITION_EOF:
                    errors.append(str(error))
                elif message.offset() == ends[partition]:
                    at_end.add(partition)
            if fresh:
                consumer.commit(asynchronous=False)
        if at_end != settled[index]:
            errors.append(f"member {index} did not reach the end of {settled[index] - at_end}")

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
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
