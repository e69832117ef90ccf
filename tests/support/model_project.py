"""A project with a ``rides`` file dataset of demo rides and a model trained on it, for the
tests of model training (the Python API, the Dagster asset and ``thermocline train``).

:func:`model_project` writes ``thermocline.yaml`` in a folder with the lake beside it;
:func:`add_rides` drops the next CSV batch of :func:`~thermocline.datasets.demo.demo_rides`
where the source looks. ``broken_models.py`` (written by :func:`write_broken_models`) holds
training functions that fail in the ways a project's own can.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow.csv as pacsv

from thermocline.datasets.demo import demo_rides

__all__ = ["MODEL", "add_rides", "model_project", "write_broken_models"]

MODEL = "fare_model"

PROJECT = """
lake:
  uri: {lake}
datasets:
  rides:
    description: Demo rides from CSV files.
    owners: [data@example.com]
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema:
      ride_id: int64
      started_at: timestamp[us, tz=UTC]
      day: date32
      city: string
      distance_km: float64
      fare: float64
    partition_by: [day]
    quality:
      checks:
        - {{check: not_null, columns: [ride_id]}}
models:
  {model}:
    description: Fare from distance and hour of day.
    owners: [ml@example.com]
    dataset: rides
    columns: [distance_km, started_at, fare]
    train: {train}
    params:
      features: [distance_km, started_at]
      hour_columns: [started_at]
      steps: {steps}
    batch_size: 256
"""


def model_project(
    folder: Path,
    *,
    train: str = "thermocline.datasets.training.demo_model:train",
    steps: int = 200,
    model: str = MODEL,
) -> Path:
    """Write the project file in ``folder`` (its lake in ``folder/lake``); return its path."""
    (folder / "incoming").mkdir(parents=True, exist_ok=True)
    path = folder / "thermocline.yaml"
    text = PROJECT.format(lake=folder / "lake", model=model, train=train, steps=steps)
    path.write_text(textwrap.dedent(text))
    return path


def add_rides(folder: Path, rows: int = 5_000) -> Path:
    """Write the next demo batch (without the e-mail column) where the source of the project
    in ``folder`` looks."""
    incoming = folder / "incoming"
    batch = len(list(incoming.glob("rides-*.csv")))
    path = incoming / f"rides-{batch:04d}.csv"
    pacsv.write_csv(demo_rides(batch, rows).drop_columns(["rider_email"]), path)
    return path


BROKEN = '''
"""Training functions that fail: each in one of the ways a project's own can."""


def raises(dataset, params):
    for _batch in dataset:
        raise RuntimeError("the optimizer diverged")
    return {}


def returns_text(dataset, params):
    for _batch in dataset:
        break
    return "done"


def returns_a_tensor_metric(dataset, params):
    for batch in dataset:
        return {"loss": batch["fare"][:1]}
    return {}


def never_reads(dataset, params):
    return {"loss": 0.0}


not_a_function = 3
'''


def write_broken_models(folder: Path, module: str = "broken_models") -> str:
    """Write ``<module>.py`` in ``folder`` (put ``folder`` on ``sys.path``); return its name."""
    (folder / f"{module}.py").write_text(BROKEN)
    return module
