"""Quality checks as Dagster sees them: one asset check per declared check of a dataset (the
built-in and history-aware checks, then one per expectation of its Great Expectations suite),
their results with the numbers behind them as metadata, and a freshness policy.

The specs come from :func:`~thermocline.datasets.ingest.judge.declared_checks`, the same list
:func:`~thermocline.datasets.ingest.judge.judge` fills, so every result a run gives has its asset
check (an ``error`` check blocks: a failure quarantines the batch and stops downstream assets).
A result's ``observed`` value, ``failing_rows`` and ``rows`` are numeric metadata, which the
Dagster UI plots over the check's evaluations; the threshold, the engine and, for an
expectation, its type and a sample of failing values are text beside them. The
materialization carries one markdown table of the run's results (``quality/checks``).

>>> specs = check_specs(project, "rides")                       # doctest: +SKIP
>>> yield asset_check_result("rides", result)                   # doctest: +SKIP
"""

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from thermocline.catalog.config import FreshnessCheck, Project, parse_duration
from thermocline.datasets.ingest.judge import declared_checks
from thermocline.quality.results import CheckResult

__all__ = [
    "CHECKS_TABLE",
    "asset_check_evaluation",
    "asset_check_result",
    "check_metadata",
    "check_specs",
    "checks_markdown",
    "declared_results",
    "freshness_policy",
    "severity",
]

CHECKS_TABLE = "quality/checks"
"""The materialization metadata key of the run's check results (a markdown table)."""

# Dagster refuses a freshness window under a minute.
_SHORTEST_WINDOW = timedelta(minutes=1)
_SAMPLE_CHARS = 200


def check_specs(project: Project, name: str) -> list[dg.AssetCheckSpec]:
    """One asset check per result :func:`~thermocline.datasets.ingest.judge.judge` gives for
    ``name``, in order; ``error`` ones block downstream assets when they fail."""
    return [
        dg.AssetCheckSpec(
            declared.name,
            asset=name,
            blocking=declared.severity == "error",
            description=f"{declared.description} ({declared.severity}, {declared.engine})",
            metadata={"check": declared.check, "engine": declared.engine},
        )
        for declared in declared_checks(project, name)
    ]


def declared_results(
    project: Project, name: str, results: Iterable[CheckResult]
) -> tuple[list[CheckResult], list[CheckResult]]:
    """``results`` split into those with an asset check of ``name`` and the rest (a result
    the declaration did not foresee: Dagster refuses it, so the caller logs it instead)."""
    names = {declared.name for declared in declared_checks(project, name)}
    known: list[CheckResult] = []
    unknown: list[CheckResult] = []
    for result in results:
        (known if result.name in names else unknown).append(result)
    return known, unknown


def check_metadata(result: CheckResult) -> dict[str, Any]:
    """What an asset check evaluation shows of ``result``: the numbers as numbers (Dagster plots
    ``IntMetadataValue`` and ``FloatMetadataValue`` over time), the rest as text."""
    metadata: dict[str, Any] = {
        key: _value(value) for key, value in result.metadata.items() if key != "sample"
    }
    if result.observed is not None:
        metadata["observed"] = dg.MetadataValue.float(float(result.observed))
    if result.failing_rows is not None:
        metadata["failing_rows"] = dg.MetadataValue.int(int(result.failing_rows))
    rows = result.metadata.get("rows")
    if isinstance(rows, int) and not isinstance(rows, bool):
        metadata["rows"] = dg.MetadataValue.int(rows)
    if result.threshold is not None:
        metadata["threshold"] = dg.MetadataValue.text(result.threshold)
    metadata["engine"] = dg.MetadataValue.text(result.engine)
    metadata["check"] = dg.MetadataValue.text(result.check)
    if result.engine == "gx":
        metadata["expectation"] = dg.MetadataValue.text(result.check)
    if result.sample:
        metadata["sample"] = dg.MetadataValue.text(", ".join(result.sample)[:_SAMPLE_CHARS])
    return metadata


def asset_check_result(name: str, result: CheckResult) -> dg.AssetCheckResult:
    """``result`` as the asset check result a run of ``name``'s asset yields."""
    return dg.AssetCheckResult(
        asset_key=name,
        check_name=result.name,
        passed=result.passed,
        severity=severity(result),
        description=result.message,
        metadata=check_metadata(result),
    )


def asset_check_evaluation(name: str, result: CheckResult) -> dg.AssetCheckEvaluation:
    """``result`` as a runless evaluation (what the Kafka service reports to the instance)."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(name),
        check_name=result.name,
        passed=result.passed,
        severity=severity(result),
        description=result.message,
        metadata=check_metadata(result),
    )


def checks_markdown(results: Sequence[CheckResult]) -> str:
    """The results as one markdown table, a line per check or expectation, failures first."""
    if not results:
        return "(no checks)"
    lines = [
        "| check | result | severity | engine | observed | threshold | failing rows | message |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in sorted(results, key=lambda r: r.passed):
        verdict = "pass" if result.passed else "**FAIL**"
        observed = "" if result.observed is None else f"{result.observed:.6g}"
        failing = "" if result.failing_rows is None else str(result.failing_rows)
        cells = [
            result.name,
            verdict,
            result.severity,
            result.engine,
            observed,
            result.threshold or "",
            failing,
            result.message,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def freshness_policy(project: Project, name: str) -> dg.FreshnessPolicy | None:
    """A Dagster freshness policy for ``name`` when it has a freshness check (its own or
    ``quality.defaults``): the asset fails freshness once its last materialization is older
    than the check's ``max_age`` (the smallest, with several; at least a minute).

    Dagster's freshness daemon (part of ``dagster dev``, so of ``thermocline ui up``) evaluates
    it on its own every 30 s, without a run: the UI flags a stale table even when nothing runs.
    """
    ages = [
        timedelta(seconds=parse_duration(check.max_age))
        for check in project.checks(name)
        if isinstance(check, FreshnessCheck)
    ]
    if not ages:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=max(min(ages), _SHORTEST_WINDOW))


def severity(result: CheckResult) -> dg.AssetCheckSeverity:
    """The Dagster severity of a check result."""
    if result.severity == "error":
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def _value(value: int | float | str) -> Any:
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    return dg.MetadataValue.text(str(value))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
