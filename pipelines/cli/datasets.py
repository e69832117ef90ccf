"""``thermocline datasets list``, ``describe``, ``history`` and ``diff``: what the lake holds."""

from __future__ import annotations

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import (
    json_option,
    jsonable,
    out,
    print_history,
    print_json,
    size,
    table,
)

__all__ = ["datasets", "describe", "diff", "history", "register"]


@click.group()
def datasets() -> None:
    """The datasets of the project and the lake."""


@datasets.command("list")
@json_option
@click.pass_obj
def datasets_list(ctx: Context, as_json: bool) -> None:
    """Every dataset: current version, files, size and rows."""
    from thermocline.datasets.tables.inspection import list_datasets

    summaries = list_datasets(ctx.catalog, ctx.project.datasets)
    if as_json:
        print_json(summaries)
        return
    rows = [
        (
            s.dataset,
            s.version if s.exists else "(no table yet)",
            s.files,
            size(s.size_bytes),
            s.rows,
            ", ".join(ctx.project.datasets[s.dataset].owners)
            if s.dataset in ctx.project.datasets
            else "",
        )
        for s in summaries
    ]
    table(
        f"datasets in {ctx.lake.uri}",
        ["dataset", "version", "files", "size", "rows", "owners"],
        rows,
    )


@click.command()
@click.argument("dataset")
@json_option
@click.pass_obj
def describe(ctx: Context, dataset: str, as_json: bool) -> None:
    """Schema, partitions, size, file count, current version, tags and owners of DATASET."""
    from thermocline.datasets.tables.inspection import describe as describe_dataset

    info = describe_dataset(ctx.catalog, ctx.dataset(dataset))
    spec = ctx.project.datasets.get(dataset)
    owners = spec.owners if spec else []
    if as_json:
        print_json(
            {**jsonable(info), "owners": owners, "description": spec.description if spec else ""}
        )
        return
    out.print(f"[bold]{dataset}[/bold]  {spec.description if spec else ''}")
    out.print(f"uri {info.uri}  version {info.version}  owners {', '.join(owners) or '-'}")
    out.print(
        f"{info.rows} rows in {info.files} files, {size(info.size_bytes)}, "
        f"{info.partitions} partition(s) by {', '.join(info.partition_by) or 'nothing'}"
    )
    if info.tags:
        out.print("tags: " + ", ".join(f"{t.name}@{t.version}" for t in info.tags))
    table("schema", ["column", "type"], info.schema)


@click.command()
@click.argument("dataset")
@click.option("--limit", type=int, default=None, help="Show the newest N versions (default 20).")
@click.option("--all", "show_all", is_flag=True, help="Show every version the log keeps.")
@json_option
@click.pass_obj
def history(ctx: Context, dataset: str, limit: int | None, show_all: bool, as_json: bool) -> None:
    """Versions of DATASET, newest first: when, what, rows, who and why (and vacuum ledgers).

    Shows the newest 20 unless --limit or --all says otherwise; reading a page of the log costs
    the same at 100 and 100,000 versions. --json writes one JSON array, an element at a time.
    """
    from thermocline.catalog.errors import InputError
    from thermocline.datasets.tables.history_pages import DEFAULT_PAGE, iter_history
    from thermocline.datasets.tables.log_reach import readable_from, retention_text
    from thermocline.datasets.tables.maintenance import vacuum_ledgers
    from thermocline.datasets.tables.versions import latest_version, open_table

    if show_all and limit is not None:
        raise InputError(
            "--limit and --all contradict each other; fix: give one of them",
            field="--limit",
            fix="give one of them",
        )
    name = ctx.dataset(dataset)
    latest = latest_version(ctx.lake, name)  # no log listing: a page costs the same at any age
    wanted = None if show_all else (DEFAULT_PAGE if limit is None else limit)
    commits = iter_history(ctx.lake, name, wanted, latest=latest)
    shown = print_history(dataset, commits, vacuum_ledgers(ctx.catalog, name), as_json)
    versions = latest + 1
    if not as_json and shown == wanted and versions > shown:
        out.print(
            f"the newest {shown} of {versions} versions; --limit N or --all shows more",
            markup=False,
        )
    oldest = readable_from(ctx.lake, name)
    if not as_json and oldest > 0:
        retention = retention_text(open_table(ctx.lake, name))  # the table's own property
        points = ctx.catalog.pinned_files.restore_points(name)
        past = sorted(v for v in points if v < oldest)
        kept = (
            f"; {len(past)} restore point{'s' if len(past) != 1 else ''} past it "
            "(history.restore_points), the oldest "
            f"version {past[0]}, committed {points[past[0]]:%Y-%m-%d %H:%M:%S} UTC: a time "
            "before the log reads the newest restore point at or before it"
            if past
            else ""
        )
        out.print(
            f"readable history starts at version {oldest}: log retention "
            f"({retention}, history.log_retention) removed the commits before it; "
            f"tagged and released versions stay readable{kept}",
            markup=False,
        )


@click.command()
@click.argument("dataset")
@click.argument("a")
@click.argument("b")
@click.option("--rows", "sample_rows", type=int, default=0, help="Show a sample of N rows.")
@json_option
@click.pass_obj
def diff(ctx: Context, dataset: str, a: str, b: str, sample_rows: int, as_json: bool) -> None:
    """What changed in DATASET from version A to B (versions, tags or times).

    B older than A shows the change going back (what a rollback from A to B would do).
    """
    from thermocline.datasets.tables.inspection import diff as diff_versions

    change = diff_versions(ctx.catalog, ctx.dataset(dataset), a, b, sample_rows=sample_rows)
    if as_json:
        print_json(
            {
                **jsonable(change),
                "rows_added": change.rows_added,
                "rows_removed": change.rows_removed,
                "backwards": change.backwards,
            }
        )
        return
    back = (
        f" (backwards: what going back from {change.from_version} to {change.to_version} changes)"
        if change.backwards
        else ""
    )
    out.print(
        f"{dataset}: version {change.from_version} -> {change.to_version}{back}: "
        f"+{change.rows_added} / -{change.rows_removed} rows, "
        f"files {change.files_from} -> {change.files_to}"
    )
    for label, columns in (
        ("added", change.columns_added),
        ("removed", change.columns_removed),
        ("changed", change.columns_changed),
    ):
        if columns:
            out.print(f"columns {label}: {', '.join(columns)}", markup=False)
    table(
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
            table(f"rows {label} (sample)", list(sample[0]), [list(r.values()) for r in sample])


def register(group: click.Group) -> None:
    """Add ``datasets`` and the per-dataset commands to the root command."""
    for command in (datasets, describe, history, diff):
        group.add_command(command)
