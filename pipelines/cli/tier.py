"""``thermocline tier plan | apply | restore | report``: storage tiers chosen from the Delta log.

``plan`` shows which files the dataset's tiering policy would move, from hot to warm to cold
(by partition age) and to archive (files only a tag or release still needs), and which
partitions are compacted on the way (read-only); ``apply`` compacts and moves them (storage
classes on S3, logical tiers on a local lake) with a progress bar; ``restore`` brings an
archived version back to a readable tier; ``report`` shows bytes, files and monthly cost per
tier and what the policy saves against keeping everything hot.

The logic lives in :mod:`thermocline.datasets.tables.tier_plan` and
:mod:`~thermocline.datasets.tables.tier_report` (pure),
:mod:`~thermocline.datasets.tables.tier_facts` (the log and the pins) and
:mod:`~thermocline.datasets.tables.tier_apply` (the moves); this module parses and prints.

    thermocline tier plan rides
    thermocline tier plan rides --now 2027-06-01 --json
    thermocline tier apply rides --dry-run
    thermocline tier restore rides@golden
    thermocline tier report
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import (
    err,
    json_option,
    jsonable,
    out,
    print_json,
    size,
    table,
)

if TYPE_CHECKING:
    from thermocline.catalog.config import TieringPolicy
    from thermocline.datasets.tables.tier_apply import ApplyResult
    from thermocline.datasets.tables.tier_moves import Progress
    from thermocline.datasets.tables.tier_plan import TierPlan
    from thermocline.datasets.tables.tier_report import TierReport

__all__ = ["print_tier_summary", "register", "tier"]


@click.group()
def tier() -> None:
    """Hot, warm, cold: storage tiers chosen from the Delta log."""


@tier.command("plan")
@click.argument("dataset")
@click.option(
    "--now",
    "at",
    default=None,
    metavar="ISO",
    help="Plan as of this time (ISO 8601, UTC if naive) instead of now: see what will move.",
)
@click.option(
    "--show", default=20, show_default=True, metavar="N", help="Moves and held files listed."
)
@json_option
@click.pass_obj
def plan(ctx: Context, dataset: str, at: str | None, show: int, as_json: bool) -> None:
    """The tier each data file of DATASET belongs in under its `tiering:` policy, and the
    moves that would get it there: files and bytes per tier now and after. Moves nothing."""
    from thermocline.datasets.tables.tier_facts import plan_dataset

    now = _now(at)
    policy = _policy(ctx, dataset)
    found = plan_dataset(ctx.catalog, dataset, policy, now=now)
    if as_json:
        print_json({"dataset": dataset, "policy": policy.model_dump(), **jsonable(found)})
    else:
        _print_plan(dataset, policy, found, max(show, 0))


def _print_plan(dataset: str, policy: TieringPolicy, found: TierPlan, show: int) -> None:
    cold = f"cold after {policy.cold_after_days}" if policy.cold_after_days else "never cold"
    table(
        f"tier plan of {dataset} at {found.now:%Y-%m-%d %H:%M} UTC "
        f"(warm after {policy.warm_after_days} days, {cold})",
        ["tier", "files now", "size now", "files after", "size after"],
        [
            (
                tier_name,
                found.before[tier_name].files,
                size(found.before[tier_name].bytes),
                found.after[tier_name].files,
                size(found.after[tier_name].bytes),
            )
            for tier_name in found.before
        ],
    )
    if found.moves:
        more = len(found.moves) - show
        table(
            f"{len(found.moves)} move(s), {size(found.moved_bytes)}"
            + (f" (the first {show})" if more > 0 else ""),
            ["file", "from", "to", "size", "why"],
            [
                (m.path, m.source, m.target, size(m.size_bytes), m.reason)
                for m in found.moves[:show]
            ],
        )
        if more > 0:
            out.print(f"... and {more} more move(s) (--show N, or --json for all)", markup=False)
    else:
        out.print("no moves: every file is in its tier", markup=False)
    _print_compactions(found, show)
    if found.held:
        table(
            f"{len(found.held)} file(s) left where they are",
            ["file", "tier", "wanted", "size", "why"],
            [
                (h.path, h.tier, h.wanted or "-", size(h.size_bytes), h.reason)
                for h in found.held[:show]
            ],
        )
    out.print("plan only: nothing was moved", markup=False)


def _print_compactions(found: TierPlan, show: int) -> None:
    if not found.compactions:
        return
    more = len(found.compactions) - show
    table(
        f"{len(found.compactions)} partition(s) compacted first"
        + (f" (the first {show})" if more > 0 else ""),
        ["partition", "files", "size", "then to"],
        [
            (c.partition, len(c.paths), size(c.size_bytes), c.target)
            for c in found.compactions[:show]
        ],
    )


@tier.command("apply")
@click.argument("dataset")
@click.option(
    "--now",
    "at",
    default=None,
    metavar="ISO",
    help="Apply the policy as of this time (ISO 8601, UTC if naive) instead of now.",
)
@click.option("--dry-run", is_flag=True, help="Show what would move; change nothing.")
@json_option
@click.pass_obj
def apply(ctx: Context, dataset: str, at: str | None, dry_run: bool, as_json: bool) -> None:
    """Compact and recompress the partitions that leave hot, then move every data file of
    DATASET to the tier its `tiering:` policy asks for (an S3 storage class, copied in place;
    a logical tier on a local lake), each move recorded in the catalog. Safe to interrupt: a
    rerun finishes what a crash left."""
    from thermocline.datasets.tables.tier_apply import apply_tiers
    from thermocline.datasets.tables.tier_facts import plan_dataset, report_dataset

    now = _now(at)
    policy = _policy(ctx, dataset)
    settings = ctx.project.tiering
    if dry_run:
        found = apply_tiers(ctx.catalog, dataset, policy, settings, now=now, dry_run=True)
    else:
        planned = plan_dataset(ctx.catalog, dataset, policy, now=now)
        with _progress(f"tier apply {dataset}", planned.moved_bytes, as_json) as progress:
            found = apply_tiers(ctx.catalog, dataset, policy, settings, now=now, progress=progress)
    report = report_dataset(ctx.catalog, dataset, settings)
    if as_json:
        print_json({**jsonable(found), "report": _report_json(report)})
        return
    _print_applied(found)
    _print_report(report)


def _print_applied(found: ApplyResult) -> None:
    if found.dry_run:
        _print_plan_summary(found.plan)
        out.print("dry run: nothing was compacted or moved", markup=False)
        return
    if found.resumed:
        out.print(f"finished {found.resumed} move(s) an interrupted run had begun", markup=False)
    for c in found.compacted:
        done = (
            f"{c.files_removed} -> {c.files_added} file(s), version {c.version}"
            if c.version is not None
            else c.error or "nothing to compact"
        )
        out.print(f"compacted {c.partition} on its way out of hot: {done}", markup=False)
    by_target: dict[str, list[int]] = {}
    for m in found.plan.moves:
        by_target.setdefault(f"{m.source} -> {m.target}", [0, 0])
        by_target[f"{m.source} -> {m.target}"][0] += 1
        by_target[f"{m.source} -> {m.target}"][1] += m.size_bytes
    if by_target:
        table(
            f"moved {found.moved} file(s), {size(found.moved_bytes)} of {found.dataset}",
            ["move", "files", "size"],
            [(name, files, size(bytes_)) for name, (files, bytes_) in sorted(by_target.items())],
        )
    else:
        out.print(f"{found.dataset}: every file is in its tier, nothing moved", markup=False)
    if found.plan.held:
        out.print(
            f"{len(found.plan.held)} file(s) left where they are "
            f"(see `thermocline tier plan {found.dataset}`)",
            markup=False,
        )


def _print_plan_summary(found: TierPlan) -> None:
    moving = ", ".join(f"{n} to {target}" for target, n in found.moves_by_target().items())
    out.print(
        f"would move {len(found.moves)} file(s), {size(found.moved_bytes)}"
        + (f" ({moving})" if moving else ""),
        markup=False,
    )
    _print_compactions(found, len(found.compactions))


@tier.command("restore")
@click.argument("ref", metavar="DATASET@VERSION")
@json_option
@click.pass_obj
def restore(ctx: Context, ref: str, as_json: bool) -> None:
    """Copy the archived files of a version (number, tag or time) back to a readable tier
    (cold, or warm when the policy has no cold), so that it reads, rolls back and loads again.
    Tiering keeps them there for the class's minimum days before it may archive them again."""
    from thermocline.datasets.tables.tier_apply import restore_version
    from thermocline.datasets.tables.versions import resolve_version
    from thermocline.pipelines.cli.versions import split_ref

    dataset, at = split_ref(ref)
    version = resolve_version(ctx.catalog, ctx.dataset(dataset), at)
    policy = _policy(ctx, dataset)
    with _progress(f"tier restore {dataset}@{version}", None, as_json) as progress:
        found = restore_version(
            ctx.catalog, dataset, version, policy, ctx.project.tiering, progress=progress
        )
    if as_json:
        print_json(found)
    elif found.restored:
        out.print(
            f"restored {len(found.restored)} archived file(s), {size(found.restored_bytes)}, "
            f"of {dataset}@{version} to {found.tier}: version {version} reads again",
            markup=False,
        )
    else:
        out.print(f"{dataset}@{version} has no archived files: it reads as it is", markup=False)


@tier.command("report")
@click.argument("dataset", required=False)
@json_option
@click.pass_obj
def report(ctx: Context, dataset: str | None, as_json: bool) -> None:
    """Files, bytes and monthly cost per tier of DATASET (of every dataset without one), at
    the project's `tiering.prices`, and what tiering saves against keeping it all hot."""
    from thermocline.datasets.tables.tier_facts import report_dataset, report_datasets

    settings = ctx.project.tiering
    if dataset is not None:
        reports = [report_dataset(ctx.catalog, ctx.dataset(dataset), settings)]
    else:
        reports = report_datasets(ctx.catalog, ctx.project.datasets, settings)
    if as_json:
        found = [_report_json(r) for r in reports]
        print_json(found[0] if dataset is not None else found)
        return
    for one in reports:
        _print_report(one)
    if not reports:
        out.print("no dataset has a table yet: nothing to report", markup=False)
    elif len(reports) > 1:
        monthly = sum(r.monthly_usd for r in reports)
        hot = sum(r.all_hot_usd for r in reports)
        out.print(
            f"all datasets: {_usd(monthly)} a month; all hot {_usd(hot)}, "
            f"tiering saves {_usd(hot - monthly)}",
            markup=False,
        )


def print_tier_summary(ctx: Context, dataset: str) -> None:
    """What tiering would do to ``dataset`` now, in one line, and its cost report (the demo
    prints it after each run)."""
    from thermocline.datasets.tables.tier_facts import plan_dataset, report_dataset

    found = plan_dataset(ctx.catalog, dataset, _policy(ctx, dataset), now=datetime.now(UTC))
    held = f"; {len(found.held)} held back" if found.held else ""
    out.print(
        f"\ntiering of {dataset}: {len(found.moves)} file(s), {size(found.moved_bytes)} would "
        f"move now{held} (`thermocline tier plan {dataset}`, then `thermocline tier apply "
        f"{dataset}`)",
        markup=False,
    )
    _print_report(report_dataset(ctx.catalog, dataset, ctx.project.tiering))


def _report_json(found: TierReport) -> dict[str, object]:
    return {
        **jsonable(found),
        "savings_usd": found.savings_usd,
        "savings_share": found.savings_share,
    }


def _print_report(found: TierReport) -> None:
    table(
        f"tier report of {found.dataset}: {found.files} file(s), {size(found.bytes)}",
        ["tier", "class", "files", "size", "billed", "USD/GB-month", "USD/month"],
        [
            (
                c.tier,
                c.storage_class,
                c.files,
                size(c.bytes),
                size(c.billed_bytes),
                f"{c.usd_per_gb_month:g}",
                _usd(c.monthly_usd),
            )
            for c in found.tiers.values()
        ],
    )
    out.print(
        f"{found.dataset}: {_usd(found.monthly_usd)} a month; all hot {_usd(found.all_hot_usd)}, "
        f"tiering saves {_usd(found.savings_usd)} ({found.savings_share:.0%})",
        markup=False,
    )


def _usd(value: float) -> str:
    """Dollars for people: cents for large sums, six decimals for a small table's fractions."""
    if abs(value) >= 100:
        return f"${value:,.2f}"
    return f"${value:,.4f}" if abs(value) >= 0.01 else f"${value:.6f}"


def _now(at: str | None) -> datetime:
    from thermocline.datasets.tables.versions import parse_timestamp

    return parse_timestamp(at) if at is not None else datetime.now(UTC)


def _policy(ctx: Context, dataset: str) -> TieringPolicy:
    """The dataset's policy (the defaults for a table the project file does not declare)."""
    from thermocline.catalog.config import TieringPolicy

    ctx.dataset(dataset)
    spec = ctx.project.datasets.get(dataset)
    return spec.tiering if spec is not None else TieringPolicy()


@contextlib.contextmanager
def _progress(label: str, total_bytes: int | None, as_json: bool) -> Iterator[Progress]:
    """A progress bar on stderr (bytes moved of ``total_bytes``, files, speed) and the
    callback that advances it; nothing shows with --json or when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[files]} file(s)"),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Bar(*columns, console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task(label, total=total_bytes or None, files=0)

        def advance(files_done: int, bytes_done: int) -> None:
            # compaction shrinks what moves: the bar's total follows what is known by now.
            total = bar.tasks[0].total
            bar.update(
                task,
                completed=bytes_done,
                files=files_done,
                total=max(total, bytes_done) if total else None,
            )

        yield advance
        bar.update(task, total=bar.tasks[0].completed or None)


def register(group: click.Group) -> None:
    """Add ``tier`` to the root command."""
    group.add_command(tier)
