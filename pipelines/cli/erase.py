"""``thermocline erase``: erase a person's rows by key (right to be forgotten)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from thermocline.catalog.errors import InputError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, json_option, jsonable, out, print_json

if TYPE_CHECKING:
    from thermocline.datasets.tables.erasure import DatasetErasure

__all__ = ["erase", "register"]


@click.command()
@click.option("--key", "key", required=True, metavar="COLUMN=VALUE", help="Whose rows go.")
@click.option("--dataset", "datasets", multiple=True, help="Erase from this dataset (repeatable).")
@click.option("--all", "every", is_flag=True, help="Erase from every dataset with COLUMN.")
@click.option("--dry-run", is_flag=True, help="Say what would go and what breaks; change nothing.")
@click.option("--force", is_flag=True, help="Erase through versions a tag or release points at.")
@click.option("--reason", default=None, help="Why (e.g. the request's ticket), for the event log.")
@json_option
@click.pass_obj
def erase(
    ctx: Context,
    key: str,
    datasets: tuple[str, ...],
    every: bool,
    dry_run: bool,
    force: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Delete every row whose COLUMN is VALUE, in a new version of each dataset, and remove
    the older files that still hold them.

    The versions that referenced those files can no longer be read: time travel, rollback,
    tags and releases that point at them refuse, naming the erasure. A hashed column (pii:
    hash) is erased by its clear value. The value is never printed or recorded.

    \b
    thermocline erase --key rider_email=ana@example.com --all --dry-run
    thermocline erase --key rider_id=42 --dataset rides --reason "ticket 7"
    """
    from thermocline.datasets.tables.erasure import erase as erase_key
    from thermocline.datasets.tables.erasure_plan import parse_key

    if bool(datasets) == every:
        raise InputError(
            "name the datasets to erase from: --dataset D (repeatable) or --all",
            field="--dataset",
        )
    column, value = parse_key(key)
    names = [ctx.dataset(d) for d in datasets] or None
    with err.status("erasing..." if not dry_run else "planning the erasure...") as status:
        if as_json:
            status.stop()
        result = erase_key(
            ctx.catalog,
            ctx.project,
            column,
            value,
            datasets=names,
            dry_run=dry_run,
            force=force,
            reason=reason,
        )
    if as_json:
        print_json({**jsonable(result), "rows": result.rows})
        return
    head = "dry run: would erase" if dry_run else "erased"
    subject = f" (subject {result.subject[:12]})" if result.subject else ""
    out.print(
        f"{head} {result.rows} row(s) by {column}{subject} from "
        f"{len(result.datasets)} dataset(s); erasure {result.erasure_id[:12]}",
        markup=False,
    )
    for line in (line for d in result.datasets for line in _lines(d, dry_run)):
        out.print(line, markup=False)


def _lines(d: DatasetErasure, dry_run: bool) -> list[str]:
    from thermocline.datasets.tables.versions import ranges_text

    would = "would " if dry_run else ""
    version = f" -> version {d.new_version}" if d.new_version is not None else ""
    lines = [
        f"{d.dataset}: {d.rows} row(s) by {d.column}{' (hashed)' if d.hashed else ''} at "
        f"version {d.from_version}{version}; {would}rewrite {len(d.files_rewritten)} file(s), "
        f"{would}remove {len(d.files_removed)} file(s) holding the subject",
        f"  versions {'that would become' if dry_run else 'now'} unreadable: "
        f"{ranges_text(d.broken_versions)}",
    ]
    for pin in d.tags + d.releases:
        lines.append(f"  {'points at' if dry_run else 'pointed at'} them: {pin}")
    if d.quarantine_rows:
        lines.append(f"  quarantined rows of the subject: {d.quarantine_rows} ({would}removed)")
    if d.dead_letters:
        lines.append(
            f"  dead letters whose raw payload holds the subject: {d.dead_letters} ({would}removed)"
        )
    if d.dead_letters_unsearched:
        lines.append(
            f"  sealed dead letters not searched: {d.dead_letters_unsearched}; set the project's "
            "PII key (pii.hash_key_env) and run again to erase from them too"
        )
    return lines


def register(group: click.Group) -> None:
    """Add ``erase`` to the root command."""
    group.add_command(erase)
