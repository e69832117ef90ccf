"""``thermocline quality suite init``: a starter Great Expectations suite for a dataset.

The logic lives in :mod:`thermocline.datasets.tables.suite_profile` (read a bounded sample of
the latest version, profile it, write the file); this module parses and prints.

    thermocline quality suite init rides
    thermocline quality suite init rides --output checks/rides.json --force
"""

from __future__ import annotations

from pathlib import Path

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json

__all__ = ["quality", "register"]


@click.group()
def quality() -> None:
    """Data quality: Great Expectations suites."""


@quality.group("suite")
def suite() -> None:
    """Great Expectations suites (quality.suite in the project file)."""


@suite.command("init")
@click.argument("dataset")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the suite (default: suites/DATASET.json next to the project file).",
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    help="Rows to profile at most (default 100000; a bigger table is sampled).",
)
@json_option
@click.pass_obj
def init_command(
    ctx: Context, dataset: str, output: Path | None, force: bool, sample: int | None, as_json: bool
) -> None:
    """Write a starter suite profiled from the latest version of DATASET: per column its type,
    null fraction, numeric range and (for few distinct strings) its values, each a `warn`
    expectation for you to edit."""
    from thermocline.datasets.tables.suite_profile import DEFAULT_SAMPLE_ROWS, init_suite

    ctx.dataset(dataset)
    root = ctx.project.root
    path = output if output is not None else root / "suites" / f"{dataset}.json"
    written = init_suite(
        ctx.catalog,
        dataset,
        path,
        force=force,
        sample_rows=sample if sample is not None else DEFAULT_SAMPLE_ROWS,
    )
    shown = _relative(written.path, root)
    if as_json:
        print_json(
            {
                "path": str(written.path),
                "suite": shown,
                "dataset": dataset,
                "version": written.version,
                "rows_read": written.rows_read,
                "rows_total": written.rows_total,
                "expectations": written.expectations,
            }
        )
        return
    sampled = (
        f"{written.rows_read} of {written.rows_total} rows sampled"
        if written.rows_read < written.rows_total
        else f"{written.rows_read} rows"
    )
    out.print(
        f"wrote {written.path}: {written.expectations} expectation(s) from {dataset} version "
        f"{written.version} ({sampled}), all severity warn",
        markup=False,
    )
    out.print(
        f"next: edit it (meta.severity: error blocks publishing), then add to datasets.{dataset} "
        f"in {ctx.project.path or 'thermocline.yaml'}:  quality: {{suite: {shown}}}",
        markup=False,
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def register(group: click.Group) -> None:
    """Add ``quality`` to the root command."""
    group.add_command(quality)
