"""Train a model of the project file on a pinned dataset version, and mark what it read.

:func:`train_model` is one training run of a model under ``models:`` in ``thermocline.yaml``:
it pins the dataset's version once (the latest, or the one asked for), hands the model's
training function a :class:`~thermocline.datasets.training.TableDataset` of that version (the
loader records the training read in ``catalog.runs`` when iteration starts), and when the
function returns its metrics, tags the version (``dataset@<model>``, so vacuum and tiering keep
the rows the model saw) and logs a ``model_trained`` event with the metrics. A function that
raises leaves no tag and no event: the tag always points at a version a model finished on.

The training function is ``fn(dataset, params) -> {"metric": number, ...}``, named in the
project file as ``module:function`` (see :mod:`thermocline.datasets.training.demo_model`).
torch is imported only when a run builds its loader.

>>> trained = train_model(project, catalog, "ride_fare_model")        # doctest: +SKIP
>>> trained.ref, trained.tag, trained.metrics["loss_last"]             # doctest: +SKIP
('rides@3', 'ride_fare_model', 1.02)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from thermocline.catalog.catalog import Catalog, Event
from thermocline.catalog.config import Project
from thermocline.catalog.config.models import ModelSpec
from thermocline.catalog.errors import ConfigError, ThermoclineError
from thermocline.datasets.tables.pins import pin_version
from thermocline.datasets.tables.versions import resolve_version
from thermocline.datasets.training.runs import code_version, new_run_id

__all__ = [
    "MODEL_TRAINED",
    "TrainFunction",
    "TrainedModel",
    "TrainingFailedError",
    "check_metrics",
    "load_train_function",
    "model_spec",
    "train_model",
]

MODEL_TRAINED = "model_trained"  # the event kind: a model finished training on dataset@version

TrainFunction = Callable[[Any, dict[str, Any]], Mapping[str, Any]]


class TrainingFailedError(ThermoclineError):
    """A model's training function raised: nothing was tagged, and the run may be retried
    once the cause is fixed (the message names the function and its error)."""


@dataclass(frozen=True)
class TrainedModel:
    """One finished training run: ``model`` trained on ``dataset@version`` in run ``run_id``,
    with these ``metrics``; ``tag`` now points at that version."""

    model: str
    dataset: str
    version: int
    run_id: str
    metrics: Mapping[str, float]
    tag: str
    code_version: str | None = None
    columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        """``dataset@version``, as the CLI writes a version."""
        return f"{self.dataset}@{self.version}"


def model_spec(project: Project, model: str) -> ModelSpec:
    """The spec of ``model``, or a :class:`ConfigError` listing the models there are."""
    try:
        return project.models[model]
    except KeyError:
        known = ", ".join(sorted(project.models)) or "none"
        raise ConfigError(
            f"unknown model {model!r}; models: {known}; fix: name one of them, or add it under "
            "models: in the project file",
            field="model",
        ) from None


def load_train_function(model: str, target: str) -> TrainFunction:
    """The function ``target`` (``module:function``) names, imported; a :class:`ConfigError`
    naming ``models.<model>.train`` when the module does not import or holds no such callable."""
    key = f"models.{model}.train"
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ConfigError(
            f"{key} is {target!r}; fix: write it as module:function, e.g. my_pkg.train:fit",
            field=key,
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import failure is the project's to fix, named here
        raise ConfigError(
            f"{key}: module {module_name!r} of {target} does not import "
            f"({type(error).__name__}: {error}); fix: install the module or put its folder "
            "on PYTHONPATH, or correct the name",
            field=key,
        ) from error
    function = getattr(module, name, None)
    if function is None:
        raise ConfigError(
            f"{key}: module {module_name} has no {name!r} ({target}); fix: correct the "
            f"function name or define {name}(dataset, params) in {module_name}",
            field=key,
        )
    if not callable(function):
        raise ConfigError(
            f"{key}: {target} is a {type(function).__name__}, not a function; fix: name a "
            "function fn(dataset, params) -> dict of metrics",
            field=key,
        )
    trainer: TrainFunction = function
    return trainer


def check_metrics(model: str, target: str, returned: object) -> dict[str, float]:
    """``returned`` as ``{name: float}``, or a :class:`ConfigError` saying what the training
    function ``target`` returned instead: a mapping of names to finite numbers."""
    key = f"models.{model}.train"
    if not isinstance(returned, Mapping):
        raise ConfigError(
            f"{key}: {target} returned {type(returned).__name__}, not a mapping of metrics; "
            'fix: return a dict of numbers such as {"loss": 0.12}',
            field=key,
        )
    metrics: dict[str, float] = {}
    for name, value in returned.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{key}: {target} returned a metric named {name!r}; fix: name metrics with "
                "non-empty strings",
                field=key,
            )
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError(
                f"{key}: {target} returned metric {name}={value!r} "
                f"({type(value).__name__}); fix: return numbers only (a tensor: .item())",
                field=key,
            )
        if not math.isfinite(float(value)):
            raise ConfigError(
                f"{key}: {target} returned metric {name}={value}; a model whose metrics are "
                "not finite did not train; fix: lower the learning rate or check the inputs",
                field=key,
            )
        metrics[name] = float(value)
    return metrics


def train_model(
    project: Project,
    catalog: Catalog,
    model: str,
    *,
    run: str | None = None,
    version: int | None = None,
) -> TrainedModel:
    """Train ``model`` on its dataset at ``version`` (default: the latest, resolved once), as
    run ``run`` (default: a new id), then tag that version and log the metrics.

    Raises :class:`ConfigError` for an unknown model or a training function that does not
    import, never reads its dataset or returns no mapping of numbers, and
    :class:`TrainingFailedError` when the function raises; either way nothing is tagged.
    """
    spec = model_spec(project, model)
    train = load_train_function(model, spec.train)
    pinned = resolve_version(catalog, spec.dataset, version, tiers=True)
    run_id = new_run_id(run)
    from thermocline.datasets.training.dataset import TableDataset  # torch, only here

    dataset = TableDataset(
        spec.dataset,
        catalog=catalog,
        version=pinned,
        columns=spec.columns,
        batch_size=spec.batch_size,
        shuffle=True,  # each batch a fair sample of the version, in an order seed 0 fixes
        run=run_id,
    )
    try:
        returned = train(dataset, dict(spec.params))
    except ThermoclineError:
        raise  # the loader's own errors (PII refused, archived files) say what to do
    except Exception as error:
        raise TrainingFailedError(
            f"model {model}: {spec.train} raised {type(error).__name__}: {error}; "
            f"{spec.dataset}@{pinned} was not tagged; fix the function and train again"
        ) from error
    metrics = check_metrics(model, spec.train, returned)
    if not catalog.runs.find(spec.dataset, run_id):
        raise ConfigError(
            f"models.{model}.train: {spec.train} returned without iterating its dataset, so "
            f"it trained on nothing and {spec.dataset}@{pinned} was not tagged; fix: loop "
            "over the dataset's batches (for batch in dataset: ...)",
            field=f"models.{model}.train",
        )
    tag = spec.tag_name(model)
    commit = code_version()
    pin_version(catalog, spec.dataset, pinned)  # readable past log retention, before the tag
    catalog.set_tag(
        tag, spec.dataset, pinned, reason=f"model {model} trained on it in run {run_id}"
    )
    details = {
        "model": model,
        "run_id": run_id,
        "tag": tag,
        "train": spec.train,
        "columns": list(spec.columns),
        "metrics": metrics,
        "code_version": commit,
    }
    catalog.record(Event(MODEL_TRAINED, spec.dataset, pinned, f"model {model} trained", details))
    return TrainedModel(
        model, spec.dataset, pinned, run_id, metrics, tag, commit, tuple(spec.columns)
    )
