"""When Dagster materializes a dataset by itself (DESIGN.md > Decision 8).

A batch dataset (files, SQL) gets a sensor that requests a run when its source has something
the table has not consumed; a derived dataset an automation condition on its inputs' new
versions; a Kafka dataset is kept current by the long-lived ingest service (its micro-batch
sensor is off unless ``enabled: true``). ``enabled: false`` leaves a dataset to people.

>>> AutomationPolicy().on("files"), AutomationPolicy().on("kafka")
(True, False)
>>> AutomationPolicy(enabled=False).on("derived")
False
"""

from __future__ import annotations

from pydantic import Field

from thermocline.catalog.config.base import Model

__all__ = ["AutomationPolicy"]

_ON_BY_DEFAULT = {"files": True, "sql": True, "derived": True, "kafka": False}


class AutomationPolicy(Model):
    """Per dataset: whether Dagster runs it on its own, and how often a sensor looks."""

    enabled: bool | None = Field(
        None,
        description="default: on for files, sql and derived sources; off for kafka (the "
        "ingest service keeps it current; on turns its micro-batch sensor on)",
    )
    interval_s: int = Field(30, ge=5, le=86_400, description="how often the sensor looks")

    def on(self, source_kind: str) -> bool:
        """Whether automation runs for a dataset whose source is ``source_kind``."""
        if self.enabled is not None:
            return self.enabled
        return _ON_BY_DEFAULT.get(source_kind, False)
