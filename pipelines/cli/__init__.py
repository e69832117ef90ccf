"""The ``thermocline`` command line: parses arguments, calls the Python API, prints the result.

One module per command group (``config``, ``dev``, ``ui``, ``datasets``, ``versions``,
``checks``, ``ingest``, ``quarantine``, ``pii``, ``quality``, ``erase``, ``tier``,
``maintain``, ``runs``, ``lineage``, ``train``, ``search``, ``demo``), each with a
``register(group)`` that adds its commands to :data:`cli`; :mod:`.output` holds how every
command prints (tables for people, ``--json`` for scripts) and how errors exit: a
:class:`~thermocline.catalog.errors.ThermoclineError` or a usage error prints one line on stderr
and exits 1, or 2 when the input was wrong (project file, arguments, unknown names); with
``--json`` the error is also one JSON object on stdout.

Startup stays fast (issue #18: ``--help`` and argument errors in well under 0.3 s): the command
modules import only click and light helpers at the top; the project file's models (pydantic,
pyarrow), rich, deltalake, DuckDB, pandas, dagster, Great Expectations and torch load inside the
commands that use them (tests check that ``thermocline --help`` and a usage error load no
third-party package but click).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from thermocline.pipelines.cli import (
    checks,
    config,
    datasets,
    demo,
    dev,
    erase,
    ingest,
    lineage,
    maintain,
    pii,
    quality,
    quarantine,
    runs,
    search,
    tier,
    train,
    ui,
    versions,
)
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import fit_to_stdout, one_line_errors, wants_json

__all__ = ["cli", "main"]


class _Thermocline(click.Group):
    """The root group: its ``main`` maps errors to one line and an exit code, so the console
    script and an in-process ``CliRunner`` see the same exits."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        given = list(sys.argv[1:] if args is None else args)
        with one_line_errors(as_json=wants_json(given)):
            code = super().main(given, prog_name, complete_var, standalone_mode=False, **extra)
        # Without standalone mode click returns the exit code of `--help` and `ctx.exit(n)`,
        # and a command's return value otherwise (ours return None: success).
        raise SystemExit(code if isinstance(code, int) else 0)


@click.group(cls=_Thermocline, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    help="Project file or folder (default: $THERMOCLINE_PROJECT, else ./thermocline.yaml).",
)
@click.pass_context
def cli(ctx: click.Context, project: str | None) -> None:
    """Thermocline: versioned, checked, PII-safe datasets for training."""
    fit_to_stdout()
    ctx.obj = Context(project)


for _group in (
    config,
    dev,
    ui,
    datasets,
    versions,
    checks,
    ingest,
    quarantine,
    pii,
    quality,
    erase,
    tier,
    maintain,
    runs,
    lineage,
    train,
    search,
    demo,
):
    _group.register(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``thermocline`` console script."""
    cli.main(args=argv, prog_name="thermocline")
