"""The ingester's decode -> publish pipeline, as pure logic: order, and what a failure drops.

The stages here are plain functions; the real ones run against Tansu in test_kafka_ingest.py.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest
from waits import wait_until

from thermocline.catalog.errors import CommitConflictError
from thermocline.datasets.ingest.kafka_decode import DecodedBatch, MicroBatch
from thermocline.datasets.ingest.kafka_pipeline import Pipeline
from thermocline.datasets.ingest.pii import PiiResult


def _batch(number: int) -> MicroBatch:
    return MicroBatch(positions={0: number})


def _decoded(batch: MicroBatch) -> DecodedBatch:
    return DecodedBatch(
        batch, pa.table({}), pa.table({}), [], None, PiiResult("t", pa.table({})), None
    )


def _number(decoded: DecodedBatch) -> int:
    return decoded.batch.positions[0]


def test_batches_are_decoded_and_published_in_the_order_submitted() -> None:
    decoded: list[int] = []
    published: list[int] = []

    def decode(batch: MicroBatch) -> DecodedBatch:
        decoded.append(batch.positions[0])
        return _decoded(batch)

    publisher = Pipeline(decode, lambda d: published.append(_number(d)))
    for number in range(50):
        publisher.submit(_batch(number))
    publisher.wait()
    publisher.close()
    assert decoded == published == list(range(50))


def test_after_a_conflict_nothing_behind_the_failed_batch_is_published() -> None:
    published: list[int] = []
    conflicted: list[int] = []  # the first attempt at batch 3 conflicts, the retry does not
    release = threading.Event()

    def decode(batch: MicroBatch) -> DecodedBatch:
        # The decoding thread takes batch 5 only once batch 4 is queued for publishing.
        if batch.positions[0] == 5:
            release.set()
        return _decoded(batch)

    def publish(decoded: DecodedBatch) -> None:
        number = _number(decoded)
        if number == 3 and number not in conflicted:
            conflicted.append(number)
            assert release.wait(10), "batch 5 was never decoded"  # 4 and 5 queue up meanwhile
            raise CommitConflictError("another member published these offsets")
        published.append(number)

    publisher = Pipeline(decode, publish)
    for number in range(6):
        publisher.submit(_batch(number))
    publisher.wait()
    assert publisher.conflicted.is_set()
    assert published == [0, 1, 2]

    publisher.conflicted.clear()  # what the ingester does once it has sought from the table
    publisher.submit(_batch(3))
    publisher.wait()
    publisher.close()
    assert published == [0, 1, 2, 3]


def test_a_decode_error_reaches_the_consuming_thread_and_what_came_before_is_published() -> None:
    published: list[int] = []
    publisher: Pipeline

    def decode(batch: MicroBatch) -> DecodedBatch:
        if batch.positions[0] == 2:
            raise ValueError("registry unreachable")
        return _decoded(batch)

    def publish(decoded: DecodedBatch) -> None:
        if _number(decoded) == 0:  # hold on until batch 2 has failed, with batch 1 queued
            wait_until(lambda: publisher.error, 10, "batch 2's decode to fail", every=0.01)
        published.append(_number(decoded))

    publisher = Pipeline(decode, publish)

    def feed() -> None:  # the error surfaces at a later submit or at the wait
        for number in range(5):
            publisher.submit(_batch(number))
        publisher.wait()

    with pytest.raises(ValueError, match="registry unreachable"):
        feed()
    publisher.close()
    assert published == [0, 1]
