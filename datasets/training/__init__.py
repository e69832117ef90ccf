"""The training loader: column-pruned, sharded, resumable batches of a pinned table version.

:class:`TableDataset` (a torch ``IterableDataset``) and :class:`TableLoader` live in
:mod:`.dataset`; the pure parts beside them are the plan from the Delta log (:mod:`.plans`),
the dealing and resume arithmetic (:mod:`.shards`), Arrow -> tensor conversion
(:mod:`.tensors`), background reading (:mod:`.prefetch`) and the local cache of decoded row groups
(:mod:`.unitcache`). The torch-backed names load on first use, so that planning and sharding
import without torch.

>>> from thermocline.datasets.training import TableDataset              # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from thermocline.datasets.training.plans import Plan, Unit, make_plan

if TYPE_CHECKING:
    from thermocline.datasets.training.dataset import TableDataset, TableLoader, iter_batches
    from thermocline.datasets.training.tensors import MASK

__all__ = ["MASK", "Plan", "TableDataset", "TableLoader", "Unit", "iter_batches", "make_plan"]

_LAZY = {
    "MASK": "thermocline.datasets.training.tensors",
    "TableDataset": "thermocline.datasets.training.dataset",
    "TableLoader": "thermocline.datasets.training.dataset",
    "iter_batches": "thermocline.datasets.training.dataset",
}


def __getattr__(name: str) -> Any:
    """Import torch only when a torch-backed name is first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
