"""Kafka ingestion as Dagster sees it: micro-batch metadata, check results, and the runless
events the long-lived service reports.

``thermocline ingest kafka`` runs outside Dagster (a service, not a run), so each publish is
reported to the project's Dagster instance as a runless materialization of the dataset's
asset (offsets, rows, dead letters, lag, version) with its check evaluations; the asset page
shows the stream as it lands. The micro-batch asset and its sensor, for small topics, are in
:mod:`thermocline.pipelines.definitions`.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from thermocline.datasets.ingest.kafka import BatchReport
from thermocline.pipelines.asset_checks import (
    CHECKS_TABLE,
    asset_check_evaluation,
    checks_markdown,
)
from thermocline.quality.results import CheckResult

__all__ = ["DagsterReporter", "batch_metadata", "check_results"]


def batch_metadata(reports: Sequence[BatchReport]) -> dict[str, Any]:
    """What some micro-batches did, as materialization metadata, with their check results as
    one markdown table (each check's first failure, else its last pass)."""
    offsets: dict[int, int] = {}
    for report in reports:
        offsets.update(report.positions)
    versions = [r.version for r in reports if r.version is not None]
    metadata: dict[str, Any] = {
        "rows_published": sum(r.published for r in reports),
        "dead_letters": sum(r.dead for r in reports),
        "rows_quarantined": sum(r.quarantined for r in reports),
        "micro_batches": len(reports),
        "kafka/offsets": dg.MetadataValue.json({str(p): o for p, o in sorted(offsets.items())}),
    }
    if versions:
        metadata["delta/version"] = max(versions)
    if reports and reports[-1].lag is not None:
        metadata["kafka/lag"] = reports[-1].lag
    quarantined = [r.quarantine_path for r in reports if r.quarantine_path]
    if quarantined:
        metadata["quarantine"] = dg.MetadataValue.json(quarantined)
    metadata[CHECKS_TABLE] = dg.MetadataValue.md(checks_markdown(check_results(reports)))
    return metadata


def check_results(reports: Iterable[BatchReport]) -> list[CheckResult]:
    """One result per check over several micro-batches: the first failure, else the last pass."""
    merged: dict[str, CheckResult] = {}
    for report in reports:
        for result in report.checks:
            if result.name not in merged or merged[result.name].passed:
                merged[result.name] = result
    return list(merged.values())


class DagsterReporter:
    """An ``on_batch`` callback that records each publish in a Dagster instance."""

    def __init__(self, instance: dg.DagsterInstance, dataset: str) -> None:
        self.instance = instance
        self.asset_key = dg.AssetKey(dataset)

    def __call__(self, report: BatchReport) -> None:
        self.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=self.asset_key,
                description="published by `thermocline ingest kafka`",
                metadata=batch_metadata([report]),
            )
        )
        for result in report.checks:
            self.instance.report_runless_asset_event(
                asset_check_evaluation(self.asset_key.to_user_string(), result)
            )
