"""``thermocline ui``: the Dagster UI (webserver and daemon) for this project, on 127.0.0.1."""

from __future__ import annotations

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, json_option, jsonable, out, print_json

__all__ = ["register", "ui"]


@click.group()
def ui() -> None:
    """The Dagster UI (webserver and daemon) for this project, on 127.0.0.1."""


@ui.command("up")
@click.option("--port", type=int, default=3000, show_default=True)
@click.pass_obj
def ui_up(ctx: Context, port: int) -> None:
    """Start `dagster dev` in the background (idempotent) and print where it listens."""
    from thermocline.pipelines.ui import ui_up as start

    with err.status("starting dagster dev (about 10 s)..."):
        info = start(ctx.project, port)
    out.print(
        f"Dagster UI at {info.url} (pid {info.pid}; log {info.log}); "
        "stop it with `thermocline ui down`"
    )


@ui.command("down")
@click.pass_obj
def ui_down(ctx: Context) -> None:
    """Stop `dagster dev` by its PID."""
    from thermocline.pipelines.ui import ui_down as stop

    pid = stop(ctx.project)
    out.print(f"stopped dagster dev (pid {pid})" if pid else "dagster dev was not running")


@ui.command("status")
@json_option
@click.pass_obj
def ui_status(ctx: Context, as_json: bool) -> None:
    """Whether `dagster dev` runs, and where."""
    from thermocline.pipelines.ui import ui_status as status

    info = status(ctx.project)
    if as_json:
        print_json({**jsonable(info), "running": info.running})
    else:
        out.print(f"running at {info.url} (pid {info.pid})" if info.running else "not running")


def register(group: click.Group) -> None:
    """Add ``ui`` to the root command."""
    group.add_command(ui)
