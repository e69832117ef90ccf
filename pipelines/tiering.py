"""The Dagster tiering job of each dataset: ``tier apply`` on the project's daily schedule, and
the tier report as numeric asset metadata, so the Dagster UI plots each tier's size and cost
over time (DESIGN.md > Decisions 6 and 8).

``tier_<dataset>_job`` runs one op in the dataset's writer pool (it compacts, so it must not
race an ingest of the same dataset): it applies the dataset's ``tiering:`` policy, then logs an
``AssetObservation`` of the dataset's asset with, per tier, ``tier/<tier>/files``,
``tier/<tier>/bytes`` and ``tier/<tier>/usd_month``, and the totals ``tier/usd_month``,
``tier/all_hot_usd_month``, ``tier/savings_usd_month``, ``tier/moved_files`` and
``tier/moved_bytes``. ``tiering.schedule`` (a cron line, ``0 4 * * *`` by default; null for
none) schedules every dataset's job.

No ``from __future__ import annotations`` here: Dagster reads the ``context`` annotations.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster import OpExecutionContext

from thermocline.catalog.config import DatasetSpec, TieringSettings
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.datasets.tables.tier_apply import ApplyResult, apply_tiers
from thermocline.datasets.tables.tier_facts import report_dataset
from thermocline.datasets.tables.tier_report import TierReport
from thermocline.datasets.tables.versions import open_table

__all__ = ["tier_metadata", "tiering_job", "tiering_schedule"]


def tier_metadata(report: TierReport, applied: ApplyResult | None = None) -> dict[str, Any]:
    """The report (and what ``applied`` moved) as flat numeric metadata: one plotted series
    per key in the Dagster UI."""
    metadata: dict[str, Any] = {}
    for tier, cost in report.tiers.items():
        metadata[f"tier/{tier}/files"] = cost.files
        metadata[f"tier/{tier}/bytes"] = cost.bytes
        metadata[f"tier/{tier}/usd_month"] = dg.MetadataValue.float(cost.monthly_usd)
    metadata["tier/usd_month"] = dg.MetadataValue.float(report.monthly_usd)
    metadata["tier/all_hot_usd_month"] = dg.MetadataValue.float(report.all_hot_usd)
    metadata["tier/savings_usd_month"] = dg.MetadataValue.float(report.savings_usd)
    if applied is not None:
        metadata["tier/moved_files"] = applied.moved
        metadata["tier/moved_bytes"] = applied.moved_bytes
    return metadata


def tiering_job(name: str, spec: DatasetSpec) -> dg.JobDefinition:
    """``tier_<name>_job``: apply ``name``'s tiering policy, then observe its tier report. The
    op takes the code location's ``thermocline`` resource (the project and its catalog)."""
    policy = spec.tiering

    @dg.op(
        name=f"tier_{name}",
        pool=f"thermocline_writer_{name}",
        required_resource_keys={"thermocline"},
    )
    def tier(context: OpExecutionContext) -> None:
        project, catalog = context.resources.thermocline.load()
        try:
            open_table(catalog.lake, name)
        except DatasetNotFoundError:
            context.log.info(f"{name} has no table yet; nothing to tier")
            return
        applied = apply_tiers(catalog, name, policy, project.tiering, now=datetime.now(UTC))
        report = report_dataset(catalog, name, project.tiering)
        context.log.info(
            f"{name}: moved {applied.moved} file(s), {applied.moved_bytes} bytes; "
            f"{report.monthly_usd:.4f} USD a month, saving {report.savings_usd:.4f} against "
            "all hot"
        )
        context.log_event(
            dg.AssetObservation(
                asset_key=name,
                description=f"tier report of {name}",
                metadata=tier_metadata(report, applied),
            )
        )

    @dg.job(
        name=f"tier_{name}_job",
        description=f"Compact what leaves hot, move {name}'s files to their tiers, report cost.",
    )
    def job() -> None:
        tier()

    return job


def tiering_schedule(
    job: dg.JobDefinition, settings: TieringSettings
) -> dg.ScheduleDefinition | None:
    """The daily schedule of a tiering job on ``settings.schedule`` (None when that is null)."""
    if settings.schedule is None:
        return None
    return dg.ScheduleDefinition(job=job, cron_schedule=settings.schedule, name=f"{job.name}_daily")
