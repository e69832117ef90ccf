"""PII as Dagster sees it: a ``pii`` asset check per dataset and the column classifications in
the asset's materialization metadata.

After each materialization the published version is scanned (a bounded sample, see
:mod:`thermocline.datasets.tables.pii_scan`) unless the dataset's ``pii.scan`` is off, and the
check judges the columns' current classifications (a person's review applied): it passes
when no column holds PII in clear that the policy does not allow. The check is not blocking:
the version is published already (ingest's policies are what keep clear PII out of it), and
the loader refuses such columns on its own; an ERROR shows on the asset until it is fixed
(hash or drop the column, allow it in the policy, or reject the finding in review).
"""

from typing import Any

import dagster as dg

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import DatasetSpec
from thermocline.datasets.tables.pii_scan import not_allowed, scan_dataset

__all__ = ["PII_CHECK", "pii_check_spec", "pii_report"]

PII_CHECK = "pii"
"""The name of every dataset's PII asset check."""


def pii_check_spec(name: str) -> dg.AssetCheckSpec:
    """The PII check of dataset ``name``'s asset."""
    return dg.AssetCheckSpec(
        PII_CHECK,
        asset=name,
        blocking=False,
        description="no column holds personal data in clear that the dataset's pii policy "
        "does not allow",
    )


def pii_report(
    catalog: Catalog, name: str, spec: DatasetSpec, version: int | None
) -> tuple[dg.AssetCheckResult, dict[str, Any]]:
    """Scan ``version`` of ``name`` (when its policy scans), then the check result and the
    materialization metadata of its classifications."""
    if spec.pii.scan and version is not None:
        scan_dataset(catalog, name, policy=spec.pii, at=version)
    current = catalog.pii.current(name)
    refused = not_allowed(current, spec.pii)
    pii = [c for c in current.values() if c.is_pii]
    check = dg.AssetCheckResult(
        asset_key=name,
        check_name=PII_CHECK,
        passed=not refused,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(pii)} PII column(s), none in clear against the policy"
            if not refused
            else "PII in clear that the policy does not allow: "
            + ", ".join(_judged(c, spec) for c in refused)
            + f"; hash or drop them (datasets.{name}.pii.columns) and rewrite or erase what is "
            f"stored, allow them there, or reject a wrong finding with "
            f"`thermocline pii review {name}.COLUMN --reject`"
        ),
        metadata={
            "columns": dg.MetadataValue.json({c.column: _facts(c) for c in pii}),
            "in_clear_not_allowed": dg.MetadataValue.json([c.column for c in refused]),
        },
    )
    metadata = {
        "pii/classifications": dg.MetadataValue.md(_markdown(list(current.values()))),
        "pii/columns": len(pii),
        "pii/in_clear": sum(c.in_clear for c in current.values()),
    }
    return check, metadata


def _judged(found: Classification, spec: DatasetSpec) -> str:
    rule = spec.pii.rule(found.column)
    policy = rule.action if rule is not None else f"default {spec.pii.default_action}"
    return f"{found.column} ({found.pii_class}; policy: {policy})"


def _facts(found: Classification) -> dict[str, Any]:
    return {
        "class": found.pii_class,
        "confidence": found.confidence,
        "share": round(found.share, 4),
        "detector": found.detector,
        "action": found.action,
        "review": found.review,
        "version": found.version,
    }


def _markdown(found: list[Classification]) -> str:
    if not found:
        return "(no column scanned)"
    lines = [
        "| column | class | confidence | share | action | review |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.column} | {c.pii_class} | {c.confidence:.2f} | {c.share:.0%} | "
        f"{c.action or ('in clear' if c.is_pii else '')} | {c.review} |"
        for c in found
    ]
    return "\n".join(lines)
