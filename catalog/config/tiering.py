"""When a dataset's data moves from hot to warm to cold (``tiering:``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from thermocline.catalog.config.base import Model

__all__ = ["TieringPolicy"]


class TieringPolicy(Model):
    """When data moves from hot to warm to cold, by partition age."""

    warm_after_days: int = Field(30, ge=1)
    cold_after_days: int | None = Field(180, ge=1)
    target_file_mb: int = Field(128, ge=1, description="compaction target")

    @model_validator(mode="after")
    def _cold_after_warm(self) -> TieringPolicy:
        if self.cold_after_days is not None and self.cold_after_days <= self.warm_after_days:
            raise ValueError(
                f"cold_after_days ({self.cold_after_days}) must be greater than "
                f"warm_after_days ({self.warm_after_days})"
            )
        return self
