"""The ``thermocline`` command line: parses arguments, calls the Python API, prints the result.

Tables for people, ``--json`` for scripts; a :class:`ThermoclineError` prints one line on stderr
and exits 1, or 2 when the input was wrong (project file, arguments, unknown names).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from rich.console import Console
from rich.markup import escape
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
        table.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
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
    if info.registry and info.registry.running:
        variables["THERMOCLINE_SCHEMA_REGISTRY_URL"] = info.registry.url
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
    if info.registry is not None:
        schemas = info.registry
        state = "running" if schemas.running else "stopped"
        rows.append(("registry", "thermocline", state, schemas.url, str(schemas.pid or "")))
    if not rows:
        _out.print(f"nothing was started from {info.state_dir}; run `thermocline dev up`")
        return
    _table(f"dev stack ({info.state_dir})", ["service", "kind", "state", "address", "pids"], rows)


# --- Dagster UI ------------------------------------------------------------------------------


@cli.group()
def ui() -> None:
    """The Dagster UI (webserver and daemon) for this project, on 127.0.0.1."""


@ui.command("up")
@click.option("--port", type=int, default=3000, show_default=True)
@click.pass_obj
def ui_up(ctx: _Context, port: int) -> None:
    """Start `dagster dev` in the background (idempotent) and print where it listens."""
    from thermocline.pipelines.ui import ui_up as start

    with _err.status("starting dagster dev (about 10 s)..."):
        info = start(ctx.project, port)
    _out.print(
        f"Dagster UI at {info.url} (pid {info.pid}; log {info.log}); "
        "stop it with `thermocline ui down`"
    )


@ui.command("down")
@click.pass_obj
def ui_down(ctx: _Context) -> None:
    """Stop `dagster dev` by its PID."""
    from thermocline.pipelines.ui import ui_down as stop

    pid = stop(ctx.project)
    _out.print(f"stopped dagster dev (pid {pid})" if pid else "dagster dev was not running")


@ui.command("status")
@_json_option
@click.pass_obj
def ui_status(ctx: _Context, as_json: bool) -> None:
    """Whether `dagster dev` runs, and where."""
    from thermocline.pipelines.ui import ui_status as status

    info = status(ctx.project)
    if as_json:
        _print_json({**asdict(info), "running": info.running})
    else:
        _out.print(f"running at {info.url} (pid {info.pid})" if info.running else "not running")


# --- datasets and versions -------------------------------------------------------------------


def _dataset(ctx: _Context, dataset: str) -> str:
    """``dataset`` if the project declares it or the lake holds it, else a one-line error."""
    from thermocline.catalog.errors import DatasetNotFoundError
    from thermocline.datasets.tables.versions import open_table

    if dataset not in ctx.project.datasets:
        try:
            open_table(ctx.lake, dataset)
        except DatasetNotFoundError:
            ctx.project.dataset(dataset)  # raises, listing the datasets there are
    return dataset


def _split_ref(text: str) -> tuple[str, str]:
    """``DATASET@VERSION`` (or ``@TAG``, ``@TIME``) -> (dataset, ref)."""
    dataset, at, ref = text.partition("@")
    if not at or not dataset or not ref:
        raise InputError(f"{text!r}: write DATASET@VERSION, e.g. rides@3")
    return dataset, ref


@cli.group()
def datasets() -> None:
    """The datasets of the project and the lake."""


@datasets.command("list")
@_json_option
@click.pass_obj
def datasets_list(ctx: _Context, as_json: bool) -> None:
    """Every dataset: current version, files, size and rows."""
    from thermocline.datasets.tables.inspection import list_datasets

    summaries = list_datasets(ctx.lake, ctx.project.datasets)
    if as_json:
        _print_json([asdict(s) for s in summaries])
        return
    rows = [
        (
            s.dataset,
            s.version if s.exists else "(no table yet)",
            s.files,
            _size(s.size_bytes),
            s.rows,
            ", ".join(ctx.project.datasets[s.dataset].owners)
            if s.dataset in ctx.project.datasets
            else "",
        )
        for s in summaries
    ]
    _table(
        f"datasets in {ctx.lake.uri}",
        ["dataset", "version", "files", "size", "rows", "owners"],
        rows,
    )


@cli.command()
@click.argument("dataset")
@_json_option
@click.pass_obj
def describe(ctx: _Context, dataset: str, as_json: bool) -> None:
    """Schema, partitions, size, file count, current version, tags and owners of DATASET."""
    from thermocline.datasets.tables.inspection import describe as describe_dataset

    info = describe_dataset(ctx.lake, _dataset(ctx, dataset))
    spec = ctx.project.datasets.get(dataset)
    owners = spec.owners if spec else []
    if as_json:
        _print_json(
            {**asdict(info), "owners": owners, "description": spec.description if spec else ""}
        )
        return
    _out.print(f"[bold]{dataset}[/bold]  {spec.description if spec else ''}")
    _out.print(f"uri {info.uri}  version {info.version}  owners {', '.join(owners) or '-'}")
    _out.print(
        f"{info.rows} rows in {info.files} files, {_size(info.size_bytes)}, "
        f"{info.partitions} partition(s) by {', '.join(info.partition_by) or 'nothing'}"
    )
    if info.tags:
        _out.print("tags: " + ", ".join(f"{t.name}@{t.version}" for t in info.tags))
    _table("schema", ["column", "type"], info.schema)


@cli.command()
@click.argument("dataset")
@click.option("--limit", type=int, default=None, help="Show only the newest N versions.")
@_json_option
@click.pass_obj
def history(ctx: _Context, dataset: str, limit: int | None, as_json: bool) -> None:
    """Versions of DATASET, newest first: when, what, rows, who and why (and vacuum ledgers)."""
    from thermocline.catalog.catalog import Catalog
    from thermocline.datasets.tables.versions import history as table_history

    commits = table_history(ctx.lake, _dataset(ctx, dataset), limit)
    ledgers = {
        e.version: list(e.details.get("files", []))
        for e in Catalog(ctx.lake).events(dataset, kinds=["vacuum"])
        if e.details.get("files")  # a vacuum that removed nothing made no VACUUM commit
    }
    _print_history(dataset, commits, ledgers, as_json)


def _print_history(
    dataset: str, commits: Sequence[Any], ledgers: dict[int | None, list[str]], as_json: bool
) -> None:
    if as_json:
        _print_json(
            [
                {
                    **asdict(c),
                    **({"vacuumed_files": ledgers[c.version]} if c.version in ledgers else {}),
                }
                for c in commits
            ]
        )
        return
    rows = [
        (
            c.version,
            c.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            c.operation,
            c.rows_added,
            c.rows_removed,
            c.files_added,
            c.files_removed,
            c.user,
            c.reason
            or (
                f"ledger: {len(ledgers[c.version])} file(s) removed"
                if c.version in ledgers
                else None
            ),
        )
        for c in commits
    ]
    _table(
        f"history of {dataset}",
        [
            "version",
            "time (UTC)",
            "operation",
            "rows +",
            "rows -",
            "files +",
            "files -",
            "who",
            "reason",
        ],
        rows,
    )


@cli.command()
@click.argument("dataset")
@click.argument("a")
@click.argument("b")
@click.option("--rows", "sample_rows", type=int, default=0, help="Show a sample of N rows.")
@_json_option
@click.pass_obj
def diff(ctx: _Context, dataset: str, a: str, b: str, sample_rows: int, as_json: bool) -> None:
    """What changed in DATASET from version A to B (versions, tags or times)."""
    from thermocline.datasets.tables.inspection import diff as diff_versions

    change = diff_versions(ctx.lake, _dataset(ctx, dataset), a, b, sample_rows=sample_rows)
    if as_json:
        _print_json(
            {**asdict(change), "rows_added": change.rows_added, "rows_removed": change.rows_removed}
        )
        return
    _out.print(
        f"{dataset}: version {change.from_version} -> {change.to_version}: "
        f"+{change.rows_added} / -{change.rows_removed} rows, "
        f"files {change.files_from} -> {change.files_to}"
    )
    for label, columns in (
        ("added", change.columns_added),
        ("removed", change.columns_removed),
        ("changed", change.columns_changed),
    ):
        if columns:
            _out.print(f"columns {label}: {', '.join(columns)}", markup=False)
    _table(
        "per partition",
        ["partition", "rows +", "rows -", "files +", "files -"],
        [
            (p.partition, p.rows_added, p.rows_removed, p.files_added, p.files_removed)
            for p in change.partitions
        ],
    )
    for label, sample in (
        ("added", change.rows_added_sample),
        ("removed", change.rows_removed_sample),
    ):
        if sample:
            _table(f"rows {label} (sample)", list(sample[0]), [list(r.values()) for r in sample])


@cli.command()
@click.argument("ref", metavar="DATASET@VERSION")
@click.argument("name")
@click.option("--reason", default=None, help="Why, for the event log.")
@_json_option
@click.pass_obj
def tag(ctx: _Context, ref: str, name: str, reason: str | None, as_json: bool) -> None:
    """Point tag NAME at DATASET@VERSION (moving it if it exists)."""
    from thermocline.catalog.catalog import Catalog
    from thermocline.datasets.tables.versions import resolve_version

    dataset, at = _split_ref(ref)
    version = resolve_version(ctx.lake, _dataset(ctx, dataset), at)
    moved = Catalog(ctx.lake).set_tag(name, dataset, version, reason=reason)
    if as_json:
        _print_json(asdict(moved))
    else:
        _out.print(f"tag {name} -> {dataset}@{version} (move {moved.seq})")


@cli.command()
@click.argument("dataset", required=False)
@_json_option
@click.pass_obj
def tags(ctx: _Context, dataset: str | None, as_json: bool) -> None:
    """Current tags, of DATASET or of every dataset."""
    from thermocline.catalog.catalog import Catalog

    found = Catalog(ctx.lake).tags(dataset)
    if as_json:
        _print_json([asdict(t) for t in found])
        return
    _table(
        "tags",
        ["tag", "dataset", "version", "moves", "when", "who", "reason"],
        [
            (
                t.name,
                t.dataset,
                t.version,
                t.seq,
                t.at.strftime("%Y-%m-%d %H:%M:%S"),
                t.user,
                t.reason,
            )
            for t in found
        ],
    )


@cli.group()
def release() -> None:
    """Releases: named sets of dataset versions, created once, rolled back together."""


@release.command("create")
@click.argument("name")
@click.argument("refs", nargs=-1, required=True, metavar="DATASET@VERSION...")
@click.option("--reason", default=None, help="Why, for the event log.")
@_json_option
@click.pass_obj
def release_create(
    ctx: _Context, name: str, refs: tuple[str, ...], reason: str | None, as_json: bool
) -> None:
    """Record release NAME = the given dataset versions."""
    from thermocline.catalog.catalog import Catalog
    from thermocline.datasets.tables.versions import resolve_version

    versions = {}
    for ref in refs:
        dataset, at = _split_ref(ref)
        versions[dataset] = resolve_version(ctx.lake, _dataset(ctx, dataset), at)
    created = Catalog(ctx.lake).create_release(name, versions, reason)
    if as_json:
        _print_json(asdict(created))
    else:
        _out.print(f"release {name}: " + ", ".join(f"{d}@{v}" for d, v in versions.items()))


@release.command("list")
@_json_option
@click.pass_obj
def release_list(ctx: _Context, as_json: bool) -> None:
    """Every release and its dataset versions."""
    from thermocline.catalog.catalog import Catalog

    found = Catalog(ctx.lake).releases()
    if as_json:
        _print_json([asdict(r) for r in found])
        return
    _table(
        "releases",
        ["release", "datasets", "when", "who", "reason"],
        [
            (
                r.name,
                ", ".join(f"{d}@{v}" for d, v in r.versions.items()),
                r.at.strftime("%Y-%m-%d %H:%M:%S"),
                r.user,
                r.reason,
            )
            for r in found
        ],
    )


@release.command("rollback")
@click.argument("name")
@click.option("--reason", default=None, help="Why, for the event log.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_json_option
@click.pass_obj
def release_rollback(
    ctx: _Context, name: str, reason: str | None, yes: bool, as_json: bool
) -> None:
    """Restore every dataset of release NAME to its version (resumes after a crash)."""
    from rich.progress import Progress

    from thermocline.catalog.catalog import Catalog
    from thermocline.datasets.tables.rollback import release_rollback as rollback_release

    target = Catalog(ctx.lake).release(name)
    if not yes:
        click.confirm(
            f"roll back {', '.join(f'{d}@{v}' for d, v in target.versions.items())}?", abort=True
        )
    with Progress(console=_err, transient=True, disable=as_json) as progress:
        task = progress.add_task(f"release {name}", total=len(target.versions))
        result = rollback_release(
            ctx.lake, name, reason=reason, on_restored=lambda _r: progress.advance(task)
        )
    if as_json:
        _print_json(asdict(result))
        return
    verb = "resumed and rolled back" if result.resumed else "rolled back"
    _out.print(
        f"{verb} release {name}: "
        + (
            ", ".join(
                f"{r.dataset}@{r.target_version} (now version {r.new_version})"
                for r in result.rolled_back
            )
            or "every dataset was done already"
        )
    )


@cli.command()
@click.argument("dataset")
@click.option("--to", "to", required=True, help="Version number, tag, or ISO 8601 time.")
@click.option("--dry-run", is_flag=True, help="Check and show the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default=None, help="Why, for the event log.")
@_json_option
@click.pass_obj
def rollback(
    ctx: _Context,
    dataset: str,
    to: str,
    dry_run: bool,
    yes: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Restore DATASET to an earlier version as a new version (itself reversible)."""
    from thermocline.datasets.tables.rollback import RollbackResult
    from thermocline.datasets.tables.rollback import rollback as rollback_dataset

    def summary(r: RollbackResult) -> str:
        return (
            f"{dataset}: version {r.from_version} -> contents of version "
            f"{r.target_version} (+{r.files_added} / -{r.files_removed} files)"
        )

    _dataset(ctx, dataset)
    if dry_run or not yes:
        plan = rollback_dataset(ctx.lake, dataset, to, dry_run=True)
        if dry_run or plan.target_version == plan.from_version:
            if as_json:
                _print_json(asdict(plan))
            else:
                _out.print(("dry run: " if dry_run else "already there: ") + summary(plan))
            return
        click.confirm(f"roll back {summary(plan)}?", abort=True)
    result = rollback_dataset(ctx.lake, dataset, to, reason=reason)
    if as_json:
        _print_json(asdict(result))
    elif result.new_version is None:
        _out.print("already there: " + summary(result))
    else:
        _out.print(f"rolled back {summary(result)}; new version {result.new_version}")


@cli.command()
@click.argument("dataset")
@click.option(
    "--retention-hours",
    type=float,
    default=168,
    show_default=True,
    help="Keep files that versions of the last N hours need.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--reason", default=None, help="Why, for the event log.")
@_json_option
@click.pass_obj
def vacuum(
    ctx: _Context,
    dataset: str,
    retention_hours: float,
    dry_run: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Delete files no recent, tagged or released version of DATASET needs."""
    from thermocline.datasets.tables.maintenance import vacuum as vacuum_dataset

    with _err.status(f"vacuuming {dataset}..."):
        result = vacuum_dataset(
            ctx.lake,
            _dataset(ctx, dataset),
            retention_hours=retention_hours,
            dry_run=dry_run,
            reason=reason,
        )
    if as_json:
        _print_json(asdict(result))
        return
    verb = "would remove" if dry_run else "removed"
    kept = ", ".join(map(str, result.kept_versions)) or "none"
    _out.print(
        f"{verb} {len(result.removed)} file(s) of {dataset}; "
        f"tagged or released versions kept: {kept}"
    )
    for path in result.removed[:20]:
        _out.print(f"  {path}", markup=False)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@cli.group()
def ingest() -> None:
    """Load data into a dataset: from its batch source, or from its Kafka topic."""


@ingest.command("batch")
@click.argument("dataset")
@click.option("--partition", default=None, help="Recompute and replace this partition (a day).")
@_json_option
@click.pass_obj
def ingest_batch(ctx: _Context, dataset: str, partition: str | None, as_json: bool) -> None:
    """Load what is new in DATASET's batch source: stage, check, then publish or quarantine."""
    from thermocline.datasets.ingest.run import ingest as ingest_dataset

    outcome = ingest_dataset(ctx.project, ctx.lake, dataset, partition=partition)
    _print_outcome(outcome, as_json)


@ingest.command("kafka")
@click.argument("dataset")
@click.option("--until-caught-up", is_flag=True, help="Stop at the end of every partition.")
@click.option("--group", default=None, help="Consumer group (default thermocline-DATASET).")
@click.option(
    "--max-latency",
    type=float,
    default=1.0,
    show_default=True,
    help="Publish at least this often (seconds) while records arrive.",
)
@click.option(
    "--dagster/--no-dagster",
    default=True,
    show_default=True,
    help="Report each publish to the project's Dagster instance (what `thermocline ui` shows).",
)
@click.pass_obj
def ingest_kafka(
    ctx: _Context,
    dataset: str,
    until_caught_up: bool,
    group: str | None,
    max_latency: float,
    dagster: bool,
) -> None:
    """Consume DATASET's topic exactly once into its table until stopped (SIGTERM or Ctrl-C
    finish and publish the current batch first)."""
    reporting = _dagster_reporter(ctx.project, dataset) if dagster else contextlib.nullcontext()
    with reporting as to_dagster:
        _ingest_kafka(ctx, dataset, until_caught_up, group, max_latency, to_dagster)


def _ingest_kafka(
    ctx: _Context,
    dataset: str,
    until_caught_up: bool,
    group: str | None,
    max_latency: float,
    to_dagster: Callable[[Any], None] | None,
) -> None:
    import signal
    import time

    from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester

    started = time.monotonic()
    totals = {"rows": 0, "dead": 0, "batches": 0}

    def report(batch: BatchReport) -> None:
        if to_dagster is not None:
            to_dagster(batch)
        totals["rows"] += batch.published
        totals["dead"] += batch.dead
        totals["batches"] += 1
        rate = totals["rows"] / max(time.monotonic() - started, 1e-9)
        _err.print(
            f"\r{dataset}: {totals['rows']} rows, {totals['dead']} dead letters, "
            f"{totals['batches']} versions, {rate:,.0f} rows/s, lag {batch.lag}",
            end="",
            markup=False,
        )

    ingester = KafkaIngester(
        ctx.project, ctx.lake, dataset, group_id=group, max_latency_s=max_latency, on_batch=report
    )
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: ingester.stop())
    ingester.run(until_caught_up=until_caught_up)
    _err.print("")
    _out.print(
        f"{dataset}: published {totals['rows']} rows and {totals['dead']} dead letters "
        f"in {totals['batches']} versions"
    )


@contextlib.contextmanager
def _dagster_reporter(project: Project, dataset: str) -> Iterator[Callable[[Any], None]]:
    from thermocline.pipelines.streaming import DagsterReporter
    from thermocline.pipelines.ui import dagster_instance

    with dagster_instance(project) as instance:
        yield DagsterReporter(instance, dataset)


def _print_outcome(outcome: Any, as_json: bool) -> None:
    if as_json:
        _print_json(asdict(outcome))
    else:
        for check in outcome.checks:
            mark = "ok  " if check.passed else ("FAIL" if check.severity == "error" else "warn")
            _out.print(f"  {mark} {check.name}: {check.message}", markup=False)
        if outcome.status == "published":
            _out.print(
                f"published {outcome.rows} rows of {outcome.dataset} as version "
                f"{outcome.version} ({outcome.description})"
            )
        elif outcome.status == "quarantined":
            _out.print(
                f"quarantined {outcome.rows} rows of {outcome.dataset} in "
                f"{outcome.quarantine_path}; nothing published"
            )
        else:
            _out.print(f"{outcome.dataset}: {outcome.description}")
    if outcome.status == "quarantined":
        sys.exit(1)


@cli.command()
@click.option("--rows", type=int, default=5_000, show_default=True, help="Rides per batch.")
@click.option(
    "--events",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also produce this many ride events into Kafka and ingest them.",
)
@click.pass_obj
def demo(ctx: _Context, rows: int, events: int) -> None:
    """Run the demo: a new batch file of rides, ingested by a Dagster run; then the history.
    With --events, ride events also go through the dev Kafka broker into `ride_events`."""
    from thermocline.datasets.demo import DEMO_DATASET
    from thermocline.datasets.tables.versions import history as table_history
    from thermocline.pipelines.demo import run_demo

    with _err.status("materializing the rides asset with Dagster..."):
        path, result = run_demo(ctx.project, rows)
    _out.print(f"wrote {rows} rides to {path}")
    for check in result.get_asset_check_evaluations():
        mark = "ok  " if check.passed else "FAIL"
        _out.print(f"  {mark} {check.check_name}: {check.description}", markup=False)
    published = result.get_asset_materialization_events()
    if published:
        version = published[0].materialization.metadata["delta/version"].value
        _out.print(
            f"Dagster run {result.run_id[:8]} published version {version} of {DEMO_DATASET}\n"
        )
    elif result.success:
        _out.print(f"Dagster run {result.run_id[:8]}: nothing new to publish\n")
    _print_history(DEMO_DATASET, table_history(ctx.lake, DEMO_DATASET), {}, as_json=False)
    _out.print(
        "\nSee it in the Dagster UI: `.venv/bin/thermocline ui up`, then open "
        "http://127.0.0.1:3000/assets: the rides asset, its checks, this run and the "
        "table's metadata (schema, row count, Delta version, preview). Stop it with "
        "`.venv/bin/thermocline ui down`."
    )
    if not result.success:
        raise ThermoclineError(f"the Dagster run {result.run_id[:8]} failed; see the output above")
    if events:
        _event_demo(ctx, events)


def _event_demo(ctx: _Context, events: int) -> None:
    from thermocline.datasets.demo import DEMO_EVENTS_DATASET
    from thermocline.datasets.ingest.dead_letters import dead_letter_table
    from thermocline.datasets.tables.versions import history as table_history
    from thermocline.pipelines.demo import run_event_demo

    with _err.status(f"producing {events} ride events into Kafka and ingesting them..."):
        outcome = run_event_demo(ctx.project, ctx.lake, events)
    if outcome.restarted:
        _out.print(
            "(the dev broker had restarted and lost its topics, so ride_events started afresh)"
        )
    reports = outcome.reports
    _out.print(
        f"\nproduced {outcome.produced} ride events ({outcome.malformed} malformed) into topic "
        f"{outcome.topic}; ingested exactly once: {sum(r.published for r in reports)} rows "
        f"and {sum(r.dead for r in reports)} dead letters in {len(reports)} micro-batch(es)"
    )
    for name in (DEMO_EVENTS_DATASET, dead_letter_table(DEMO_EVENTS_DATASET)):
        _print_history(name, table_history(ctx.lake, name, limit=3), {}, as_json=False)
    _out.print(
        "The Dagster UI shows each micro-batch as a materialization of ride_events, with its "
        "offsets, lag and checks."
    )


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
