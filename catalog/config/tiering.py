"""When a dataset's data moves from hot to warm to cold (per dataset, ``tiering:``), and what
the tiers are on the lake's storage and cost (project level, ``tiering:``).

A dataset's :class:`TieringPolicy` says when its files move; the project's
:class:`TieringSettings` maps each logical tier to the lake's S3 storage class and prices each
class per GB-month (AWS S3 list prices by default; the dev RGW names its own classes), and sets
the daily schedule of the Dagster tiering job.

>>> TieringSettings().storage_classes["cold"], TieringSettings().prices["STANDARD"]
('GLACIER_IR', 0.023)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from thermocline.catalog.config.base import Model

__all__ = [
    "AWS_PRICES",
    "AWS_STORAGE_CLASSES",
    "TIERS",
    "Tier",
    "TieringPolicy",
    "TieringSettings",
]

Tier = Literal["hot", "warm", "cold", "archive"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold", "archive")

AWS_STORAGE_CLASSES: Mapping[Tier, str] = {
    "hot": "STANDARD",
    "warm": "STANDARD_IA",
    "cold": "GLACIER_IR",
    "archive": "DEEP_ARCHIVE",
}
"""The S3 storage class of each tier on AWS: warm and cold read instantly, archive needs a
restore (hours)."""

AWS_PRICES: Mapping[str, float] = {
    "STANDARD": 0.023,
    "STANDARD_IA": 0.0125,
    "GLACIER_IR": 0.004,
    "GLACIER": 0.0036,
    "DEEP_ARCHIVE": 0.00099,
}
"""USD per GB-month of each AWS S3 storage class (us-east-1 list prices, first 50 TB)."""


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)
_CRON_PART = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")


def _cron_field_ok(text: str, low: int, high: int) -> bool:
    """A cron field of numbers (no names): ``*``, ``n``, ``a-b``, each with an optional
    ``/step``, comma-separated, every number within ``low``..``high``."""
    for part in text.split(","):
        if not _CRON_PART.match(part):
            return False
        bounds, _, step = part.partition("/")
        if step and int(step) < 1:
            return False
        if bounds != "*" and any(not low <= int(n) <= high for n in bounds.split("-")):
            return False
    return True


class TieringPolicy(Model):
    """When one dataset's data files move from hot to warm to cold, by partition age.

    ``archive_after_days``: a file that the latest version no longer references but a tag or
    release still does goes to the archive class once its partition is this old (None: never).
    Archive restores take hours on AWS, so a recently pinned version is not archived the day
    a compaction or an update drops its files from the latest version.
    ``zstd_level``: the level warm compaction recompresses with (hot files are written at 3).
    """

    warm_after_days: int = Field(30, ge=1)
    cold_after_days: int | None = Field(180, ge=1)
    archive_after_days: int | None = Field(365, ge=1)
    target_file_mb: int = Field(
        128,
        ge=1,
        le=4096,
        description="compaction target; at most 4096 (S3 copies an object in place in one "
        "request only up to 5 GB)",
    )
    zstd_level: int = Field(9, ge=1, le=22, description="warm recompression level")

    @model_validator(mode="after")
    def _cold_after_warm(self) -> TieringPolicy:
        if self.cold_after_days is not None and self.cold_after_days <= self.warm_after_days:
            raise ValueError(
                f"cold_after_days ({self.cold_after_days}) must be greater than "
                f"warm_after_days ({self.warm_after_days})"
            )
        return self


class TieringSettings(Model):
    """The lake's storage classes per tier, their prices, and the tiering job's schedule.

    On a local lake there are no classes: the tiers are logical (recorded in the catalog's
    tier inventory) and the prices still make the report.
    """

    storage_classes: dict[Tier, str] = Field(
        default_factory=lambda: dict(AWS_STORAGE_CLASSES),
        description="S3 storage class per tier; the dev RGW has STANDARD_IA and GLACIER",
    )
    prices: dict[str, float] = Field(
        default_factory=lambda: dict(AWS_PRICES),
        description="USD per GB-month per storage class (AWS S3 list prices by default)",
    )
    schedule: str | None = Field(
        "0 4 * * *",
        description="cron of the daily Dagster tiering job per dataset (null: no schedule)",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str | None) -> str | None:
        if schedule is None:
            return None
        fields = schedule.split()
        if len(fields) != 5:
            raise ValueError(
                f"schedule {schedule!r} is not a cron line of 5 fields (minute hour day month "
                "weekday), e.g. '0 4 * * *' for 04:00 every day"
            )
        for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
            if not _cron_field_ok(text, low, high):
                raise ValueError(
                    f"schedule {schedule!r}: the {name} field {text!r} is not *, a number from "
                    f"{low} to {high}, a range a-b, a step */n or a list of those"
                )
        return schedule

    @field_validator("storage_classes")
    @classmethod
    def _every_tier(cls, classes: dict[Tier, str]) -> dict[Tier, str]:
        merged = {**AWS_STORAGE_CLASSES, **classes}
        if merged["hot"] != "STANDARD":
            raise ValueError(
                f"storage_classes.hot is {merged['hot']!r}: hot data, the Delta log and the "
                "catalog stay in STANDARD; leave hot out or set it to STANDARD"
            )
        return {tier: merged[tier] for tier in TIERS}

    @field_validator("prices")
    @classmethod
    def _known_prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for name, price in prices.items():
            if name != name.upper():
                raise ValueError(
                    f"prices.{name}: storage classes are spelled in capitals, as S3 does; "
                    f"write prices.{name.upper()}"
                )
            if price < 0:
                raise ValueError(f"prices.{name} is {price}: a price per GB-month is 0 or more")
        return {**AWS_PRICES, **prices}

    @model_validator(mode="after")
    def _priced_classes(self) -> TieringSettings:
        used = set(self.storage_classes.values())
        for name in self.prices:
            if name not in used and name not in AWS_PRICES:
                raise ValueError(
                    f"prices.{name} prices a class no tier uses; name it in storage_classes "
                    "or remove the price"
                )
        for tier, storage_class in self.storage_classes.items():
            if storage_class not in self.prices:
                raise ValueError(
                    f"storage_classes.{tier} is {storage_class!r}, which has no price; add "
                    f"prices.{storage_class} (USD per GB-month)"
                )
        return self

    def price_of(self, tier: Tier) -> float:
        """USD per GB-month of ``tier``'s storage class."""
        return self.prices[self.storage_classes[tier]]
