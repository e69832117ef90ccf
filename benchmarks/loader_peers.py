"""The peers of ``benchmarks/loader.py``: Daft, Polars and Ray Data reading a Delta table into
torch batches, one measurement per process.

This file runs in the peers' own venv (``benchmarks/requirements-loader.txt``), never the
project's: Daft 0.7 wants pyarrow < 26 and the project pins 26, so the peers cannot share its
environment. It imports nothing of thermocline. ``loader.py`` runs it once per measurement:

    PEERS_PYTHON benchmarks/loader_peers.py daft TABLE_PATH VERSION COLUMNS_JSON BATCH_SIZE

and reads the one JSON line it prints: ``{"seconds", "rows", "batches", "peak_rss"}``.

Every peer reads the same table version and columns and yields batches of exactly
``BATCH_SIZE`` rows (the last one shorter) as a dict of tensors in the form our loader yields:
one 1-D tensor per number column and, for a list column, its values plus ``<column>_offsets``
(int64, starting at 0). Each peer in the form its documentation recommends for feeding a model,
tuned where a simple knob helped (measured on the benchmark's table, 2 vCPUs):

* daft: ``daft.read_deltalake(path, version=...).select(*columns).to_arrow_iter()``: Daft
  yields record batches of 131,072 rows, sliced here (zero copy) into batches.
  ``into_batches(batch_size)`` before ``to_arrow_iter`` (Daft's own re-batching) was no faster,
  and ``to_torch_iter_dataset`` yields one Python dict per row.
* polars: ``pl.scan_delta(path, version=...).select(columns).collect_batches(chunk_size=...)``
  (the streaming engine), each chunk ``to_arrow()`` (zero copy) and sliced into batches;
  ``collect().iter_slices(batch_size)`` was measured too (``polars_collect``). ``to_torch``
  refuses variable-length list columns, hence the Arrow route for the tensors.
* ray: ``ray.data.read_delta(path, version=..., columns=...)``,
  ``iter_torch_batches(batch_size=..., collate_fn=ArrowBatchCollateFn)`` (the documented way
  for columns numpy cannot hold, such as variable-length lists), ``ray.init`` before the clock.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import torch

CHUNK_ROWS = 262_144  # Polars' streaming chunk: its default (a row group) was no faster, 8,192
# was 2-3x slower


def tensors(batch: pa.RecordBatch | pa.Table) -> dict[str, torch.Tensor]:
    """A batch as our loader yields it: numbers as 1-D tensors (zero copy where Arrow allows),
    variable-length lists as values plus int64 offsets from 0."""
    out: dict[str, torch.Tensor] = {}
    for name, column in zip(batch.column_names, batch.columns, strict=True):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            offsets = array.offsets.to_numpy().astype(np.int64)
            out[name] = torch.from_numpy(array.flatten().to_numpy())
            out[f"{name}_offsets"] = torch.from_numpy(offsets - offsets[0])
        else:
            out[name] = torch.from_numpy(array.to_numpy())
    return out


def exact(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of any sizes re-cut into ``size`` rows (slices; a copy only where a batch
    straddles two inputs)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        start = 0
        if pending:
            take = min(size - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            start = take
            if held < size:
                continue
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, held = [], 0
        while batch.num_rows - start >= size:
            yield batch.slice(start, size)
            start += size
        if start < batch.num_rows:
            pending, held = [batch.slice(start)], batch.num_rows - start
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def daft_batches(path: str, version: int, columns: list[str], size: int) -> Iterator[Any]:
    import daft

    frame = daft.read_deltalake(path, version=version).select(*columns)
    for batch in exact(frame.to_arrow_iter(), size):
        yield tensors(batch)


def polars_batches(path: str, version: int, columns: list[str], size: int) -> Iterator[Any]:
    import polars as pl

    frame = pl.scan_delta(path, version=version).select(columns)
    chunks = (
        batch
        for chunk in frame.collect_batches(chunk_size=CHUNK_ROWS)
        for batch in chunk.to_arrow().to_batches()
    )
    for batch in exact(chunks, size):
        yield tensors(batch)


def polars_collect_batches(path: str, version: int, columns: list[str], size: int) -> Iterator[Any]:
    import polars as pl

    frame = pl.scan_delta(path, version=version).select(columns).collect()
    for piece in frame.iter_slices(size):
        yield tensors(piece.to_arrow())


def ray_batches(path: str, version: int, columns: list[str], size: int) -> Iterator[Any]:
    import ray.data
    from ray.data.collate_fn import ArrowBatchCollateFn

    class Collate(ArrowBatchCollateFn):
        def __call__(self, batch: pa.Table) -> dict[str, torch.Tensor]:
            return tensors(batch)

    dataset = ray.data.read_delta(path, version=version, columns=columns)
    yield from dataset.iter_torch_batches(batch_size=size, collate_fn=Collate())


PEERS = {
    "daft": daft_batches,
    "polars": polars_batches,
    "polars_collect": polars_collect_batches,
    "ray": ray_batches,
}


def main() -> None:
    # Arrow's buffers are read-only and these tensors are only read: torch's warning is noise.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    peer, path, version, columns, size = sys.argv[1:6]
    if peer == "ray":  # the local cluster's start is not reading: before the clock
        import ray

        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    start = time.perf_counter()
    rows = batches = 0
    for batch in PEERS[peer](path, int(version), json.loads(columns), int(size)):
        rows += len(batch["id"])
        batches += 1
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "batches": batches, "peak_rss": peak}))


if __name__ == "__main__":
    main()
