"""How much of a dataset's Delta log stays (per dataset, ``history:``).

Maintenance (``thermocline maintain``, the Dagster maintenance job) writes a checkpoint and
deletes log entries older than ``log_retention`` (DESIGN.md > Decision 14), so opening,
describing and paging a table cost the same at any age. Versions older than the retention can
no longer be read or rolled back to, except tagged and released ones: their file lists are kept
in the catalog first.

Defaults: **1 day for Kafka tables**, **30 days for batch tables** (files, SQL, derived). A
Kafka table publishing once a second gains 86,400 versions a day: a day of per-version time
travel covers the usual "roll back last night's bad batch", tags and releases stay readable past
it (their file lists are kept), and it bounds the log at ~86,000 entries. That matters on a
local lake, where delta-rs lists the whole ``_delta_log`` folder on every open (~1.3 µs an
entry: 0.12 s at 100,000); on S3 the listing starts at the last checkpoint, so there only
storage grows. The Kafka ingester trims its own log between its commits
(:mod:`thermocline.datasets.ingest.kafka`), so it stays near that bound between nightly runs.
Batch tables gain a few versions a day, so their log is small; 30 days is Delta's own default
and keeps a month of time travel (as far as vacuum keeps the files). ``checkpoint_interval``
(Delta's ``delta.checkpointInterval``, default 100) is how often a writer leaves a checkpoint.

>>> HistoryPolicy().retention_seconds("kafka"), HistoryPolicy().retention_seconds("files")
(86400.0, 2592000.0)
>>> HistoryPolicy(log_retention="12h").retention_seconds("kafka")
43200.0
"""

from __future__ import annotations

from pydantic import Field, field_validator

from thermocline.catalog.config.base import Model, parse_duration

__all__ = ["DEFAULT_LOG_RETENTION", "HistoryPolicy"]

DEFAULT_LOG_RETENTION = {"kafka": "1d", "batch": "30d"}
"""The log retention of a dataset that sets none, by kind of source (see the module doc)."""


class HistoryPolicy(Model):
    """Per dataset: how long the Delta log keeps versions, and how often it checkpoints."""

    log_retention: str | None = Field(
        None,
        description="how long unpinned versions stay readable (30s, 12h, 7d, 2w); default 1d "
        "for kafka sources, 30d for others. Tagged and released versions stay readable",
    )
    checkpoint_interval: int = Field(
        100,
        ge=1,
        le=100_000,
        description="a checkpoint every this many commits (delta.checkpointInterval)",
    )

    @field_validator("log_retention")
    @classmethod
    def _duration(cls, text: str | None) -> str | None:
        if text is not None and parse_duration(text) < 1:  # Delta's unit: whole seconds
            raise ValueError(f"log_retention must be at least 1s, not {text!r}")
        return text

    def retention_seconds(self, source_kind: str | None) -> float:
        """The log retention in seconds for a dataset whose source is ``source_kind``."""
        if self.log_retention is not None:
            return parse_duration(self.log_retention)
        return parse_duration(DEFAULT_LOG_RETENTION["kafka" if source_kind == "kafka" else "batch"])
