"""``thermocline ingest``: load a dataset from its batch source, or serve its Kafka topic."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, json_option, out, print_json

if TYPE_CHECKING:
    from thermocline.datasets.ingest.kafka import BatchReport
    from thermocline.datasets.ingest.run import IngestOutcome
    from thermocline.pipelines.kafka_service import StreamTotals

__all__ = ["ingest", "register"]


@click.group()
def ingest() -> None:
    """Load data into a dataset: from its batch source, or from its Kafka topic."""


@ingest.command("batch")
@click.argument("dataset")
@click.option("--partition", default=None, help="Recompute and replace this partition (a day).")
@json_option
@click.pass_obj
def ingest_batch(ctx: Context, dataset: str, partition: str | None, as_json: bool) -> None:
    """Load what is new in DATASET's batch source: stage, check, then publish or quarantine."""
    from thermocline.datasets.ingest.run import ingest as ingest_dataset

    outcome = ingest_dataset(ctx.project, ctx.catalog, dataset, partition=partition)
    _print_outcome(outcome, as_json)


@ingest.command("kafka")
@click.argument("dataset")
@click.option("--until-caught-up", is_flag=True, help="Stop at the end of every partition.")
@click.option(
    "--group",
    default=None,
    help="Consumer group (default: the source's `group`, else thermocline-DATASET).",
)
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
    ctx: Context,
    dataset: str,
    until_caught_up: bool,
    group: str | None,
    max_latency: float,
    dagster: bool,
) -> None:
    """Consume DATASET's topic exactly once into its table until stopped (SIGTERM or Ctrl-C
    finish and publish the current batch first)."""
    from thermocline.pipelines.kafka_service import serve_kafka

    def progress(batch: BatchReport, totals: StreamTotals) -> None:
        err.print(
            f"\r{dataset}: {totals.rows} rows, {totals.dead} dead letters, "
            f"{totals.batches} versions, {totals.rate:,.0f} rows/s, lag {batch.lag}",
            end="",
            markup=False,
        )

    totals = serve_kafka(
        ctx.project,
        ctx.catalog,
        dataset,
        group_id=group,
        max_latency_s=max_latency,
        until_caught_up=until_caught_up,
        dagster=dagster,
        on_batch=progress,
    )
    err.print("")
    out.print(
        f"{dataset}: published {totals.rows} rows and {totals.dead} dead letters "
        f"in {totals.batches} versions"
    )


def _print_outcome(outcome: IngestOutcome, as_json: bool) -> None:
    if as_json:
        print_json(outcome)
    else:
        for check in outcome.checks:
            mark = "ok  " if check.passed else ("FAIL" if check.severity == "error" else "warn")
            out.print(f"  {mark} {check.name}: {check.message}", markup=False)
        if outcome.status == "published":
            out.print(
                f"published {outcome.rows} rows of {outcome.dataset} as version "
                f"{outcome.version} ({outcome.description})"
            )
        elif outcome.status == "quarantined":
            out.print(
                f"quarantined {outcome.rows} rows of {outcome.dataset} in "
                f"{outcome.quarantine_path}; nothing published"
            )
        else:
            out.print(f"{outcome.dataset}: {outcome.description}")
    if outcome.status == "quarantined":
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add ``ingest`` to the root command."""
    group.add_command(ingest)
