"""The training loader: column-pruned, sharded, resumable batches of a pinned Delta version.

:class:`TableDataset` is a torch ``IterableDataset`` whose items are whole batches: dicts of
tensors. It reads the (file, row group) units of one table version (:mod:`.plans`), deals them
to ranks and DataLoader workers so that every rank yields the same number of batches and no row
comes twice in an epoch (:mod:`.shards`), and resumes from ``state_dict()`` exactly on the same
topology and without loss or repetition on another one (DESIGN.md > Decision 7).

Reading runs in background threads in the same process (pyarrow decodes without the GIL): the
fast default. DataLoader worker processes work too, through :class:`TableLoader`, which ships
each batch as one shared-memory buffer and counts delivered batches for ``state_dict()``.

Memory bound per reader (a rank, or each worker): one shuffle block of ``shuffle_buffer`` rows
(rounded up to whole batches) being assembled plus one being served, ``prefetch`` decoded row
groups read ahead plus the one in use, and ``prefetch`` finished batches in a queue. At 100
bytes a row and the defaults (65,536-row blocks, row groups of 1M rows, prefetch 2) that is
about 2 x 6.5 MB + 3 x 100 MB + 2 batches.

>>> from thermocline.datasets.training import TableDataset
>>> rides = TableDataset("rides", tag="golden", columns=["fare", "distance"],    # doctest: +SKIP
...                      filter=[("fare", ">", 0)], batch_size=4096, shuffle=True, seed=7)
>>> for batch in rides:                                                        # doctest: +SKIP
...     batch["fare"], batch["_mask"]          # 1-D float tensor; True for real rows
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import (
    InputError,
    LoaderStateError,
    PiiRefusedError,
    ThermoclineError,
    VersionNotFoundError,
)
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.tables.versions import (
    require_not_archived,
    require_not_erased,
    resolve_version,
)
from thermocline.datasets.training.plans import FilterSpec, Plan, filter_columns, make_plan
from thermocline.datasets.training.prefetch import produce
from thermocline.datasets.training.runs import new_run_id, record_read
from thermocline.datasets.training.shards import (
    Spans,
    Topology,
    batch_counts,
    consumed_per_worker,
    remaining,
    schedule,
)
from thermocline.datasets.training.tensors import (
    MASK,
    Batch,
    fill_value,
    is_list,
    is_scalar,
    is_text,
    pack,
    tensor_type,
    unpack,
    value_type,
)
from thermocline.datasets.training.unitcache import UnitCache

__all__ = [
    "TableDataset",
    "TableLoader",
    "iter_batches",
]


_STATE_FORMAT = 1


@dataclass
class _Leg:
    """One stretch of the epoch on one topology and the batches each rank delivered in it."""

    topology: Topology
    delivered: int = 0


class TableDataset(IterableDataset[Batch]):
    """Batches of dataset ``source`` at a pinned version, as dicts of tensors.

    ``source`` is a dataset name (in ``catalog``'s lake, in ``lake``, or in the project file's
    lake) or a table URI (``s3://bucket/lake/rides`` with ``storage_options``). A training
    script that already holds a :class:`Catalog` passes it; otherwise one is built here, once.
    Pin the version with one of ``version`` (number or ISO time), ``tag`` or ``release``; the
    default is the latest.

    Each batch maps every column to: a 1-D tensor (numbers, bools; times as int64), a 2-D one
    (fixed-size lists), values plus ``<column>_offsets`` (variable lists, ``ragged="offsets"``)
    or a zero-padded 2-D tensor plus a bool ``<column>_mask`` (``ragged="padded"``), or a list
    (strings, binary); a list column named in ``list_sizes`` (``{"embedding": 768}``) is 2-D,
    as Delta stores fixed-size lists as plain lists. Without ``drop_last`` every batch has
    ``batch_size`` rows: the last one of each rank is padded and ``batch[MASK]`` tells real
    rows from padding.

    Ranks come from ``torch.distributed`` when initialized (or ``rank``/``world_size``),
    DataLoader workers from ``get_worker_info``. Iterating again continues where the last
    iteration stopped; a finished pass moves to the next epoch (or call :meth:`set_epoch`).
    Columns the catalog classifies as personal data are refused unless ``allow_pii`` names them.

    A null in a number, bool or time column is refused when its batch is read (a tensor has no
    null; a NaN would train silently) unless ``fill`` gives that column's value for nulls
    (``fill={"fare": 0.0}``) or ``null_masks`` names it (``True``: every such column): then its
    nulls are 0 and ``batch["<column>_mask"]`` is True where the value is real, in every batch.

    With ``cache_dir`` (a local folder, shared by the processes of one machine), each row
    group read is kept there decoded, as a memory-mapped Arrow IPC file, so later epochs skip
    the store and Parquet decoding; at most ``cache_bytes`` in all, least recently used
    evicted first (:mod:`.unitcache`).

    When iteration first starts, rank 0 records the read in the catalog (``catalog.runs``,
    ``thermocline runs``): the run id ``run`` (default: torchrun's ``TORCHELASTIC_RUN_ID``, else
    a fresh one; ``run_id`` is its older name), dataset@version, columns, filter, seed, world
    size and the git commit of the working directory. ``record_run=False`` records nothing.
    """

    def __init__(
        self,
        source: str,
        *,
        catalog: Catalog | None = None,
        lake: Lake | None = None,
        storage_options: Mapping[str, str] | None = None,
        version: int | str | datetime | None = None,
        tag: str | None = None,
        release: str | None = None,
        columns: Sequence[str] | None = None,
        filter: FilterSpec = None,
        batch_size: int = 1024,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        shuffle_buffer: int = 65_536,
        ragged: Literal["offsets", "padded"] = "offsets",
        list_sizes: Mapping[str, int] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        prefetch: int = 2,
        pin_memory: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_bytes: int = 64 * 2**30,
        allow_pii: Sequence[str] = (),
        fill: Mapping[str, Any] | None = None,
        null_masks: bool | Sequence[str] = False,
        run: str | None = None,
        run_id: str | None = None,
        record_run: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1 or shuffle_buffer < 1 or prefetch < 1:
            raise InputError("batch_size, shuffle_buffer and prefetch must each be at least 1")
        if ragged not in ("offsets", "padded"):
            raise InputError(f"ragged must be 'offsets' or 'padded', not {ragged!r}")
        seed = _seed(seed)
        self.catalog, self.dataset = _resolve_source(source, catalog, lake, storage_options)
        self.lake = self.catalog.lake
        self.rank, self.world_size = _topology(rank, world_size)
        self.batch_size, self.shuffle, self.seed, self.drop_last = (
            batch_size,
            shuffle,
            seed,
            drop_last,
        )
        self.block_rows = math.ceil(shuffle_buffer / batch_size) * batch_size
        self.ragged, self.prefetch = ragged, prefetch
        self.list_sizes = dict(list_sizes or {})
        self.pin_memory = pin_memory and _pinning_possible()
        self.cache = UnitCache(cache_dir, cache_bytes) if cache_dir else None
        if run is not None and run_id is not None and run != run_id:
            raise InputError(
                f"run={run!r} and run_id={run_id!r} name two runs; pass one (run_id is the "
                "older name of run)",
                field="run",
            )
        self.run_id = _shared_run_id(new_run_id(run if run is not None else run_id))
        self._record_run = record_run and self.rank == 0

        def plan() -> Plan:
            pinned = _pin_version(self.catalog, self.dataset, version, tag, release)
            made = make_plan(self.lake, self.dataset, pinned, columns, filter)
            _refuse_pii(self.catalog, made, allow_pii)
            _check_types(made, ragged, drop_last, self.list_sizes)
            return made

        self.plan = _shared_plan(plan)
        self.fill, self.null_masks = _null_handling(self.plan, fill or {}, null_masks)
        self.epoch = 0
        self._legs: list[_Leg] = []
        self._pack = False  # set by TableLoader: ship batches from workers as one buffer

    # --- position -------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning (its order depends on ``(seed, epoch)``)."""
        self.epoch, self._legs = epoch, []

    def state_dict(self) -> dict[str, Any]:
        """Where this rank stands: plain values, safe to ``torch.save`` or JSON-encode."""
        return {
            "format": _STATE_FORMAT,
            "fingerprint": self.plan.fingerprint,
            "seed": self.seed,
            "epoch": self.epoch,
            "legs": [
                [t.world_size, t.workers, t.batch_size, t.block_rows, t.drop_last, t.shuffle, n]
                for t, n in ((leg.topology, leg.delivered) for leg in self._legs)
            ],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (of any rank of a job over the same plan and seed)."""
        if state.get("format") != _STATE_FORMAT:
            raise LoaderStateError(
                f"loader state format {state.get('format')!r} is not {_STATE_FORMAT}"
            )
        if state["fingerprint"] != self.plan.fingerprint:
            raise LoaderStateError(
                "the loader state belongs to another plan (table version, columns, filter or "
                "files differ); pin the same version and columns to resume"
            )
        if state["seed"] != self.seed:
            raise LoaderStateError(f"the loader state used seed {state['seed']}, not {self.seed}")
        self.epoch = int(state["epoch"])
        self._legs = [
            _Leg(Topology(int(w), int(k), int(b), int(s), bool(d), bool(sh)), int(n))
            for w, k, b, s, d, sh, n in state["legs"]
        ]

    def batches_per_epoch(self, workers: int = 0) -> int:
        """How many batches each rank yields in a whole epoch (the same on every rank)."""
        return sum(batch_counts(self.plan.rows, self._topology(max(1, workers))))

    # --- iteration ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        spans, leg, skip = self._begin(workers, worker)
        counting = info is None  # in a worker process, TableLoader counts in the main one
        if counting:
            self._record_read()
        blocks = schedule(int((spans[:, 1] - spans[:, 0]).sum()), leg.topology, self.rank, worker)
        produced = produce(self, spans, len(self._legs) - 1, blocks, skip)
        packing = info is not None and self._pack
        for batch in produced:
            if counting:
                leg.delivered += 1
            yield pack(batch) if packing else batch
        if counting:
            self.set_epoch(self.epoch + 1)

    def _record_read(self) -> None:
        """Record this run's read of the plan in the catalog (``catalog.runs``), once: on
        rank 0, in the main process, when the first iteration starts (a plan made to look at,
        never iterated, trained nothing)."""
        if self._record_run:
            record_read(
                self.catalog,
                self.plan,
                self.run_id,
                seed=self.seed,
                world_size=self.world_size,
                shuffle=self.shuffle,
                batch_size=self.batch_size,
            )
            self._record_run = False

    def _topology(self, workers: int) -> Topology:
        return Topology(
            self.world_size, workers, self.batch_size, self.block_rows, self.drop_last, self.shuffle
        )

    def _begin(self, workers: int, worker: int = 0) -> tuple[Spans, _Leg, int]:
        """The current leg's input, the leg, and the batches ``worker`` has delivered in it.

        The same topology continues the last leg; another one starts a new leg over the rows
        the earlier legs did not deliver. Resumed at an epoch's very end, the next one starts.
        """
        topology = self._topology(workers)
        legs = self._legs
        if legs and legs[-1].topology != topology and not legs[-1].delivered:
            legs.pop()  # nothing was delivered on that topology: forget it
        spans = np.array([[0, self.plan.rows]], dtype=np.int64)
        for index, past in enumerate(legs[:-1]):
            spans = self._remaining(spans, past, index)
        if legs and legs[-1].topology != topology:
            spans = self._remaining(spans, legs[-1], len(legs) - 1)
            legs.append(_Leg(topology))
        elif not legs:
            legs.append(_Leg(topology))
        leg = legs[-1]
        counts = batch_counts(int((spans[:, 1] - spans[:, 0]).sum()), topology)
        if leg.delivered >= sum(counts) and (leg.delivered or len(legs) > 1):
            self.set_epoch(self.epoch + 1)
            return self._begin(workers, worker)
        return spans, leg, consumed_per_worker(counts, leg.delivered)[worker]

    def _remaining(self, spans: Spans, leg: _Leg, index: int) -> Spans:
        return remaining(spans, leg.topology, leg.delivered, self.seed, self.epoch, index)


class TableLoader(DataLoader[Batch]):
    """A DataLoader over a :class:`TableDataset` that keeps ``state_dict()`` right with workers.

    With ``num_workers > 0`` each batch crosses from its worker as one shared-memory buffer
    (not one segment per tensor) and is unpacked here; batches are counted as they are handed
    out, so ``dataset.state_dict()`` says exactly what the caller has received.
    """

    def __init__(self, dataset: TableDataset, num_workers: int = 0, **options: Any) -> None:
        if options.get("persistent_workers"):
            raise InputError("TableLoader needs fresh workers each pass; drop persistent_workers")
        super().__init__(dataset, batch_size=None, num_workers=num_workers, **options)
        self.table_dataset = dataset

    def __iter__(self) -> Iterator[Batch]:  # type: ignore[override]
        dataset, workers = self.table_dataset, self.num_workers
        if not workers:
            yield from super().__iter__()
            return
        dataset._pack = True
        dataset._record_read()  # here: the workers' own iterations never record
        _, leg, _ = dataset._begin(workers)  # before the workers fork, so they agree
        for batch in super().__iter__():
            leg.delivered += 1
            yield unpack(batch)
        dataset.set_epoch(dataset.epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        return self.table_dataset.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.table_dataset.load_state_dict(state)


def iter_batches(source: str, **options: Any) -> Iterator[dict[str, Any]]:
    """One epoch of batches for code without torch: dicts of numpy arrays and lists.

    Takes the same options as :class:`TableDataset`.
    """
    for batch in TableDataset(source, **options):
        yield {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _resolve_source(
    source: str,
    catalog: Catalog | None,
    lake: Lake | None,
    storage_options: Mapping[str, str] | None,
) -> tuple[Catalog, str]:
    """The catalog to read through (its lake holds the table) and the dataset's name."""
    if catalog is not None:
        if lake is not None and lake.uri != catalog.lake.uri:
            raise InputError(f"lake {lake.uri} is not the catalog's lake {catalog.lake.uri}")
        return catalog, source
    if lake is not None:
        return Catalog(lake), source
    if "/" in source or "://" in source or os.sep in source:
        root, _, name = source.rstrip("/").rpartition("/")
        return Catalog(Lake.open(root or "/", storage_options)), name
    return Catalog(Lake.from_project(load_project())), source


def _topology(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank() if rank is None else rank
        world_size = dist.get_world_size() if world_size is None else world_size
    rank, world_size = rank or 0, world_size or 1
    if not 0 <= rank < world_size:
        raise InputError(f"rank {rank} is outside world size {world_size}")
    return rank, world_size


def _pin_version(
    catalog: Catalog,
    dataset: str,
    version: int | str | datetime | None,
    tag: str | None,
    release: str | None,
) -> int:
    if sum(x is not None for x in (version, tag, release)) > 1:
        raise InputError("pin the version with one of version, tag or release, not several")
    if release is not None:
        versions = catalog.release(release).versions
        if dataset not in versions:
            raise VersionNotFoundError(
                f"release {release!r} has no version of {dataset}; it holds "
                f"{', '.join(f'{d}@{v}' for d, v in sorted(versions.items()))}"
            )
        require_not_erased(catalog, dataset, versions[dataset], via=f"release {release}")
        require_not_archived(catalog, dataset, versions[dataset], via=f"release {release}")
        return versions[dataset]
    return resolve_version(catalog, dataset, tag if tag is not None else version, tiers=True)


def _shared_plan(make: Callable[[], Plan]) -> Plan:
    """One plan per job: rank 0 makes it and broadcasts it (or its error) when distributed."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return make()
    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = make()
        except ThermoclineError as error:
            box[0] = error
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], ThermoclineError):
        raise box[0]
    plan: Plan = box[0]
    return plan


def _shared_run_id(run_id: str) -> str:
    """Rank 0's run id on every rank when distributed: a generated one differs per process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return run_id
    box: list[Any] = [run_id]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def _refuse_pii(catalog: Catalog, plan: Plan, allow_pii: Sequence[str]) -> None:
    """Refuse to read columns that hold personal data in clear (detected or confirmed, not
    rejected; hashed, masked, generalized and dropped columns are not in clear) unless
    ``allow_pii`` names them. A filter on such a column reads it too."""
    read = set(plan.columns)
    if plan.filter is not None:
        read.update(filter_columns(plan.filter, plan.table_schema))
    current = catalog.pii.current(plan.dataset)
    refused = sorted(
        c for c, found in current.items() if found.in_clear and c in read and c not in allow_pii
    )
    if refused:
        named = ", ".join(f"{c} ({current[c].pii_class}, {current[c].review})" for c in refused)
        allowed = ", ".join(repr(c) for c in refused)
        raise PiiRefusedError(
            f"{plan.dataset}: column(s) {named} hold personal data in clear; leave them out "
            f"of columns and filter, or pass allow_pii=[{allowed}] (a wrong finding: "
            f"`thermocline pii review {plan.dataset}.{refused[0]} --reject`)",
            fix=f"leave {', '.join(refused)} out of columns and filter, "
            f"or pass allow_pii=[{allowed}]",
        )


def _check_types(plan: Plan, ragged: str, drop_last: bool, list_sizes: Mapping[str, int]) -> None:
    """Refuse columns with no tensor form, and names the loader's extra keys would collide with."""
    keys = [] if drop_last else [MASK]
    for name in list_sizes:
        if name not in plan.columns or not is_list(plan.schema.field(name).type):
            raise InputError(f"list_sizes names {name!r}, which is not a list column read here")
    for field in plan.schema:
        kind = value_type(field.type)
        keys.append(field.name)
        if is_list(kind) and field.name not in list_sizes:
            keys.append(field.name + ("_offsets" if ragged == "offsets" else "_mask"))
        elif tensor_type(kind) is None and not is_text(kind) and not is_list(kind):
            raise InputError(
                f"column {field.name!r} has type {field.type}, which has no tensor form; leave "
                "it out of columns or store it as numbers, lists of numbers or text"
            )
    clashes = sorted({k for k in keys if keys.count(k) > 1})
    if clashes:
        raise InputError(
            f"column name(s) {', '.join(clashes)} collide with keys the loader adds ({MASK!r}, "
            "'<column>_offsets', '<column>_mask'); rename them or leave them out of columns"
        )


def _seed(seed: Any) -> int:
    """``seed`` as a whole number >= 0 (what numpy's generators take), refused here rather
    than on the first batch."""
    try:
        whole = operator.index(seed)
    except TypeError:
        whole = -1
    if whole < 0 or isinstance(seed, bool):
        raise InputError(f"seed must be a whole number 0 or more, not {seed!r}", field="seed")
    return whole


def _null_handling(
    plan: Plan, fill: Mapping[str, Any], null_masks: bool | Sequence[str]
) -> tuple[dict[str, pa.Scalar], frozenset[str]]:
    """The fill scalars and null-masked columns, checked against the columns the plan reads."""
    types = {f.name: value_type(f.type) for f in plan.schema}
    scalars = [name for name, kind in types.items() if is_scalar(kind)]
    masked = scalars if null_masks is True else list(null_masks or ())
    for option, names in (("fill", list(fill)), ("null_masks", masked)):
        for name in names:
            if name not in types or not is_scalar(types[name]):
                raise InputError(
                    f"{option} names {name!r}, which is not a column read here that holds "
                    f"numbers, bools or times (those are: {', '.join(scalars) or 'none'})",
                    field=option,
                )
    both = sorted(set(fill) & set(masked))
    if both:
        raise InputError(f"{both[0]!r} is in both fill and null_masks; choose one", field="fill")
    clashes = sorted(f"{name}_mask" for name in masked if f"{name}_mask" in types)
    if clashes:
        raise InputError(
            f"column(s) {', '.join(clashes)} collide with the null masks; rename them or leave "
            "them out of columns",
            field="null_masks",
        )
    filled = {name: fill_value(name, types[name], value) for name, value in fill.items()}
    return filled, frozenset(masked)


def _pinning_possible() -> bool:
    if torch.cuda.is_available():
        return True
    warnings.warn(
        "pin_memory=True but no CUDA device is available; batches stay unpinned", stacklevel=3
    )
    return False
