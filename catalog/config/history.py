"""How much of a dataset's history stays readable (per dataset, ``history:``).

Two horizons (DESIGN.md > Decision 14):

- ``log_retention``: how long *every* version stays in the Delta log. Maintenance (``thermocline
  maintain``, the Dagster maintenance job, and a Kafka ingester between its own commits) writes
  a checkpoint and deletes log entries older than it, so opening, describing and paging a table
  cost the same at any age.
- ``restore_points``: past the log, a version every ``every`` stays readable and rollback-able
  for ``keep``: its file list is recorded in the catalog (as a tag's is), and a read or rollback
  at a time past the log resolves to the newest restore point at or before that time.

Tagged and released versions stay readable past both.

Defaults, by source kind:

- **Kafka tables: 15 minutes of every version, then a restore point every 15 minutes for a
  day.** A table publishing once a second gains 86,400 versions a day. On a local lake
  delta-rs lists the whole ``_delta_log`` folder on every open and commit, so a day of them
  (86,000 entries) made every open ~0.1 s and every ingester commit ~0.2 s slower; 15 minutes
  (~1,000 entries) costs a few milliseconds. Nobody addresses one of 86,400 versions by
  number; what people ask a day later is "what did the table hold at 3 a.m." and "roll back
  to before last night's bad batch", which a restore point every 15 minutes answers.
- **Batch tables (files, SQL, derived): 30 days of every version, no restore points.** They
  gain a few versions a day, so the log stays small; 30 days is Delta's own default (as far as
  vacuum keeps the files).

``checkpoint_interval`` (Delta's ``delta.checkpointInterval``, default 100) is how often a
writer leaves a checkpoint.

>>> HistoryPolicy().retention_seconds("kafka"), HistoryPolicy().retention_seconds("files")
(900.0, 2592000.0)
>>> HistoryPolicy().restore_points_for("kafka"), HistoryPolicy().restore_points_for("sql")
((900.0, 86400.0), None)
>>> HistoryPolicy(restore_points={"every": "1h", "keep": "7d"}).restore_points_for("files")
(3600.0, 604800.0)
>>> HistoryPolicy(restore_points=False).restore_points_for("kafka") is None
True
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from thermocline.catalog.config.base import Model, parse_duration

__all__ = ["DEFAULT_LOG_RETENTION", "DEFAULT_RESTORE_POINTS", "HistoryPolicy", "RestorePoints"]

DEFAULT_LOG_RETENTION = {"kafka": "15m", "batch": "30d"}
"""The log retention of a dataset that sets none, by kind of source (see the module doc)."""


class RestorePoints(Model):
    """Past the log retention, one version every ``every`` stays readable for ``keep``."""

    every: str = Field("15m", description="how often a restore point is recorded (15m, 1h)")
    keep: str = Field("1d", description="how long a restore point stays readable (1d, 7d)")

    @field_validator("every", "keep")
    @classmethod
    def _duration(cls, text: str) -> str:
        if parse_duration(text) < 1:
            raise ValueError(f"a restore-point duration must be at least 1s, not {text!r}")
        return text

    @model_validator(mode="after")
    def _every_within_keep(self) -> RestorePoints:
        if parse_duration(self.every) > parse_duration(self.keep):
            raise ValueError(
                f"restore_points.every ({self.every}) is longer than restore_points.keep "
                f"({self.keep}), so no two points would ever be kept; shorten every"
            )
        return self

    def seconds(self) -> tuple[float, float]:
        """``(every, keep)`` in seconds."""
        return parse_duration(self.every), parse_duration(self.keep)


DEFAULT_RESTORE_POINTS = {"kafka": RestorePoints(), "batch": None}
"""The restore points of a dataset that sets none, by kind of source (see the module doc)."""


class HistoryPolicy(Model):
    """Per dataset: how long every version stays in the Delta log, which versions stay
    readable past it, and how often the log checkpoints."""

    log_retention: str | None = Field(
        None,
        description="how long every version stays readable (30s, 15m, 12h, 7d, 2w); default "
        "15m for kafka sources, 30d for others. Tagged and released versions and restore "
        "points stay readable past it",
    )
    restore_points: RestorePoints | Literal[False] | None = Field(
        None,
        description="past log_retention, a version every `every` stays readable for `keep` "
        "({every: 15m, keep: 1d}); default that for kafka sources, none for others; false "
        "turns them off",
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
        return parse_duration(DEFAULT_LOG_RETENTION[_kind(source_kind)])

    def restore_points_for(self, source_kind: str | None) -> tuple[float, float] | None:
        """``(every, keep)`` seconds of the restore points of a dataset whose source is
        ``source_kind``, or None when it keeps none."""
        if self.restore_points is False:
            return None
        chosen = self.restore_points or DEFAULT_RESTORE_POINTS[_kind(source_kind)]
        return None if chosen is None else chosen.seconds()


def _kind(source_kind: str | None) -> str:
    return "kafka" if source_kind == "kafka" else "batch"
