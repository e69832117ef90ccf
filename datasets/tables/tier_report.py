"""What a dataset's storage costs per tier, and what its tiering saves against keeping it all
hot (pure).

The report counts the data files a table keeps (those the latest version or a tag or release
references: the files a tier plan covers) in the tier the inventory says each is in, and
prices each tier by its storage class (``tiering.prices`` of the project, USD per GB-month;
AWS list prices by default). Every class colder than ``STANDARD`` bills an object under 128 KB
as 128 KB (S3's minimum for the IA and Glacier classes), so ``billed_bytes`` can exceed
``bytes``; ``all_hot_usd`` is the same files at the ``STANDARD`` price, and ``savings_usd`` the
difference. A GB is 2**30 bytes, as S3 bills.

:func:`~thermocline.datasets.tables.tier_facts.report_dataset` reads the facts and calls
:func:`cost_report`; the CLI (``thermocline tier report``) and the Dagster tiering job (numeric
asset metadata per tier) print the same :class:`TierReport`.

>>> from thermocline.catalog.config import TieringSettings
>>> report = cost_report("rides", [("hot", 2**30), ("warm", 2**30), ("warm", 1024)],
...                      TieringSettings())
>>> report.tiers["warm"].files, report.tiers["warm"].billed_bytes == 2**30 + 128 * 1024
(2, True)
>>> round(report.monthly_usd, 4), round(report.all_hot_usd, 4), round(report.savings_usd, 4)
(0.0355, 0.046, 0.0105)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from thermocline.catalog.config import TIERS, Tier, TieringSettings
from thermocline.datasets.tables.tier_plan import MIN_BILLED_BYTES

__all__ = ["GB", "HOT_CLASS", "TierCost", "TierReport", "billed_bytes", "cost_report"]

GB = 2**30
"""Bytes in the GB of a GB-month price."""
HOT_CLASS = "STANDARD"
"""The class of hot data, and the one class without a per-object minimum."""


@dataclass(frozen=True)
class TierCost:
    """One tier of one dataset: its files, their bytes, the bytes its class bills (the 128 KB
    per-object minimum applied), the class, its price and the monthly cost."""

    tier: Tier
    storage_class: str
    files: int
    bytes: int
    billed_bytes: int
    usd_per_gb_month: float
    monthly_usd: float


@dataclass(frozen=True)
class TierReport:
    """Cost per tier of one dataset, the whole, the same bytes all hot, and the saving."""

    dataset: str
    tiers: Mapping[Tier, TierCost]
    files: int
    bytes: int
    monthly_usd: float
    all_hot_usd: float

    @property
    def savings_usd(self) -> float:
        """USD per month the tiers save against keeping every file hot (negative: they cost
        more, e.g. many small objects billed at the minimum)."""
        return self.all_hot_usd - self.monthly_usd

    @property
    def savings_share(self) -> float:
        """The saving as a share of the all-hot cost (0 for an empty table)."""
        return self.savings_usd / self.all_hot_usd if self.all_hot_usd else 0.0


def billed_bytes(size_bytes: int, storage_class: str) -> int:
    """The bytes ``storage_class`` bills for one object of ``size_bytes``."""
    if storage_class == HOT_CLASS:
        return size_bytes
    return max(size_bytes, MIN_BILLED_BYTES)


def cost_report(
    dataset: str, files: Iterable[tuple[Tier, int]], settings: TieringSettings
) -> TierReport:
    """The report of ``dataset`` whose data files are ``files``, (tier, size in bytes) each,
    priced by ``settings``. Every tier is in the report, an empty one with zeros."""
    counts = {tier: [0, 0, 0] for tier in TIERS}
    for tier, size_bytes in files:
        storage_class = settings.storage_classes[tier]
        counts[tier][0] += 1
        counts[tier][1] += size_bytes
        counts[tier][2] += billed_bytes(size_bytes, storage_class)
    tiers = {
        tier: TierCost(
            tier,
            settings.storage_classes[tier],
            files_in,
            bytes_in,
            billed,
            settings.price_of(tier),
            billed / GB * settings.price_of(tier),
        )
        for tier, (files_in, bytes_in, billed) in counts.items()
    }
    total = sum(c.bytes for c in tiers.values())
    return TierReport(
        dataset,
        tiers,
        sum(c.files for c in tiers.values()),
        total,
        sum(c.monthly_usd for c in tiers.values()),
        total / GB * settings.prices[HOT_CLASS],
    )
