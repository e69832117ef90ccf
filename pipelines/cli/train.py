"""``thermocline train MODEL [--version V] [--run ID] [--json]``: train a model of the project
file on a pinned version of its dataset, tag that version, and print what it trained on.

The logic lives in :mod:`thermocline.datasets.training.models`; this module parses and prints
(torch is imported only when the command runs).
"""

from __future__ import annotations

import click

from thermocline.catalog.errors import InputError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, jsonable, out, print_json

__all__ = ["register", "train"]


@click.command()
@click.argument("model")
@click.option(
    "--version",
    type=click.IntRange(min=0),
    default=None,
    metavar="V",
    help="Train on version V of the model's dataset (default: its latest).",
)
@click.option(
    "--run",
    "run_id",
    default=None,
    metavar="ID",
    help="The run id the training read is recorded under (default: a new one).",
)
@json_option
@click.pass_obj
def train(ctx: Context, model: str, version: int | None, run_id: str | None, as_json: bool) -> None:
    """Train MODEL (under models: in the project file) on one version of its dataset, record
    the read as a training run, and tag that version with the model's tag. Example:
    `thermocline train ride_fare_model`."""
    from thermocline.datasets.training.models import model_spec, train_model

    if run_id is not None and (not run_id.strip() or run_id != run_id.strip()):
        raise InputError(
            f"--run {run_id!r} is blank or has blanks around it; pass a run id such as "
            "fare-2026-11-01, or leave --run out for a new one",
            field="--run",
        )
    model_spec(ctx.project, model)  # an unknown model fails before the lake is opened
    trained = train_model(ctx.project, ctx.catalog, model, run=run_id, version=version)
    if as_json:
        print_json({"ref": trained.ref, **jsonable(trained)})
        return
    metrics = "  ".join(f"{name}={value:.6g}" for name, value in trained.metrics.items())
    out.print(
        f"trained {trained.model} on {trained.ref} in run {trained.run_id}\n"
        f"metrics: {metrics or '(none)'}\n"
        f"tagged {trained.dataset}@{trained.tag} -> version {trained.version}",
        markup=False,
    )


def register(group: click.Group) -> None:
    group.add_command(train)
