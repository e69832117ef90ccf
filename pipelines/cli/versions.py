"""``thermocline tag``, ``tags``, ``release``, ``rollback`` and ``vacuum``: naming, restoring and
cleaning up dataset versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from thermocline.catalog.errors import InputError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, json_option, out, print_json, table

if TYPE_CHECKING:
    from thermocline.datasets.tables.releases import ReleaseRollbackResult
    from thermocline.datasets.tables.rollback import RollbackResult

__all__ = ["register", "release", "rollback", "split_ref", "tag", "tags", "vacuum"]


def split_ref(text: str) -> tuple[str, str]:
    """The command line's ``DATASET@VERSION`` (or ``@TAG``, ``@TIME``) -> (dataset, ref).

    >>> split_ref("rides@golden")
    ('rides', 'golden')
    """
    dataset, at, ref = text.partition("@")
    if not at or not dataset or not ref:
        raise InputError(f"{text!r}: write DATASET@VERSION, e.g. rides@3")
    return dataset, ref


@click.command()
@click.argument("ref", metavar="DATASET@VERSION")
@click.argument("name")
@click.option("--reason", default=None, help="Why, for the event log.")
@json_option
@click.pass_obj
def tag(ctx: Context, ref: str, name: str, reason: str | None, as_json: bool) -> None:
    """Point DATASET's tag NAME at VERSION (moving it if it exists; tags of other datasets
    named NAME stay where they are)."""
    from thermocline.catalog.catalog import check_tag_name
    from thermocline.datasets.tables.pins import pin_version
    from thermocline.datasets.tables.versions import resolve_version

    dataset, at = split_ref(ref)
    check_tag_name(name)
    version = resolve_version(ctx.catalog, ctx.dataset(dataset), at)
    pin_version(ctx.catalog, dataset, version)  # its file list first: reads skip the log
    moved = ctx.catalog.set_tag(name, dataset, version, reason=reason)
    if as_json:
        print_json(moved)
    else:
        out.print(f"tag {dataset}@{name} -> version {version} (move {moved.seq})")


@click.command()
@click.argument("dataset", required=False)
@json_option
@click.pass_obj
def tags(ctx: Context, dataset: str | None, as_json: bool) -> None:
    """Current tags, of DATASET or of every dataset."""
    found = ctx.catalog.tags(dataset)
    if as_json:
        print_json(found)
        return
    table(
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


@click.group()
def release() -> None:
    """Releases: named sets of dataset versions, created once, rolled back together."""


@release.command("create")
@click.argument("name")
@click.argument("refs", nargs=-1, required=True, metavar="DATASET@VERSION...")
@click.option("--reason", default=None, help="Why, for the event log.")
@json_option
@click.pass_obj
def release_create(
    ctx: Context, name: str, refs: tuple[str, ...], reason: str | None, as_json: bool
) -> None:
    """Record release NAME = the given dataset versions (DATASET@VERSION, @TAG or @TIME).

    Refused, listing the missing files, when a version's files were vacuumed."""
    from thermocline.datasets.tables.releases import create_release
    from thermocline.datasets.tables.versions import resolve_version

    versions = {}
    for ref in refs:
        dataset, at = split_ref(ref)
        versions[dataset] = resolve_version(ctx.catalog, ctx.dataset(dataset), at)
    created = create_release(ctx.catalog, name, versions, reason)
    if as_json:
        print_json(created)
    else:
        out.print(f"release {name}: " + ", ".join(f"{d}@{v}" for d, v in versions.items()))


@release.command("list")
@json_option
@click.pass_obj
def release_list(ctx: Context, as_json: bool) -> None:
    """Every release and its dataset versions."""
    found = ctx.catalog.releases()
    if as_json:
        print_json(found)
        return
    table(
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
@click.option("--dry-run", is_flag=True, help="Preflight and print the plan; change nothing.")
@click.option("--resume", is_flag=True, help="Finish an unfinished rollback of NAME.")
@click.option("--abort", is_flag=True, help="Undo an unfinished rollback of NAME.")
@click.option("--reason", default=None, help="Why, for the event log.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_obj
def release_rollback(
    ctx: Context,
    name: str,
    dry_run: bool,
    resume: bool,
    abort: bool,
    reason: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Restore every dataset of release NAME to its version, as one plan.

    Every dataset is checked first (table, version, files); if one fails nothing changes. A
    rollback that failed or crashed part-way is finished with --resume or undone with --abort
    (each dataset back at the version it had before); until then no other one starts.
    """
    from rich.progress import Progress

    from thermocline.datasets.tables.releases import release_rollback as rollback_release

    def run(dry: bool) -> ReleaseRollbackResult:
        return rollback_release(
            ctx.catalog, name, resume=resume, abort=abort, dry_run=dry, reason=reason
        )

    if dry_run or not yes:
        plan = run(dry=True)
        if dry_run:
            if as_json:
                print_json(plan)
            else:
                out.print(f"dry run: {_doing(plan)}:", markup=False)
                for line in _plan_lines(plan):
                    out.print(f"  {line}", markup=False)
            return
        click.confirm(
            f"{_doing(plan)}: " + "; ".join(_plan_lines(plan)) + "?",
            abort=True,
            err=True,  # stdout is for the result (--json)
        )
    # Only at a terminal: elsewhere rich leaves a blank line on stderr (not one error line).
    with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as progress:
        task = progress.add_task(f"release {name}", total=None)
        result = rollback_release(
            ctx.catalog,
            name,
            resume=resume,
            abort=abort,
            reason=reason,
            on_restored=lambda _r: progress.advance(task),
        )
    if as_json:
        print_json(result)
        return
    verb = (
        "aborted the rollback of"
        if abort
        else "resumed and rolled back"
        if resume
        else "rolled back"
    )
    out.print(
        f"{verb} release {name}: "
        + (
            ", ".join(
                f"{r.dataset}@{r.target_version} (now version {r.new_version})"
                for r in result.rolled_back
                if r.new_version is not None
            )
            or "every dataset was there already"
        )
    )


def _doing(plan: ReleaseRollbackResult) -> str:
    what = "abort the rollback of" if plan.aborted else "resume" if plan.resumed else "roll back"
    return f"{what} release {plan.release}"


def _plan_lines(plan: ReleaseRollbackResult) -> list[str]:
    """One line per dataset of a plan: ``rides: version 9 -> 3 (4 files checked)``."""
    return [
        f"{a.dataset}: version {a.from_version} -> {a.target_version} "
        f"({a.files_checked} files checked)"
        + (" (already there)" if a.from_version == a.target_version else "")
        for a in plan.actions
    ] or ["nothing left to change"]


@click.command()
@click.argument("dataset")
@click.option("--to", "to", required=True, help="Version number, tag, or ISO 8601 time.")
@click.option("--dry-run", is_flag=True, help="Check and show the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default=None, help="Why, for the event log.")
@json_option
@click.pass_obj
def rollback(
    ctx: Context,
    dataset: str,
    to: str,
    dry_run: bool,
    yes: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Restore DATASET to an earlier version as a new version (itself reversible)."""
    from thermocline.datasets.tables.rollback import rollback as rollback_dataset

    def summary(r: RollbackResult) -> str:
        return (
            f"{dataset}: version {r.from_version} -> contents of version "
            f"{r.target_version} (+{r.files_added} / -{r.files_removed} files)"
        )

    ctx.dataset(dataset)
    if dry_run or not yes:
        plan = rollback_dataset(ctx.catalog, dataset, to, dry_run=True)
        if dry_run or plan.target_version == plan.from_version:
            if as_json:
                print_json(plan)
            else:
                out.print(("dry run: " if dry_run else "already there: ") + summary(plan))
            return
        click.confirm(f"roll back {summary(plan)}?", abort=True, err=True)
    result = rollback_dataset(ctx.catalog, dataset, to, reason=reason)
    if as_json:
        print_json(result)
    elif result.new_version is None:
        out.print("already there: " + summary(result))
    else:
        out.print(f"rolled back {summary(result)}; new version {result.new_version}")


@click.command()
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
@json_option
@click.pass_obj
def vacuum(
    ctx: Context,
    dataset: str,
    retention_hours: float,
    dry_run: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Delete files no recent, tagged or released version of DATASET needs."""
    from thermocline.datasets.tables.maintenance import vacuum as vacuum_dataset

    with err.status(f"vacuuming {dataset}..."):
        result = vacuum_dataset(
            ctx.catalog,
            ctx.dataset(dataset),
            retention_hours=retention_hours,
            dry_run=dry_run,
            reason=reason,
        )
    if as_json:
        print_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    kept = ", ".join(map(str, result.kept_versions)) or "none"
    out.print(
        f"{verb} {len(result.removed)} file(s) of {dataset}; "
        f"tagged or released versions kept: {kept}"
    )
    for path in result.removed[:20]:
        out.print(f"  {path}", markup=False)


def register(group: click.Group) -> None:
    """Add the version commands and ``release`` to the root command."""
    for command in (tag, tags, release, rollback, vacuum):
        group.add_command(command)
