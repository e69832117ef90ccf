"""The loader's pure arithmetic, exhaustively over small shapes: no table, no IO.

A leg is simulated the way the reader serves it: each worker's blocks, rows permuted inside a
block, cut into batches, DataLoader's turn-taking over workers.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from thermocline.datasets.training.shards import (
    Topology,
    batch_counts,
    block_order,
    consumed_per_worker,
    epoch_units,
    remaining,
    schedule,
    spans_take,
    unit_segments,
)

SEED, EPOCH = 11, 3


def rank_batches(spans: np.ndarray, topology: Topology, rank: int, leg: int) -> list[list[int]]:
    """The global positions of every batch one rank yields, in DataLoader order."""
    total = int((spans[:, 1] - spans[:, 0]).sum())
    per_worker = []
    for worker in range(topology.workers):
        batches = []
        for block in schedule(total, topology, rank, worker):
            order = block_order(block, SEED, EPOCH, leg, topology.shuffle)
            rows = np.concatenate(
                [np.arange(a, b) for a, b in spans_take(spans, block.start, block.stop)] or [[]]
            ).astype(np.int64)
            assert len(rows) == block.stop - block.start
            rows = rows[order]
            offset = 0
            for count in block.batch_rows:
                assert count <= topology.batch_size
                batches.append(rows[offset : offset + count].tolist())
                offset += count
        per_worker.append(batches)
    assert [len(b) for b in per_worker] == batch_counts(total, topology)
    out = []
    for turn in itertools.count():
        if turn >= max((len(b) for b in per_worker), default=0):
            return out
        out += [batches[turn] for batches in per_worker if turn < len(batches)]


def topologies() -> list[Topology]:
    return [
        Topology(world, workers, size, size * factor, drop, shuffle)
        for world in (1, 2, 3, 8)
        for workers in (1, 3)
        for size in (1, 4)
        for factor in (1, 3)
        for drop in (False, True)
        for shuffle in (False, True)
    ]


@pytest.mark.parametrize("total", [0, 1, 5, 23, 64])
def test_every_row_once_and_equal_batch_counts(total: int) -> None:
    spans = np.array([[0, total]], dtype=np.int64)
    for topology in topologies():
        per_rank = [rank_batches(spans, topology, r, 0) for r in range(topology.world_size)]
        assert len({len(b) for b in per_rank}) == 1, topology  # no DDP hang
        rows = Counter(row for batches in per_rank for batch in batches for row in batch)
        assert all(count == 1 for count in rows.values()), topology  # never twice
        if topology.drop_last:
            world, size = topology.world_size, topology.batch_size
            assert len(rows) == total // (world * size) * world * size, topology
            assert all(len(b) == size for batches in per_rank for b in batches)
        else:
            assert sorted(rows) == list(range(total)), topology


def test_shuffle_is_seeded_by_epoch_and_stays_inside_blocks() -> None:
    spans = np.array([[0, 40]], dtype=np.int64)
    topology = Topology(1, 1, 4, 8, False, True)
    first = rank_batches(spans, topology, 0, 0)
    assert first == rank_batches(spans, topology, 0, 0)  # deterministic
    flat = [row for batch in first for row in batch]
    assert flat != sorted(flat)
    for block in range(5):  # rows never leave their 8-row block: the memory bound
        assert sorted(flat[block * 8 : block * 8 + 8]) == list(range(block * 8, block * 8 + 8))
    assert not np.array_equal(epoch_units([1] * 20, 1, 0, True), epoch_units([1] * 20, 1, 1, True))
    assert np.array_equal(epoch_units([1] * 20, 1, 0, False), np.arange(20))


def test_consumed_per_worker_follows_dataloader_turns() -> None:
    assert consumed_per_worker([2, 2, 1], 0) == [0, 0, 0]
    assert consumed_per_worker([2, 2, 1], 4) == [2, 1, 1]
    assert consumed_per_worker([1, 3, 3], 5) == [1, 2, 2]
    assert consumed_per_worker([1, 3, 3], 7) == [1, 3, 3]
    with pytest.raises(ValueError, match="only 7"):
        consumed_per_worker([1, 3, 3], 8)


@pytest.mark.parametrize("total", [1, 23, 64])
def test_resume_delivers_exactly_the_rest_on_any_topology(total: int) -> None:
    full = np.array([[0, total]], dtype=np.int64)
    cases = 0
    for first in topologies()[::3]:
        counts = batch_counts(total, first)
        per_rank = [rank_batches(full, first, r, 0) for r in range(first.world_size)]
        for delivered in sorted({0, min(1, sum(counts)), sum(counts) // 2, sum(counts)}):
            seen = Counter(row for b in per_rank for batch in b[:delivered] for row in batch)
            rest = remaining(full, first, delivered, SEED, EPOCH, 0)
            for second in (Topology(3, 3, 2, 6, False, True), Topology(2, 1, 5, 5, False, False)):
                later = [rank_batches(rest, second, r, 1) for r in range(second.world_size)]
                assert len({len(b) for b in later}) == 1
                again = Counter(row for b in later for batch in b for row in batch)
                assert not (set(seen) & set(again)), (first, delivered, second)
                assert sorted((seen + again).elements()) == list(range(total)), (first, second)
                cases += 1
    assert cases > 50


def test_three_legs_chain() -> None:
    total = 97
    legs = [Topology(2, 3, 4, 8, False, True), Topology(3, 1, 5, 10, True, True)]
    spans = np.array([[0, total]], dtype=np.int64)
    seen: Counter[int] = Counter()
    for index, topology in enumerate(legs):
        per_rank = [rank_batches(spans, topology, r, index) for r in range(topology.world_size)]
        seen.update(row for b in per_rank for batch in b[:3] for row in batch)
        spans = remaining(spans, topology, 3, SEED, EPOCH, index)
    last = Topology(8, 3, 2, 2, False, False)
    per_rank = [rank_batches(spans, last, r, 2) for r in range(8)]
    seen.update(row for b in per_rank for batch in b for row in batch)
    assert sorted(seen.elements()) == list(range(total))


def test_spans_take_and_unit_segments() -> None:
    spans = np.array([[10, 14], [20, 22], [30, 35]], dtype=np.int64)
    assert spans_take(spans, 2, 9).tolist() == [[12, 14], [20, 22], [30, 33]]
    assert spans_take(spans, 4, 6).tolist() == [[20, 22]]
    assert spans_take(spans, 11, 11).tolist() == []
    rows = [5, 0, 3, 4]  # unit 1 is empty
    order = np.array([2, 0, 1, 3])  # epoch sequence: unit 2 (0..2), unit 0 (3..7), unit 3 (8..11)
    segments = unit_segments(np.array([[1, 9], [10, 12]]), rows, order)
    assert segments == [(2, 1, 3), (0, 0, 5), (3, 0, 1), (3, 2, 4)]


def test_bad_topology_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        Topology(1, 1, 0, 1, False, False)
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        schedule(10, Topology(2, 1, 1, 1, False, False), 2, 0)
