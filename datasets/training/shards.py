"""Pure sharding, shuffling and resume arithmetic for the training loader: plain values, no IO.

Kept apart from reading (like MosaicML Streaming) so every rule can be tested exhaustively
without a table. Words used throughout:

- **unit**: one (file, row group) of the pinned version, with its row count after the filter.
- **epoch sequence**: the units in a seeded order (a permutation by ``(seed, epoch)`` when
  shuffling), their rows concatenated: global positions ``0 .. N-1``.
- **leg**: one stretch of an epoch run on one :class:`Topology`. The first leg deals the whole
  epoch sequence; after a resume on another topology, a new leg deals only the rows the
  earlier legs did not deliver. A leg's input is a list of :data:`Spans` of global positions;
  its *virtual* positions ``0 .. M-1`` index their concatenation.

How a leg is dealt (:func:`schedule`), chosen so that every rank yields the same number of
batches (no DDP hang) and no row is delivered twice:

1. Rank ``r`` gets the contiguous virtual range ``[r*M//W, (r+1)*M//W)``: ranks differ by at
   most one row, and each unit is read by at most two ranks.
2. Every rank yields ``ceil(ceil(M/W) / B)`` batches; the last one is padded to ``B`` rows
   (a rank one row short may end with a batch of padding only), and a mask tells real rows
   from padding. With ``drop_last`` every rank yields ``M // (W*B)`` full batches instead and
   the rest is not delivered this epoch.
3. DataLoader worker ``k`` of ``K`` takes the contiguous batches ``[k*nb//K, (k+1)*nb//K)``,
   so a unit is decoded by at most two workers. DataLoader returns one batch of each worker
   in turn (:func:`consumed_per_worker` inverts that).
4. A worker groups its batches into blocks of ``block_rows`` rows (a multiple of ``B``): the
   shuffle buffer. With ``shuffle`` the rows of a block are permuted by a generator seeded
   with ``(seed, epoch, leg, block start)``; memory holds one block.

So a batch is a function of ``(plan, seed, epoch, legs, rank, worker, index)``: resuming on
the same topology skips the batches already delivered and continues exactly; resuming on
another topology computes the undelivered rows (:func:`remaining`) and deals them afresh.
The state assumes every rank delivered the same number of batches, which DDP's lockstep and
rule 2 guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Block",
    "Spans",
    "Topology",
    "batch_counts",
    "block_order",
    "consumed_per_worker",
    "epoch_units",
    "remaining",
    "schedule",
    "spans_take",
    "unit_segments",
]

Spans = npt.NDArray[np.int64]
"""Half-open intervals of global positions, shape ``(n, 2)``, in sequence order."""


@dataclass(frozen=True)
class Topology:
    """How one leg is dealt: ranks, DataLoader workers per rank (1 when in-process), batching."""

    world_size: int
    workers: int
    batch_size: int
    block_rows: int
    drop_last: bool
    shuffle: bool

    def __post_init__(self) -> None:
        for name in ("world_size", "workers", "batch_size", "block_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    @property
    def batches_per_block(self) -> int:
        return max(1, self.block_rows // self.batch_size)


@dataclass(frozen=True)
class Block:
    """Consecutive batches of one worker: virtual rows ``[start, stop)``, shuffled together.

    ``batch_rows`` holds the real rows of each batch; a batch with fewer than ``batch_size``
    is padded (only at the end of a rank).
    """

    start: int
    stop: int
    first_batch: int  # index of its first batch within the worker
    batch_rows: tuple[int, ...]


def epoch_units(unit_rows: Sequence[int], seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The order of units in an epoch: a permutation seeded by ``(seed, epoch)`` or the plan's."""
    count = len(unit_rows)
    if not shuffle:
        return np.arange(count, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(count).astype(np.int64)


def _rank_range(total: int, topology: Topology, rank: int) -> tuple[int, int, int]:
    """(start, stop, batches) of ``rank`` in a leg of ``total`` virtual rows."""
    world, size = topology.world_size, topology.batch_size
    if topology.drop_last:
        batches = total // (world * size)
        return rank * batches * size, (rank + 1) * batches * size, batches
    longest = -(-total // world)
    return rank * total // world, (rank + 1) * total // world, -(-longest // size)


def batch_counts(total: int, topology: Topology) -> list[int]:
    """Batches each worker of any rank yields in a leg of ``total`` rows (same on every rank)."""
    batches = _rank_range(total, topology, 0)[2]
    workers = topology.workers
    return [(k + 1) * batches // workers - k * batches // workers for k in range(workers)]


def schedule(total: int, topology: Topology, rank: int, worker: int) -> list[Block]:
    """The blocks worker ``worker`` of ``rank`` reads in a leg of ``total`` virtual rows."""
    if not 0 <= rank < topology.world_size:
        raise ValueError(f"rank {rank} is outside world size {topology.world_size}")
    if not 0 <= worker < topology.workers:
        raise ValueError(f"worker {worker} is outside {topology.workers} workers")
    start, stop, batches = _rank_range(total, topology, rank)
    size, per_block, workers = topology.batch_size, topology.batches_per_block, topology.workers
    first, last = worker * batches // workers, (worker + 1) * batches // workers
    blocks = []
    for block_first in range(first, last, per_block):
        block_last = min(block_first + per_block, last)
        rows = tuple(
            max(0, min(size, stop - start - b * size)) for b in range(block_first, block_last)
        )
        block_start = min(stop, start + block_first * size)
        blocks.append(Block(block_start, block_start + sum(rows), block_first - first, rows))
    return blocks


def block_order(block: Block, seed: int, epoch: int, leg: int, shuffle: bool) -> np.ndarray:
    """Row order inside ``block`` (offsets from its start): the in-memory shuffle buffer."""
    rows = block.stop - block.start
    if not shuffle:
        return np.arange(rows, dtype=np.int64)
    generator = np.random.default_rng([seed, epoch, leg, block.start])
    return generator.permutation(rows).astype(np.int64)


def consumed_per_worker(counts: Sequence[int], delivered: int) -> list[int]:
    """Batches each worker had delivered after ``delivered`` batches of a DataLoader.

    DataLoader asks its workers for one batch each in turn and skips those that ran out, so
    round ``i`` returns batch ``i`` of every worker that has one.
    """
    if not 0 <= delivered <= sum(counts):
        raise ValueError(f"{delivered} batches delivered, but the leg has only {sum(counts)}")
    taken = [0] * len(counts)
    left = delivered
    while left:
        for k, count in enumerate(counts):
            if left and taken[k] < count:
                taken[k] += 1
                left -= 1
    return taken


def spans_take(spans: Spans, start: int, stop: int) -> Spans:
    """The global spans behind virtual rows ``[start, stop)`` of ``spans``' concatenation."""
    lengths = spans[:, 1] - spans[:, 0]
    ends = np.cumsum(lengths)
    begins = ends - lengths
    first = int(np.searchsorted(ends, start, side="right"))
    last = int(np.searchsorted(begins, stop, side="left"))
    picked = spans[first:last].copy()
    if len(picked):
        picked[0, 0] += start - begins[first]
        picked[-1, 1] -= ends[last - 1] - stop
    return picked[picked[:, 1] > picked[:, 0]]


def _runs(positions: np.ndarray) -> Spans:
    """Sorted distinct positions as spans of consecutive runs."""
    if not len(positions):
        return np.empty((0, 2), dtype=np.int64)
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = positions[np.concatenate(([0], breaks))]
    stops = positions[np.concatenate((breaks - 1, [len(positions) - 1]))] + 1
    return np.stack([starts, stops], axis=1).astype(np.int64)


def remaining(
    spans: Spans, topology: Topology, delivered: int, seed: int, epoch: int, leg: int
) -> Spans:
    """Global spans a leg over ``spans`` has not delivered after ``delivered`` batches per rank.

    Rows a leg drops (``drop_last``) count as not delivered, so a later leg deals them.
    """
    total = int((spans[:, 1] - spans[:, 0]).sum())
    counts = batch_counts(total, topology)
    taken = consumed_per_worker(counts, delivered)
    pieces: list[Spans] = []
    for rank in range(topology.world_size):
        for worker, count in enumerate(taken):
            for block in schedule(total, topology, rank, worker):
                done = sum(block.batch_rows[: max(0, count - block.first_batch)])
                if done == block.stop - block.start:
                    pieces.append(np.array([[block.start, block.stop]], dtype=np.int64))
                elif done:
                    order = block_order(block, seed, epoch, leg, topology.shuffle)
                    pieces.append(_runs(np.sort(order[:done]) + block.start))
    consumed = np.concatenate(pieces) if pieces else np.empty((0, 2), dtype=np.int64)
    consumed = consumed[np.argsort(consumed[:, 0], kind="stable")]
    # The gaps between consumed spans, in virtual positions, mapped back to global ones.
    edges = np.concatenate(([0], consumed.ravel(), [total])).reshape(-1, 2)
    gaps = edges[edges[:, 1] > edges[:, 0]]
    taken_spans = [spans_take(spans, int(a), int(b)) for a, b in gaps]
    return np.concatenate(taken_spans) if taken_spans else np.empty((0, 2), dtype=np.int64)


def unit_segments(
    spans: Spans, unit_rows: Sequence[int], order: np.ndarray
) -> list[tuple[int, int, int]]:
    """``(unit, first row, stop row)`` pieces that hold the global ``spans``, in order.

    ``order`` is the epoch's unit order (:func:`epoch_units`); ``unit`` indexes the plan.
    """
    rows = np.asarray(unit_rows, dtype=np.int64)[order]
    ends = np.cumsum(rows)
    begins = ends - rows
    pieces = []
    for start, stop in spans:
        position = int(start)
        while position < stop:
            slot = int(np.searchsorted(ends, position, side="right"))
            piece_stop = min(int(stop), int(ends[slot]))
            offset = int(begins[slot])
            pieces.append((int(order[slot]), position - offset, piece_stop - offset))
            position = piece_stop
    return pieces
