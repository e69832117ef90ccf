"""``thermocline maintain DATASET [--json]``: compact, vacuum, checkpoint and trim the log of
one dataset, as the nightly Dagster maintenance job does, and print what each step did.

The logic lives in :mod:`thermocline.datasets.tables.maintenance` (compaction, vacuum) and
:mod:`thermocline.datasets.tables.retention` (log retention under the dataset's ``history:``
policy; tagged and released versions stay readable); this module parses and prints.
"""

from __future__ import annotations

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import err, json_option, out, print_json

__all__ = ["maintain", "register"]


@click.command()
@click.argument("dataset")
@click.option(
    "--vacuum-hours",
    type=click.FloatRange(min=0),
    default=168,
    show_default=True,
    help="Vacuum keeps files that versions of the last N hours need.",
)
@json_option
@click.pass_obj
def maintain(ctx: Context, dataset: str, vacuum_hours: float, as_json: bool) -> None:
    """Compact small files, vacuum files no recent or pinned version needs, write a
    checkpoint and delete log entries older than the dataset's history.log_retention
    (default 15m for Kafka, 30d for batch; tags, releases and restore points stay readable).
    Example: `thermocline maintain rides`."""
    from thermocline.catalog.config import DatasetSpec
    from thermocline.datasets.maintain import maintain as maintain_dataset

    name = ctx.dataset(dataset)
    spec = ctx.project.datasets.get(name, DatasetSpec())
    with err.status(f"maintaining {name}..."):
        done = maintain_dataset(
            ctx.catalog, name, spec, vacuum_hours=vacuum_hours, reason="maintain"
        )
    compacted, vacuumed, retained = done.compaction, done.vacuum, done.retention
    if as_json:
        print_json(done)
        return
    compaction = (
        "compaction lost a race with the ingester (the next pass compacts)"
        if compacted is None
        else f"compacted {compacted.files_removed} -> {compacted.files_added} file(s)"
    )
    retention = (
        "log retention lost a race with the ingester (the next pass applies it)"
        if retained is None
        else f"checkpoint at version {retained.checkpoint_version}; log retention "
        f"{retained.retention}: readable history starts at version {retained.readable_from} "
        f"(was {retained.readable_from_before})"
    )
    out.print(
        f"{name}: {compaction}; vacuumed {len(vacuumed.removed)} file(s); {retention}",
        markup=False,
    )
    if retained is not None and retained.pinned_past_retention:
        pinned = ", ".join(map(str, retained.pinned_past_retention))
        out.print(f"  pinned versions kept readable past retention: {pinned}", markup=False)
    if retained is not None and retained.restore_point is not None:
        out.print(f"  restore point recorded at version {retained.restore_point}", markup=False)
    if retained is not None and retained.restore_points_expired:
        expired = ", ".join(map(str, retained.restore_points_expired))
        out.print(f"  expired restore points forgotten: {expired}", markup=False)


def register(group: click.Group) -> None:
    group.add_command(maintain)
