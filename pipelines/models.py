"""Models of the project file as Dagster assets, downstream of the dataset each trains on.

:func:`model_assets` makes one asset per entry under ``models:`` (key: the model's name, group
``models``, kind ``torch``), so the asset graph shows ``rides -> ride_fare_model``. Its
materialization is one :func:`~thermocline.datasets.training.models.train_model` run whose run
id is the Dagster run's, so ``thermocline runs`` and the Dagster UI name the same run; the
metadata says which ``dataset@version`` it trained on, the tag now on that version, the code
version and each metric as a number (plotted across materializations in the UI).

>>> dg.Definitions(assets=[*dataset_assets, *model_assets(project)])     # doctest: +SKIP

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations.
"""

from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from thermocline.catalog.config import Project
from thermocline.catalog.config.models import ModelSpec
from thermocline.catalog.errors import ThermoclineError
from thermocline.datasets.training.models import TrainedModel, train_model

__all__ = ["MODELS_GROUP", "model_assets", "model_metadata"]

MODELS_GROUP = "models"


def model_assets(project: Project) -> list[dg.AssetsDefinition]:
    """One asset per model of ``project``, each depending on the dataset it trains on. The
    asset reads the project and catalog through the ``thermocline`` resource
    (:class:`~thermocline.pipelines.definitions.ThermoclineResource`)."""
    return [_model_asset(name, spec) for name, spec in project.models.items()]


def model_metadata(trained: TrainedModel) -> dict[str, Any]:
    """What a materialization shows: the version trained on, its tag, the run, the code
    version, and every metric as a number (``metric/<name>``)."""
    return {
        "dataset": trained.ref,
        "dataset_version": dg.MetadataValue.int(trained.version),
        "tag": f"{trained.dataset}@{trained.tag}",
        "run_id": trained.run_id,
        "columns": ", ".join(trained.columns),
        "code_version": trained.code_version or "unknown (not run from a git checkout)",
        **{f"metric/{name}": dg.MetadataValue.float(v) for name, v in trained.metrics.items()},
    }


def _model_asset(name: str, spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=[spec.dataset],
        group_name=MODELS_GROUP,
        kinds={"torch"},
        owners=spec.owners or None,
        description=spec.description or f"Trained by {spec.train} on {spec.dataset}.",
        tags={"thermocline/dataset": spec.dataset},
        required_resource_keys={"thermocline"},
    )
    def train(context: AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        project, catalog = context.resources.thermocline.load()
        try:
            trained = train_model(project, catalog, name, run=context.run.run_id)
        except ThermoclineError as error:
            raise dg.Failure(
                description=f"{name}: {error}",
                metadata={"model": name, "dataset": spec.dataset, "run_id": context.run.run_id},
            ) from error
        context.log.info(
            f"{name}: trained on {trained.ref} in run {trained.run_id}; tagged "
            f"{trained.dataset}@{trained.tag}; "
            + ", ".join(f"{k}={v:.4g}" for k, v in trained.metrics.items())
        )
        return dg.MaterializeResult(metadata=model_metadata(trained))

    return train
