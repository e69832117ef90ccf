"""Models of the project file as Dagster assets, downstream of the dataset each trains on.

:func:`model_assets` makes one asset per entry under ``models:`` (key: the model's name, group
``models``, kind ``torch``), so the asset graph shows ``rides -> ride_fare_model``. Its
materialization is one :func:`~thermocline.datasets.training.models.train_model` run whose run
id is the Dagster run's, so ``thermocline runs`` and the Dagster UI name the same run; the
metadata says which ``dataset@version`` it trained on, the tag now on that version, the code
version and each metric as a number (plotted across materializations in the UI).

>>> dg.Definitions(assets=[*dataset_assets, *model_assets(project)])     # doctest: +SKIP

:func:`materialize_model` runs one model's asset in a recorded Dagster run (what the demo does
after ingesting, so the training shows in the UI) and returns what it trained on.

>>> with dagster_instance(project) as instance:                          # doctest: +SKIP
...     run = materialize_model(project, "ride_fare_model", instance=instance)
>>> run.ref, run.metrics["loss_last"]                                    # doctest: +SKIP
('rides@3', 1.01)

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations.
"""

from dataclasses import dataclass, field
from typing import Any, cast

import dagster as dg
from dagster import AssetExecutionContext

from thermocline.catalog.config import Project
from thermocline.catalog.config.models import ModelSpec
from thermocline.catalog.errors import ThermoclineError
from thermocline.datasets.training.models import TrainedModel, train_model

__all__ = ["MODELS_GROUP", "ModelRun", "materialize_model", "model_assets", "model_metadata"]

MODELS_GROUP = "models"


def model_assets(project: Project) -> list[dg.AssetsDefinition]:
    """One asset per model of ``project``, each depending on the dataset it trains on. The
    asset reads the project and catalog through the ``thermocline`` resource
    (:class:`~thermocline.pipelines.definitions.ThermoclineResource`)."""
    return [_model_asset(name, spec) for name, spec in project.models.items()]


@dataclass(frozen=True)
class ModelRun:
    """One Dagster run of a model's asset: ``ref`` (``dataset@version``) and ``tag`` are None
    when it failed, and ``error`` then says why."""

    model: str
    run_id: str
    success: bool
    ref: str | None = None
    tag: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def materialize_model(
    project: Project,
    model: str,
    *,
    instance: dg.DagsterInstance,
    project_path: str | None = None,
) -> ModelRun:
    """Materialize ``model``'s asset alone (its dataset is read, not rebuilt) in ``instance``,
    with the ``thermocline`` resource on ``project_path`` (default: ``project``'s file)."""
    from thermocline.datasets.training.models import model_spec
    from thermocline.pipelines.definitions import ThermoclineResource  # it will import us

    spec = model_spec(project, model)
    path = project_path or (str(project.path) if project.path else None)
    result = dg.materialize(
        [_model_asset(model, spec)],
        resources={"thermocline": ThermoclineResource(project_path=path)},
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        data = failures[0].step_failure_data if failures else None
        error = data.error.message.strip() if data is not None and data.error else None
        if error and data is not None and data.error and data.error.cls_name == "Failure":
            error = error.partition("Failure: ")[2] or error  # the description, bare
        return ModelRun(model, result.run_id, False, error=error or "the run failed")
    [materialization] = result.asset_materializations_for_node(model)
    values = {key: value.value for key, value in materialization.metadata.items()}
    metrics = {
        key.removeprefix("metric/"): float(cast("float", value))
        for key, value in values.items()
        if key.startswith("metric/")
    }
    return ModelRun(model, result.run_id, True, str(values["dataset"]), str(values["tag"]), metrics)


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
                description=str(error) if name in str(error) else f"{name}: {error}",
                metadata={"model": name, "dataset": spec.dataset, "run_id": context.run.run_id},
            ) from error
        context.log.info(
            f"{name}: trained on {trained.ref} in run {trained.run_id}; tagged "
            f"{trained.dataset}@{trained.tag}; "
            + ", ".join(f"{k}={v:.4g}" for k, v in trained.metrics.items())
        )
        return dg.MaterializeResult(metadata=model_metadata(trained))

    return train
