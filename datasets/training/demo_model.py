"""The demo's model: a tiny torch regression of a ride's fare on its distance and hour.

:func:`train` is a training function for ``models:`` in the project file
(``train: thermocline.datasets.training.demo_model:train``): it reads the batches of the
:class:`~thermocline.datasets.training.TableDataset` it is handed, epoch after epoch, for
``steps`` Adam steps of a two-layer MLP, on CPU, and returns the loss of the first step and of
the last ones. Seeded: the same rows and params give the same model and metrics.

Params (all optional): ``target`` (default ``fare``), ``features`` (default: every column but
the target), ``hour_columns`` (timestamp columns read as the time of day, default none),
``steps`` (300), ``lr`` (0.01), ``hidden`` (16), ``seed`` (0). Hour columns become the sine and
cosine of the time of day; the other features and the target are standardized with the first
batch's mean and spread (the loader shuffles, so it is a fair sample), so columns of any scale
train alike. The loss is the mean squared error in the target's own units.

>>> train(dataset, {"features": ["distance_km", "started_at"],          # doctest: +SKIP
...                 "hour_columns": ["started_at"], "steps": 300})
{'loss_first': 41.3, 'loss_last': 1.1, 'steps': 300.0, 'rows': 76800.0}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from thermocline.catalog.errors import ConfigError
from thermocline.datasets.training.tensors import MASK

__all__ = ["train"]

_US_PER_DAY = 86_400_000_000
_TAIL = 20  # loss_last: the mean over the last steps, so one noisy batch does not decide it


def train(dataset: Any, params: Mapping[str, Any]) -> dict[str, float]:
    """Fit ``fare ~ MLP(features)`` on ``dataset``'s batches; return the first and last loss,
    the steps taken and the rows seen. Runs on one CPU thread: a model this small only waits
    on the others (the process's setting is restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(dataset, params)
    finally:
        torch.set_num_threads(threads)


def _train(dataset: Any, params: Mapping[str, Any]) -> dict[str, float]:
    target = str(params.get("target", "fare"))
    hours = [str(c) for c in params.get("hour_columns", [])]
    steps, lr = int(params.get("steps", 300)), float(params.get("lr", 0.01))
    hidden, seed = int(params.get("hidden", 16)), int(params.get("seed", 0))
    if steps < 1 or lr <= 0 or hidden < 1:
        raise ConfigError("demo_model params: steps and hidden must be >= 1 and lr > 0")
    batches = _batches(dataset)
    first = next(batches, None)
    if first is None:
        raise ConfigError("demo_model: the dataset version has no rows to train on")
    features = [str(c) for c in params.get("features", [c for c in first if _is_feature(c)])]
    features = [c for c in features if c != target]
    missing = [c for c in (*features, target) if c not in first]
    if missing or not features:
        raise ConfigError(
            f"demo_model: the batches lack column(s) {', '.join(missing) or '(no features)'}; "
            f"fix: list them in the model's columns (the batches hold {', '.join(first)})"
        )
    x, y, mask = _arrays(first, features, target, hours)
    x_mean, x_std = _stats(x[mask])
    clock = [i for i, name in enumerate(features) if name in hours]
    if clock:  # the clock columns (last) have a fixed scale already
        x_mean[-2 * len(clock) :], x_std[-2 * len(clock) :] = 0.0, 1.0
    y_mean, y_std = _stats(y[mask])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    rows = 0
    batch: dict[str, Any] | None = first
    while len(losses) < steps:
        if batch is None:
            batch = next(batches, None)
            if batch is None:
                break  # a pass with no rows: nothing more to learn from
        x, y, mask = _arrays(batch, features, target, hours)
        batch = None
        if not mask.any():
            continue
        predicted = model((x - x_mean) / x_std).squeeze(1) * y_std + y_mean
        loss = ((predicted - y) ** 2)[mask].mean()
        optimizer.zero_grad()
        (loss / y_std**2).backward()  # gradients on the standardized scale
        optimizer.step()
        losses.append(float(loss.detach()))
        rows += int(mask.sum())
    if not losses:
        raise ConfigError("demo_model: every batch was padding; the dataset has no rows")
    tail = losses[-_TAIL:]
    return {
        "loss_first": losses[0],
        "loss_last": sum(tail) / len(tail),
        "steps": float(len(losses)),
        "rows": float(rows),
    }


def _batches(dataset: Any) -> Iterator[dict[str, Any]]:
    """Batches forever: each pass over ``dataset`` is one epoch (the loader moves on to the
    next when a pass ends); an empty pass ends it."""
    while True:
        empty = True
        for batch in dataset:
            empty = False
            yield batch
        if empty:
            return


def _is_feature(column: str) -> bool:
    return column != MASK and not column.endswith(("_mask", "_offsets"))


def _arrays(
    batch: Mapping[str, Any], features: Sequence[str], target: str, hours: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features (rows x columns, float32), target and the mask of real (not padding) rows.

    An hour column becomes two: the sine and cosine of the hour's angle on the clock, so that
    23:00 sits next to 00:00 and the scale is fixed (not learned from a batch that may hold
    one morning only)."""
    columns, clock = [], []
    for name in features:
        values = batch[name]
        if not isinstance(values, torch.Tensor) or values.dim() != 1:
            raise ConfigError(
                f"demo_model: feature {name!r} is not a number column; fix: leave it out of "
                "the model's columns or params.features"
            )
        if name in hours:
            hour = torch.remainder(values, _US_PER_DAY).to(torch.float64) / _US_PER_DAY
            clock += [torch.sin(2 * math.pi * hour), torch.cos(2 * math.pi * hour)]
        else:
            columns.append(values)
    y = batch[target].to(torch.float32)
    mask = batch.get(MASK)
    real = mask.to(torch.bool) if isinstance(mask, torch.Tensor) else torch.ones_like(y).bool()
    x = torch.stack([c.to(torch.float32) for c in (*columns, *clock)], dim=1)  # clock last
    return x, y, real


def _stats(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and spread along the rows; a spread of 0 (a constant column) counts as 1."""
    mean = values.mean(dim=0)
    std = values.std(dim=0) if values.shape[0] > 1 else torch.ones_like(mean)
    return mean, torch.where(std > 0, std, torch.ones_like(std))
