"""Background reading: threads that read planned row groups ahead of the consumer and hand
back finished batches, with errors carried across to the consuming thread.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from torch.utils.data import get_worker_info

from thermocline.catalog.errors import (
    ThermoclineError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.training.plans import Unit, filter_columns
from thermocline.datasets.training.shards import (
    Block,
    Spans,
    block_order,
    epoch_units,
    spans_take,
    unit_segments,
)
from thermocline.datasets.training.tensors import Batch, PinnedRing, to_tensors
from thermocline.datasets.training.unitcache import cached_columns, entry_name, select

if TYPE_CHECKING:
    from thermocline.datasets.training.dataset import TableDataset

__all__ = ["produce"]


class _Reader:
    """Reads units of a plan as Arrow tables: projected, filtered, through the lake's native
    filesystem, or from the local cache of decoded units (filling it on a miss)."""

    def __init__(self, dataset: TableDataset) -> None:
        plan = dataset.plan
        self.plan = plan
        self.lake = (
            dataset.lake
            if get_worker_info() is None
            else Lake(dataset.lake.uri, dataset.lake.storage_options)
        )
        self.filesystem = self.lake.table_filesystem(plan.dataset)
        self.cache = dataset.cache
        self.table_uri = self.lake.table_uri(plan.dataset)
        reads = filter_columns(plan.filter, plan.table_schema) if plan.filter is not None else []
        self.cached = cached_columns(plan.table_schema, plan.columns, reads)
        self.format = pads.ParquetFileFormat(
            default_fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=True)
        )
        self.fragments: dict[str, pads.ParquetFileFragment] = {}
        self.lock = threading.Lock()

    def read(self, unit: Unit) -> pa.Table:
        plan = self.plan
        if self.cache is None:
            table = self._read(unit, plan.columns, plan.filter)
        else:
            name = entry_name(self.table_uri, unit.path, unit.row_group, self.cached)
            decoded = self.cache.get(name)
            if decoded is None:
                decoded = self._read(unit, self.cached, None)
                self.cache.put(name, decoded)
            table = select(decoded, plan.columns, plan.filter)
        if table.num_rows != unit.rows:
            raise ThermoclineError(
                f"{plan.dataset}: {unit.path} row group {unit.row_group} has {table.num_rows} "
                f"matching rows, the plan counted {unit.rows}; the file changed under the plan"
            )
        return table

    def _read(self, unit: Unit, columns: Sequence[str], filter: pc.Expression | None) -> pa.Table:
        return (
            self._fragment(unit.path)
            .subset(row_group_ids=[unit.row_group])
            .to_table(schema=self.plan.table_schema, columns=list(columns), filter=filter)
        )

    def _fragment(self, path: str) -> pads.ParquetFileFragment:
        with self.lock:
            found = self.fragments.get(path)
        if found is not None:
            return found
        fragment = self.format.make_fragment(
            path, self.filesystem, partition_expression=self.plan.partitions[path]
        )
        fragment.ensure_complete_metadata()
        with self.lock:
            self.fragments[path] = fragment
        return fragment


def produce(
    dataset: TableDataset, spans: Spans, leg: int, blocks: list[Block], skip: int
) -> Iterator[Batch]:
    """Batches of ``blocks`` after the first ``skip``, made in a background thread."""
    plan, reader = dataset.plan, _Reader(dataset)
    order = epoch_units([u.rows for u in plan.units], dataset.seed, dataset.epoch, dataset.shuffle)
    todo = [b for b in blocks if b.first_batch + len(b.batch_rows) > skip]
    pieces = [
        unit_segments(spans_take(spans, b.start, b.stop), [u.rows for u in plan.units], order)
        for b in todo
    ]
    # The row groups in the order they are needed, each once per consecutive run: read ahead.
    needed = [unit for block in pieces for unit, _, _ in block]
    reads = [u for i, u in enumerate(needed) if i == 0 or needed[i - 1] != u]
    out: queue.Queue[Any] = queue.Queue(maxsize=dataset.prefetch)
    stop = threading.Event()
    pinned = PinnedRing(dataset.prefetch + 2) if dataset.pin_memory else None

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with ThreadPoolExecutor(dataset.prefetch) as pool:
                ahead: deque[Future[pa.Table]] = deque()
                upcoming = iter(reads)

                def refill() -> None:
                    while (
                        len(ahead) < dataset.prefetch and (unit := next(upcoming, None)) is not None
                    ):
                        ahead.append(pool.submit(reader.read, plan.units[unit]))

                refill()
                current: tuple[int, pa.Table] | None = None
                for block, segments in zip(todo, pieces, strict=True):
                    parts = []
                    for unit, first, last in segments:
                        if current is None or current[0] != unit:
                            current = (unit, ahead.popleft().result())
                            refill()
                        parts.append(current[1].slice(first, last - first))
                    rows = pa.concat_tables(parts) if parts else plan.schema.empty_table()
                    if dataset.shuffle:
                        rows = rows.take(block_order(block, dataset.seed, dataset.epoch, leg, True))
                    offset = 0
                    for index, count in enumerate(block.batch_rows):
                        if block.first_batch + index >= skip:
                            batch = to_tensors(
                                rows.slice(offset, count),
                                batch_size=dataset.batch_size,
                                drop_last=dataset.drop_last,
                                list_sizes=dataset.list_sizes,
                                ragged=dataset.ragged,
                                fill=dataset.fill,
                                null_masks=dataset.null_masks,
                            )
                            if pinned is not None:
                                batch = pinned.copy(batch)
                            if not put(batch):
                                return
                        offset += count
                    if stop.is_set():
                        return
            put(_END)
        except BaseException as error:
            put(_Failure(error))

    thread = threading.Thread(target=work, name="thermocline-loader", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


_END = object()


@dataclass(frozen=True)
class _Failure:
    error: BaseException
