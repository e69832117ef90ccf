"""``thermocline tier plan DATASET``: which files the dataset's tiering policy would move, from
hot to warm to cold (by partition age) and to archive (files only a tag or release still
needs). Read-only: it moves nothing.

The logic lives in :mod:`thermocline.datasets.tables.tier_plan` (pure) and
:mod:`thermocline.datasets.tables.tier_facts` (the log and the pins); this module parses and
prints.

    thermocline tier plan rides
    thermocline tier plan rides --now 2027-06-01 --json
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, jsonable, out, print_json, size, table

if TYPE_CHECKING:
    from thermocline.catalog.config import TieringPolicy
    from thermocline.datasets.tables.tier_plan import TierPlan

__all__ = ["register", "tier"]


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
    from thermocline.catalog.config import TieringPolicy
    from thermocline.datasets.tables.tier_facts import plan_dataset
    from thermocline.datasets.tables.versions import parse_timestamp

    now = parse_timestamp(at) if at is not None else datetime.now(UTC)
    ctx.dataset(dataset)
    spec = ctx.project.datasets.get(dataset)
    policy = spec.tiering if spec is not None else TieringPolicy()
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


def register(group: click.Group) -> None:
    """Add ``tier`` to the root command."""
    group.add_command(tier)
