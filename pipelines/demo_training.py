"""The demo's last act: features from the two demo tables, a model trained on them, and the
lineage of that training run back to the source files and Kafka offsets.

After ``thermocline demo`` has published a batch of rides (and ride events are in their table),
:func:`run_training_demo` materializes the derived ``ride_features`` asset in a recorded Dagster
run (DuckDB over ``rides`` and ``ride_events`` at pinned versions), then the
``ride_fare_model`` asset (:func:`~thermocline.pipelines.models.materialize_model`: trains on
the latest features version, tags it, records the training read under the Dagster run's id),
both in the project's Dagster instance, so the UI shows ``rides, ride_events -> ride_features
-> ride_fare_model``. Last, it walks the lineage of the training run upstream.

>>> demo = run_training_demo(project, catalog)                     # doctest: +SKIP
>>> demo.features_version, demo.model.tag, demo.model.metrics["loss_last"]  # doctest: +SKIP
(0, 'ride_features@ride_fare_model', 1.02)
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.datasets.demo import DEMO_DATASET, DEMO_EVENTS_DATASET
from thermocline.datasets.lineage import LineageGraph, lineage
from thermocline.datasets.tables.versions import open_table
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.models import ModelRun, materialize_model
from thermocline.pipelines.ui import dagster_instance

__all__ = [
    "DEMO_FEATURES",
    "DEMO_MODEL",
    "TrainingDemo",
    "run_training_demo",
    "training_demo_ready",
]

DEMO_FEATURES = "ride_features"
DEMO_MODEL = "ride_fare_model"


@dataclass(frozen=True)
class TrainingDemo:
    """What the training part of the demo did. ``features_version`` is the latest version of
    the features after their run (the one the model trained on when it ran); ``model`` is None
    when the features run failed, and ``lineage`` is None unless the model trained."""

    features_run_id: str
    features_success: bool
    features_published: bool
    features_version: int | None
    features_error: str | None
    model: ModelRun | None
    lineage: LineageGraph | None


def training_demo_ready(project: Project, catalog: Catalog) -> bool:
    """Whether the project has the demo's features and model, and both inputs have a table."""
    if DEMO_FEATURES not in project.datasets or DEMO_MODEL not in project.models:
        return False
    for name in (DEMO_DATASET, DEMO_EVENTS_DATASET):
        try:
            open_table(catalog.lake, name)
        except DatasetNotFoundError:
            return False
    return True


def run_training_demo(project: Project, catalog: Catalog) -> TrainingDemo:
    """Materialize ``ride_features`` then ``ride_fare_model`` in the project's Dagster instance
    and walk the training run's lineage up to its sources."""
    project_path = str(project.path) if project.path else None
    asset = build_definitions(project, project_path).get_assets_def(DEMO_FEATURES)
    with dagster_instance(project) as instance:
        features = dg.materialize(
            [asset],
            resources={"thermocline": ThermoclineResource(project_path=project_path)},
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        published = bool(features.get_asset_materialization_events())
        version = _latest(catalog)
        if not features.success or version is None:
            error = _failure(features) or f"{DEMO_FEATURES} has no version to train on"
            return TrainingDemo(features.run_id, False, published, version, error, None, None)
        model = materialize_model(project, DEMO_MODEL, instance=instance)
    graph = None
    if model.success:
        graph = lineage(catalog, f"run:{model.run_id}", direction="up", datasets=project.datasets)
    return TrainingDemo(features.run_id, True, published, version, None, model, graph)


def _latest(catalog: Catalog) -> int | None:
    try:
        return open_table(catalog.lake, DEMO_FEATURES).version()
    except DatasetNotFoundError:
        return None


def _failure(result: dg.ExecuteInProcessResult) -> str | None:
    """The first step failure's description (a quarantine says which checks failed)."""
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is not None and data.error is not None:
            message = data.error.message.strip()
            return message.partition("Failure: ")[2] or message
    return None
