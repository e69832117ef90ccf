"""A model of the project file as a Dagster asset downstream of its dataset, materialized
in-process with the real resource on a local lake."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from model_project import MODEL, add_rides, model_project, write_broken_models

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DerivedSource
from thermocline.catalog.errors import TagNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.versions import open_table
from thermocline.datasets.training.models import load_train_function
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.models import MODELS_GROUP, materialize_model, model_assets

REPO_ROOT = Path(__file__).resolve().parents[2]


def materialize(project_file: Path, *selection: str) -> dg.ExecuteInProcessResult:
    """``rides`` (from build_definitions) and the model assets, materialized in one run."""
    project = load_project(project_file, environ={})
    rides = build_definitions(project, str(project_file)).get_assets_def("rides")
    return dg.materialize(
        [rides, *model_assets(project)],
        selection=list(selection) or None,
        resources={"thermocline": ThermoclineResource(project_path=str(project_file))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def catalog_of(project_file: Path) -> Catalog:
    return Catalog(Lake.from_project(load_project(project_file, environ={})))


def test_the_model_is_an_asset_downstream_of_its_dataset(tmp_path: Path) -> None:
    project = load_project(model_project(tmp_path), environ={})
    [asset] = model_assets(project)
    spec = next(iter(asset.specs))
    assert spec.key == dg.AssetKey(MODEL)
    assert [dep.asset_key for dep in spec.deps] == [dg.AssetKey("rides")]
    assert (spec.group_name, spec.kinds) == (MODELS_GROUP, {"torch"})
    assert spec.owners == ["ml@example.com"]
    assert spec.description == "Fare from distance and hour of day."
    assert asset.op.required_resource_keys == {"thermocline"}
    rides = build_definitions(project).get_assets_def("rides")
    defs = dg.Definitions(assets=[rides, asset], resources={"thermocline": ThermoclineResource()})
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(MODEL)).parent_keys == {dg.AssetKey("rides")}


def test_the_repository_project_has_the_demo_model_on_ride_features() -> None:
    project = load_project(REPO_ROOT / "thermocline.yaml", environ={"THERMOCLINE_PII_KEY": "k"})
    [asset] = model_assets(project)
    spec = next(iter(asset.specs))
    assert spec.key == dg.AssetKey("ride_fare_model")
    assert [dep.asset_key for dep in spec.deps] == [dg.AssetKey("ride_features")]
    model = project.models["ride_fare_model"]
    assert callable(load_train_function("ride_fare_model", model.train))
    features = project.dataset("ride_features")
    assert set(model.columns) <= set(features.schema_)
    assert set(model.params["features"]) | {"fare"} == set(model.columns)
    assert isinstance(features.source, DerivedSource)
    assert sorted(features.source.inputs) == ["ride_events", "rides"]
    assert "rider_email" not in features.schema_, "the features hold no PII column"


def test_materializing_trains_on_the_new_version_and_records_the_dagster_run(
    tmp_path: Path,
) -> None:
    project_file = model_project(tmp_path)
    add_rides(tmp_path, 5_000)
    add_rides(tmp_path, 5_000)

    result = materialize(project_file)

    assert result.success
    catalog = catalog_of(project_file)
    version = open_table(catalog.lake, "rides").version()
    [materialization] = result.asset_materializations_for_node(MODEL)
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["dataset"] == f"rides@{version}"
    assert metadata["dataset_version"] == version
    assert metadata["tag"] == f"rides@{MODEL}"
    assert metadata["run_id"] == result.run_id
    assert metadata["columns"] == "distance_km, started_at, fare"
    assert metadata["metric/loss_last"] < 0.5 * metadata["metric/loss_first"]
    assert metadata["metric/steps"] == 200
    assert isinstance(materialization.metadata["metric/loss_last"], dg.FloatMetadataValue)
    assert catalog.tag("rides", MODEL).version == version
    [run] = catalog.runs.find("rides", result.run_id)
    assert run.version == version
    # the loader's record and the asset name the same code (a git commit here, in a checkout)
    assert run.code_version is not None
    assert metadata["code_version"] == run.code_version


def test_a_failing_training_fails_the_step_and_tags_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_broken_models(tmp_path)
    project_file = model_project(tmp_path, train=f"{module}:raises")
    add_rides(tmp_path, 1_000)

    result = materialize(project_file)

    assert not result.success
    assert [m.asset_key for m in result.asset_materializations_for_node("rides")] == [
        dg.AssetKey("rides")
    ]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == MODEL
    assert "the optimizer diverged" in str(failure.step_failure_data.error)
    with pytest.raises(TagNotFoundError):
        catalog_of(project_file).tag("rides", MODEL)


def test_materialize_model_runs_the_model_alone_and_says_what_it_trained_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_file = model_project(tmp_path)
    project = load_project(project_file, environ={})
    add_rides(tmp_path, 2_000)
    catalog = catalog_of(project_file)
    assert ingest(project, catalog, "rides").status == "published"
    instance = dg.DagsterInstance.ephemeral()

    run = materialize_model(project, MODEL, instance=instance)

    assert run.success, run.error
    assert (run.ref, run.tag) == ("rides@0", f"rides@{MODEL}")
    assert run.metrics["loss_last"] < 0.5 * run.metrics["loss_first"]
    assert instance.get_run_by_id(run.run_id) is not None
    assert [r.run_id for r in catalog.runs.find("rides")] == [run.run_id]

    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_broken_models(tmp_path)
    broken = load_project(model_project(tmp_path, train=f"{module}:raises"), environ={})
    failed = materialize_model(broken, MODEL, instance=instance)
    assert not failed.success
    assert (failed.ref, failed.tag) == (None, None)
    assert "the optimizer diverged" in (failed.error or "")
    assert catalog.tag("rides", MODEL).version == 0  # still where the good run put it
