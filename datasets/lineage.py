"""Lineage for notebooks: which training runs read which dataset versions (DESIGN.md >
Decision 13). The facts live in the catalog (``_catalog/training_runs``, written by the loader
when a run starts iterating); this module is the small API to ask them.

>>> from thermocline.datasets.lineage import training_runs              # doctest: +SKIP
>>> [(r.run_id, r.ref, r.code_version) for r in training_runs(catalog, "rides")]  # doctest: +SKIP
[('run-7', 'rides@3', '9f1c...')]
"""

from __future__ import annotations

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.training_runs import TrainingRun

__all__ = ["TrainingRun", "training_runs"]


def training_runs(
    catalog: Catalog, dataset: str | None = None, *, run: str | None = None
) -> list[TrainingRun]:
    """The training reads recorded in ``catalog``, newest first: of one ``dataset`` and/or one
    ``run`` (its id) when given; one entry per run and dataset version it read."""
    lake_of(catalog)  # a Lake in place of the Catalog fails here, with the fix
    return catalog.runs.find(dataset, run)
