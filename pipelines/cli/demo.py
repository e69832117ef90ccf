"""``thermocline demo``: a batch of rides through a Dagster run, then optionally ride events
through the dev Kafka broker; the orchestration is :mod:`thermocline.pipelines.demo`."""

from __future__ import annotations

import click

from thermocline.catalog.errors import ThermoclineError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, out, print_history

__all__ = ["LINEAGE_COMMITS", "demo", "register"]

LINEAGE_COMMITS = 3
"""In the demo's lineage, the earlier commits shown under each version; the rest on one line
(ride events arrive in many micro-batches, one commit each)."""


@click.command()
@click.option("--rows", type=int, default=5_000, show_default=True, help="Rides per batch.")
@click.option(
    "--events",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also produce this many ride events into Kafka and ingest them.",
)
@click.option(
    "--bad",
    is_flag=True,
    help="Write a bad batch instead (2% of rides from an unknown city): the suite's error "
    "expectation fails and the batch is quarantined.",
)
@click.pass_obj
def demo(ctx: Context, rows: int, events: int, bad: bool) -> None:
    """Run the demo: a new batch file of rides, ingested by a Dagster run; then the history
    and what the table's storage tiers cost.
    With --bad, the batch breaks an expectation of the rides suite and is quarantined.
    With --events, ride events also go through the dev Kafka broker into `ride_events`."""
    from thermocline.datasets.demo import DEMO_DATASET, demo_pii_key
    from thermocline.datasets.tables.versions import history as table_history
    from thermocline.pipelines.cli.tier import print_tier_summary
    from thermocline.pipelines.demo import run_demo

    if demo_pii_key(ctx.project):
        err.print(
            f"note: {ctx.project.pii.hash_key_env} is not set, so the demo hashes rider_email "
            "with a fixed demo key; set your own key for real data",
            markup=False,
        )
    with err.status("materializing the rides asset with Dagster..."):
        run = run_demo(ctx.project, rows, bad=bad)
    out.print(f"wrote {rows} {'bad ' if bad else ''}rides to {run.path}")
    for check in sorted(run.checks, key=lambda c: c.passed):
        mark = "ok  " if check.passed else ("FAIL" if check.blocking else "warn")
        out.print(f"  {mark} {check.name}: {check.description}", markup=False)
    failed = [c.name for c in run.checks if c.blocking and not c.passed]
    if failed:
        out.print(
            f"{DEMO_DATASET}: the batch failed {', '.join(failed)} and was quarantined, nothing "
            "published; see `thermocline quarantine list` and `thermocline checks "
            f"{DEMO_DATASET}`\n"
        )
    if run.version is not None:
        out.print(
            f"Dagster run {run.run_id[:8]} published version {run.version} of {DEMO_DATASET}\n"
        )
    elif run.success:
        out.print(f"Dagster run {run.run_id[:8]}: nothing new to publish\n")
    for found in ctx.catalog.pii.current(DEMO_DATASET).values():
        if found.is_pii:
            stored = "in clear" if found.in_clear else f"stored as {found.action}"
            out.print(
                f"  PII  {found.column}: {found.pii_class} ({found.share:.0%} of "
                f"{found.sampled} sampled values), {stored}; see `thermocline pii list`",
                markup=False,
            )
    print_history(DEMO_DATASET, table_history(ctx.lake, DEMO_DATASET), {}, as_json=False)
    print_tier_summary(ctx, DEMO_DATASET)
    out.print(
        "\nSee it in the Dagster UI: `.venv/bin/thermocline ui up`, then open "
        "http://127.0.0.1:3000/assets: the rides asset, its checks, this run and the "
        "table's metadata (schema, row count, Delta version, preview). Stop it with "
        "`.venv/bin/thermocline ui down`."
    )
    if not run.success and not (bad and failed):
        raise ThermoclineError(f"the Dagster run {run.run_id[:8]} failed; see the output above")
    if events:
        _event_demo(ctx, events)
    if run.version is not None and not bad:
        _training_demo(ctx)
    if events:  # last: its first run commits the stream's retention properties (a version)
        from thermocline.datasets.demo import DEMO_EVENTS_DATASET

        _history_policy_demo(ctx, DEMO_EVENTS_DATASET)


def _event_demo(ctx: Context, events: int) -> None:
    from thermocline.datasets.demo import DEMO_EVENTS_DATASET
    from thermocline.datasets.ingest.dead_letters import dead_letter_table
    from thermocline.datasets.tables.versions import history as table_history
    from thermocline.pipelines.demo import run_event_demo

    with err.status(f"producing {events} ride events into Kafka and ingesting them..."):
        outcome = run_event_demo(ctx.project, ctx.catalog, events)
    if outcome.restarted:
        out.print(
            "(the dev broker had restarted and lost its topics, so ride_events started afresh)"
        )
    out.print(
        f"\nproduced {outcome.produced} ride events ({outcome.malformed} malformed) into topic "
        f"{outcome.topic}; ingested exactly once: {outcome.published} rows "
        f"and {outcome.dead} dead letters in {len(outcome.reports)} micro-batch(es)"
    )
    for name in (DEMO_EVENTS_DATASET, dead_letter_table(DEMO_EVENTS_DATASET)):
        print_history(name, table_history(ctx.lake, name, limit=3), {}, as_json=False)
    out.print(
        "The Dagster UI shows each micro-batch as a materialization of ride_events, with its "
        "offsets, lag and checks."
    )


def _history_policy_demo(ctx: Context, name: str) -> None:
    """The stream's history policy, applied as its ingester's turn and nightly maintenance
    do: the log keeps every version for a while, restore points keep one a quarter hour."""
    from thermocline.datasets.tables.retention import apply_policy

    retained = apply_policy(ctx.catalog, name, ctx.project.datasets[name])
    points = ctx.catalog.pinned_files.restore_points(name)
    if not points:  # the project turned them off
        out.print(f"history of {name}: every version for {retained.retention}", markup=False)
        return
    newest = max(points, key=lambda version: points[version])
    taken = "recorded now" if retained.restore_point == newest else "the newest"
    out.print(
        f"history of {name}: every version for {retained.retention} (history.log_retention), "
        f"then restore points (history.restore_points); restore point at version {newest} "
        f"({taken}, committed {points[newest]:%H:%M:%S} UTC). Once the log has passed it, "
        f"`thermocline rollback {name} --to {points[newest]:%Y-%m-%dT%H:%M:%S.%fZ}` still "
        "restores it.",
        markup=False,
    )


def _training_demo(ctx: Context) -> None:
    from thermocline.pipelines.cli.lineage import print_tree, render
    from thermocline.pipelines.demo_training import (
        DEMO_FEATURES,
        DEMO_MODEL,
        run_training_demo,
        training_demo_ready,
    )

    if not training_demo_ready(ctx.project, ctx.catalog):
        if DEMO_FEATURES in ctx.project.datasets:
            out.print(
                f"\n{DEMO_FEATURES} needs ride events too: run `thermocline demo --events N` "
                f"to build it and train {DEMO_MODEL}"
            )
        return
    with err.status(f"building {DEMO_FEATURES} and training {DEMO_MODEL} with Dagster..."):
        done = run_training_demo(ctx.project, ctx.catalog)
    if not done.features_success or done.model is None:
        raise ThermoclineError(
            f"the Dagster run {done.features_run_id[:8]} of {DEMO_FEATURES} failed: "
            f"{done.features_error}"
        )
    features = f"{DEMO_FEATURES}@{done.features_version}"
    out.print(
        f"\nDagster run {done.features_run_id[:8]} "
        + (f"built {features}" if done.features_published else f"found {features} up to date")
        + " (DuckDB over the latest rides and ride_events)"
    )
    model = done.model
    if not model.success:
        raise ThermoclineError(
            f"the Dagster run {model.run_id[:8]} of {DEMO_MODEL} failed: {model.error}"
        )
    metrics = model.metrics
    out.print(
        f"trained {DEMO_MODEL} on {model.ref} in Dagster run {model.run_id[:8]}: loss "
        f"{metrics.get('loss_first', float('nan')):.2f} -> {metrics.get('loss_last', 0):.2f} "
        f"over {metrics.get('steps', 0):.0f} steps ({metrics.get('rows', 0):.0f} rows)"
    )
    version = (model.ref or "").rpartition("@")[2]
    out.print(f"tagged {model.tag} -> version {version}")
    if done.lineage is not None:
        out.print(
            f"\nlineage of training run {model.run_id} back to its sources (the whole tree: "
            f"`thermocline lineage run:{model.run_id} --up`; also `thermocline runs`):",
            markup=False,
        )
        print_tree(render(done.lineage, "up", limit=LINEAGE_COMMITS))
    out.print(
        f"In the Dagster UI: rides, ride_events -> {DEMO_FEATURES} -> {DEMO_MODEL}, each run "
        "with its checks and metadata."
    )


def register(group: click.Group) -> None:
    """Add ``demo`` to the root command."""
    group.add_command(demo)
