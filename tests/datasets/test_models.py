"""Training a model of the project file on a real local lake: the version is pinned and tagged,
the training read recorded, the demo model learns, and a failing function tags nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from model_project import MODEL, add_rides, model_project, write_broken_models

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import ConfigError, TagNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.versions import open_table
from thermocline.datasets.training.models import (
    MODEL_TRAINED,
    TrainingFailedError,
    check_metrics,
    train_model,
)


def published(tmp_path: Path, train: str | None = None) -> tuple[Project, Catalog]:
    """A project (its model trained by ``train``, default the demo model) with one published
    version of ``rides`` (10,000 rides)."""
    file = model_project(tmp_path, train=train) if train else model_project(tmp_path)
    project = load_project(file, environ={})
    catalog = Catalog(Lake.from_project(project))
    add_rides(project.root, 5_000)
    add_rides(project.root, 5_000)
    assert ingest(project, catalog, "rides").status == "published"
    return project, catalog


def test_training_pins_tags_and_records_the_version_it_read(tmp_path: Path) -> None:
    project, catalog = published(tmp_path)
    latest = open_table(catalog.lake, "rides").version()

    trained = train_model(project, catalog, MODEL, run="run-fare-1")

    assert (trained.dataset, trained.version, trained.run_id) == ("rides", latest, "run-fare-1")
    assert trained.metrics["steps"] == 200
    assert trained.metrics["loss_last"] < 0.5 * trained.metrics["loss_first"]
    tag = catalog.tag("rides", MODEL)
    assert (tag.version, tag.name) == (latest, trained.tag)
    assert "run-fare-1" in (tag.reason or "")
    assert MODEL in (tag.reason or "")
    [run] = catalog.runs.find("rides", "run-fare-1")
    assert (run.version, run.columns, run.batch_size) == (
        latest,
        ("distance_km", "started_at", "fare"),
        256,
    )
    [event] = catalog.events("rides", kinds=[MODEL_TRAINED])
    assert event.version == latest
    assert event.details["run_id"] == "run-fare-1"
    assert event.details["metrics"] == trained.metrics


def test_a_new_version_after_training_leaves_the_tag_where_the_model_trained(
    tmp_path: Path,
) -> None:
    project, catalog = published(tmp_path)
    first = train_model(project, catalog, MODEL)
    add_rides(project.root, 1_000)
    assert ingest(project, catalog, "rides").status == "published"
    newer = open_table(catalog.lake, "rides").version()
    assert newer > first.version

    assert catalog.tag("rides", MODEL).version == first.version
    again = train_model(project, catalog, MODEL, version=first.version)
    assert again.version == first.version
    assert again.run_id != first.run_id
    assert catalog.tag("rides", MODEL).version == first.version
    latest = train_model(project, catalog, MODEL)
    assert latest.version == newer
    assert catalog.tag("rides", MODEL).version == newer
    assert [r.version for r in catalog.runs.find("rides", latest.run_id)] == [newer]


def test_a_training_function_that_raises_tags_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_broken_models(tmp_path)
    project, catalog = published(tmp_path, train=f"{module}:raises")

    with pytest.raises(TrainingFailedError, match=rf"{module}:raises raised RuntimeError: the "):
        train_model(project, catalog, MODEL, run="run-broken")

    with pytest.raises(TagNotFoundError):
        catalog.tag("rides", MODEL)
    assert catalog.events("rides", kinds=[MODEL_TRAINED]) == []
    # the read happened (the loader records it when iteration starts), so lineage shows it
    assert [r.run_id for r in catalog.runs.find("rides")] == ["run-broken"]


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("returns_text", r"returned str, not a mapping of metrics"),
        ("returns_a_tensor_metric", r"returned metric loss=.*\(Tensor\); fix: return numbers"),
        ("never_reads", r"returned without iterating its dataset"),
        ("not_a_function", r"is a int, not a function"),
        ("missing", r"has no 'missing'"),
    ],
)
def test_a_training_function_that_misbehaves_is_a_config_error_and_tags_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, message: str
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_broken_models(tmp_path)
    project, catalog = published(tmp_path, train=f"{module}:{function}")

    with pytest.raises(ConfigError, match=message) as caught:
        train_model(project, catalog, MODEL)

    assert caught.value.field == f"models.{MODEL}.train"
    with pytest.raises(TagNotFoundError):
        catalog.tag("rides", MODEL)


def test_a_module_that_does_not_import_names_the_function_and_the_fix(tmp_path: Path) -> None:
    project, catalog = published(tmp_path, train="no_such_module_here:fit")
    with pytest.raises(ConfigError) as caught:
        train_model(project, catalog, MODEL)
    text = str(caught.value)
    assert "no_such_module_here:fit" in text
    assert "PYTHONPATH" in text
    assert catalog.runs.find("rides") == []


def test_an_unknown_model_lists_the_models(tmp_path: Path) -> None:
    project, catalog = published(tmp_path)
    with pytest.raises(ConfigError, match=rf"unknown model 'nope'; models: {MODEL}"):
        train_model(project, catalog, "nope")


def test_the_demo_model_is_seeded(tmp_path: Path) -> None:
    project, catalog = published(tmp_path)
    first = train_model(project, catalog, MODEL)
    second = train_model(project, catalog, MODEL)
    assert first.metrics == second.metrics


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        ({"loss": float("nan")}, "not finite"),
        ({"ok": True}, "numbers only"),
        ({1: 0.5}, "non-empty strings"),
        ([("loss", 1.0)], "not a mapping"),
    ],
)
def test_check_metrics_refuses_what_is_not_a_mapping_of_finite_numbers(
    returned: object, problem: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        check_metrics("m", "pkg:fit", returned)


def test_check_metrics_takes_numbers_of_any_kind() -> None:
    import numpy as np

    assert check_metrics("m", "pkg:fit", {"a": 1, "b": np.float32(0.5)}) == {"a": 1.0, "b": 0.5}
