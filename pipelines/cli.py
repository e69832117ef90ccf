"""The ``thermocline`` command line: parses arguments, calls the Python API, prints the result.

Tables for people, ``--json`` for scripts; a :class:`ThermoclineError` prints one line on stderr
and exits 1, or 2 when the input was wrong (project file, arguments, unknown names).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from rich.console import Console
from rich.table import Table

from thermocline.catalog.config import Project, load_project
from thermocline.catalog.errors import InputError, ThermoclineError
from thermocline.catalog.lake import Lake

if TYPE_CHECKING:
    from thermocline.pipelines.devstack import StackInfo

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])
# Piped output (scripts, CI logs) gets wide lines rather than tables wrapped at 80 columns.
_out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class _Context:
    project_path: str | None
    _project: Project | None = None

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = load_project(self.project_path)
        return self._project

    @property
    def lake(self) -> Lake:
        return Lake.from_project(self.project)


def _json_option(command: _F) -> _F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    _out.print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    type=click.Path(dir_okay=True, path_type=str),
    default=None,
    help="Project file or folder (default: $THERMOCLINE_PROJECT, else ./thermocline.yaml).",
)
@click.pass_context
def cli(ctx: click.Context, project: str | None) -> None:
    """Thermocline: versioned, checked, PII-safe datasets for training."""
    ctx.obj = _Context(project)


# --- config ----------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Validate the project file or print its JSON schema."""


@config.command("schema")
def config_schema() -> None:
    """Print the JSON schema of thermocline.yaml (for editor completion and checks)."""
    _print_json(Project.model_json_schema(by_alias=True))


@config.command("check")
@_json_option
@click.pass_obj
def config_check(ctx: _Context, as_json: bool) -> None:
    """Validate the project file, including the environment variables it references."""
    project = ctx.project
    lake = ctx.lake
    if as_json:
        _print_json(
            {
                "ok": True,
                "file": project.path,
                "lake": lake.uri,
                "datasets": sorted(project.datasets),
            }
        )
        return
    _out.print(
        f"ok: {project.path}: lake {lake.uri}, {len(project.datasets)} dataset(s): "
        + ", ".join(sorted(project.datasets))
    )


# --- dev stack -------------------------------------------------------------------------------


@cli.group()
def dev() -> None:
    """Local services for development and tests: S3 (Ceph RGW) and Kafka (Tansu) on 127.0.0.1."""


@dev.command("up")
@click.option("--s3/--no-s3", default=True, help="Start the S3 server.")
@click.option("--kafka/--no-kafka", default=True, help="Start the Kafka broker.")
@click.option(
    "--s3-kind",
    type=click.Choice(["auto", "ceph", "moto"]),
    default=None,
    help="S3 server: Ceph RGW, or the moto fallback (default: $THERMOCLINE_DEV_S3, else auto).",
)
@_json_option
def dev_up(s3: bool, kafka: bool, s3_kind: str | None, as_json: bool) -> None:
    """Start the dev stack (idempotent: what already runs is left alone)."""
    from thermocline.pipelines import devstack

    choice = cast("devstack.S3Choice | None", s3_kind)
    info = devstack.up(s3=s3, kafka=kafka, s3_kind=choice, log=_err.print)
    _print_stack(info, as_json)


@dev.command("down")
@_json_option
def dev_down(as_json: bool) -> None:
    """Stop the dev stack's processes (by PID)."""
    from thermocline.pipelines import devstack

    stopped = devstack.down()
    if as_json:
        _print_json({"stopped": stopped})
    else:
        _out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@dev.command("status")
@_json_option
def dev_status(as_json: bool) -> None:
    """Say what runs where."""
    from thermocline.pipelines import devstack

    _print_stack(devstack.status(), as_json)


@dev.command("env")
def dev_env() -> None:
    """Print `export` lines pointing a shell at the stack: eval "$(thermocline dev env)"."""
    from thermocline.pipelines import devstack

    info = devstack.status()
    variables = dict(info.s3_storage_options()) if info.s3 and info.s3.running else {}
    if info.kafka and info.kafka.running:
        variables["THERMOCLINE_KAFKA_BOOTSTRAP"] = info.kafka.bootstrap_servers
    for key, value in variables.items():
        click.echo(f"export {key}={shlex.quote(value)}")


def _print_stack(info: StackInfo, as_json: bool) -> None:
    if as_json:
        _print_json(info.to_dict())
        return
    rows: list[tuple[str, ...]] = []
    if info.s3 is not None:
        s3 = info.s3
        state = "running" if s3.running else "stopped"
        rows.append(
            (
                "s3",
                s3.kind,
                state,
                f"{s3.endpoint_url} bucket {s3.bucket}",
                " ".join(map(str, s3.pids)),
            )
        )
    if info.kafka is not None:
        kafka = info.kafka
        state = "running" if kafka.running else "stopped"
        rows.append(("kafka", kafka.kind, state, kafka.bootstrap_servers, str(kafka.pid or "")))
    if not rows:
        _out.print(f"nothing was started from {info.state_dir}; run `thermocline dev up`")
        return
    _table(f"dev stack ({info.state_dir})", ["service", "kind", "state", "address", "pids"], rows)


# --- datasets --------------------------------------------------------------------------------


@cli.command()
@click.argument("dataset")
@click.option("--limit", type=int, default=None, help="Show only the newest N versions.")
@_json_option
@click.pass_obj
def history(ctx: _Context, dataset: str, limit: int | None, as_json: bool) -> None:
    """Versions of DATASET, newest first: when, what, rows, who and why."""
    from thermocline.datasets.tables import history as table_history

    ctx.project.dataset(dataset)
    commits = table_history(ctx.lake, dataset, limit)
    _print_history(dataset, commits, as_json)


def _print_history(dataset: str, commits: Sequence[Any], as_json: bool) -> None:
    if as_json:
        _print_json([asdict(c) for c in commits])
        return
    rows = [
        (
            c.version,
            c.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            c.operation,
            c.rows_added,
            c.user,
            c.reason,
        )
        for c in commits
    ]
    _table(
        f"history of {dataset}",
        ["version", "time (UTC)", "operation", "rows added", "who", "reason"],
        rows,
    )


@cli.command()
@click.option("--rows", type=int, default=5_000, show_default=True, help="Rides per batch.")
@click.pass_obj
def demo(ctx: _Context, rows: int) -> None:
    """Run the demo: write a new batch file of rides, ingest it into the lake, show history."""
    from thermocline.datasets.demo import add_demo_batch
    from thermocline.datasets.tables import history as table_history

    lake = ctx.lake
    path, version = add_demo_batch(ctx.project, lake, rows)
    _out.print(f"wrote {rows} rides to {path}")
    _out.print(f"ingested into {lake.table_uri('rides')} as version {version}\n")
    _print_history("rides", table_history(lake, "rides"), as_json=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``thermocline`` console script."""
    try:
        cli.main(args=argv, prog_name="thermocline", standalone_mode=False)
    except click.exceptions.Abort:
        _err.print("aborted")
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except InputError as error:
        _err.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(2)
    except ThermoclineError as error:
        _err.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(1)
