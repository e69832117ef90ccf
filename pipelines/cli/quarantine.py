"""``thermocline quarantine list | show ID | replay ID | discard ID``: act on quarantined batches.

The logic lives in :mod:`thermocline.datasets.tables.quarantine` (the record, listing, discard)
and :mod:`thermocline.datasets.ingest.quarantine` (replay); this module parses and prints.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json, table

__all__ = ["quarantine", "register"]


@click.group()
def quarantine() -> None:
    """Quarantined batches: list them, see why per source file, replay or discard them."""


@quarantine.command("list")
@click.argument("dataset", required=False)
@click.option("--all", "show_all", is_flag=True, help="Also list batches already replayed.")
@json_option
@click.pass_obj
def list_command(ctx: Context, dataset: str | None, show_all: bool, as_json: bool) -> None:
    """Quarantined batches (of DATASET, or all), oldest first."""
    from thermocline.datasets.tables.quarantine import list_quarantined

    if dataset is not None:
        ctx.dataset(dataset)
    records = [
        q for q in list_quarantined(ctx.catalog, dataset) if show_all or q.state == "quarantined"
    ]
    if as_json:
        print_json(records)
        return
    rows = [
        (
            q.id[:12],
            q.dataset,
            _when(q.at),
            q.rows,
            len(q.sources),
            q.state if q.version is None else f"{q.state} as v{q.version}",
            "; ".join(q.reasons),
        )
        for q in records
    ]
    table("Quarantine", ["id", "dataset", "at", "rows", "sources", "state", "reasons"], rows)


@quarantine.command("show")
@click.argument("quarantine_id", metavar="ID")
@json_option
@click.pass_obj
def show(ctx: Context, quarantine_id: str, as_json: bool) -> None:
    """One quarantined batch: per source file (or Kafka partition), its rows, failed checks and
    a sample."""
    from thermocline.datasets.tables.quarantine import find_quarantined

    record = find_quarantined(ctx.catalog, quarantine_id)
    if as_json:
        print_json(record)
        return
    out.print(
        f"{record.id} of {record.dataset}: {record.rows} rows, {record.state}, "
        f"{_when(record.at)} by {record.user}",
        markup=False,
    )
    out.print(f"  {record.description}", markup=False)
    for source in record.sources:
        out.print(f"  {source.source or '(source unknown)'}: {source.rows} rows", markup=False)
        for check in source.checks:
            failing = check.get("failing_rows")
            count = "" if failing is None else f" ({failing} failing)"
            out.print(f"    FAIL {check['check']}{count}: {check['message']}", markup=False)
        for row in source.sample:
            out.print(f"    {json.dumps(row, default=str)}", markup=False)


@quarantine.command("replay")
@click.argument("quarantine_id", metavar="ID")
@json_option
@click.pass_obj
def replay_command(ctx: Context, quarantine_id: str, as_json: bool) -> None:
    """Re-run the checks and publish the batch into its table, once (its positions were
    published when it was quarantined)."""
    from thermocline.datasets.ingest.quarantine import replay

    outcome = replay(ctx.project, ctx.catalog, quarantine_id)
    if as_json:
        print_json(outcome)
    elif outcome.status == "published":
        out.print(f"replayed {outcome.rows} rows of {outcome.dataset} as version {outcome.version}")
    else:
        out.print(
            f"{outcome.id[:12]} was replayed already (version {outcome.version}); "
            "nothing more published"
        )


@quarantine.command("discard")
@click.argument("quarantine_id", metavar="ID")
@click.option("--reason", default=None, help="Why, for the event log.")
@json_option
@click.pass_obj
def discard_command(ctx: Context, quarantine_id: str, reason: str | None, as_json: bool) -> None:
    """Drop a quarantined batch for good (its input stays consumed); an event records it."""
    from thermocline.datasets.tables.quarantine import discard_quarantined, find_quarantined

    record = find_quarantined(ctx.catalog, quarantine_id)
    discard_quarantined(ctx.catalog, record, reason)
    if as_json:
        print_json({"id": record.id, "dataset": record.dataset, "discarded_rows": record.rows})
    else:
        out.print(f"discarded {record.rows} rows of {record.dataset} ({record.id[:12]})")


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def register(group: click.Group) -> None:
    """Add ``quarantine`` to the root command."""
    group.add_command(quarantine)
