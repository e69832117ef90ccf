"""``thermocline runs [--dataset D] [--json]``: the training reads the loader recorded, newest
first: which run read which dataset version, its columns, filter, seed, world size and code
version.

The logic lives in :mod:`thermocline.datasets.lineage`; this module parses and prints.
"""

from __future__ import annotations

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json, table

__all__ = ["register", "runs"]

_SHORT_COMMIT = 12


@click.command()
@click.option("--dataset", default=None, metavar="D", help="Only the runs that read dataset D.")
@json_option
@click.pass_obj
def runs(ctx: Context, dataset: str | None, as_json: bool) -> None:
    """Training runs and the dataset versions they read (recorded by the loader when a run
    starts iterating), newest first."""
    from thermocline.datasets.lineage import training_runs

    if dataset is not None:
        ctx.dataset(dataset)
    found = training_runs(ctx.catalog, dataset)
    if as_json:
        print_json(found)
        return
    if not found:
        of = f" of {dataset}" if dataset is not None else ""
        out.print(f"no training run has read a version{of} yet", markup=False)
        return
    table(
        "training runs" + (f" of {dataset}" if dataset is not None else ""),
        ["run", "read", "columns", "filter", "seed", "world size", "code", "started", "user"],
        [
            (
                r.run_id,
                r.ref,
                ", ".join(r.columns),
                r.filter or "-",
                r.seed,
                r.world_size,
                (r.code_version or "-")[:_SHORT_COMMIT],
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.user,
            )
            for r in found
        ],
    )


def register(group: click.Group) -> None:
    group.add_command(runs)
