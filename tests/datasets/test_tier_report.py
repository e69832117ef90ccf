"""The tier cost report (pure): files, bytes, billed bytes and monthly cost per tier, the
128 KB per-object minimum of every class colder than STANDARD, and the saving against all hot."""

from __future__ import annotations

import pytest

from thermocline.catalog.config import TieringSettings
from thermocline.datasets.tables.tier_report import GB, billed_bytes, cost_report

KB = 1024


def test_each_tier_is_priced_by_its_class() -> None:
    files = [("hot", 3 * GB), ("warm", 2 * GB), ("cold", 4 * GB), ("archive", 10 * GB)]
    report = cost_report("rides", files, TieringSettings())
    assert {t: (c.files, c.bytes, c.storage_class) for t, c in report.tiers.items()} == {
        "hot": (1, 3 * GB, "STANDARD"),
        "warm": (1, 2 * GB, "STANDARD_IA"),
        "cold": (1, 4 * GB, "GLACIER_IR"),
        "archive": (1, 10 * GB, "DEEP_ARCHIVE"),
    }
    expected = 3 * 0.023 + 2 * 0.0125 + 4 * 0.004 + 10 * 0.00099
    assert report.monthly_usd == pytest.approx(expected)
    assert report.all_hot_usd == pytest.approx(19 * 0.023)
    assert report.savings_usd == pytest.approx(19 * 0.023 - expected)
    assert report.savings_share == pytest.approx(1 - expected / (19 * 0.023))
    assert (report.files, report.bytes) == (4, 19 * GB)


def test_a_small_object_is_billed_as_128_kb_outside_hot() -> None:
    assert billed_bytes(10 * KB, "STANDARD") == 10 * KB
    assert billed_bytes(10 * KB, "STANDARD_IA") == 128 * KB
    assert billed_bytes(10 * KB, "GLACIER") == 128 * KB
    assert billed_bytes(200 * KB, "GLACIER_IR") == 200 * KB
    # A thousand 1 KB objects in warm cost more than hot: the report says so, as a loss.
    report = cost_report("tiny", [("warm", KB)] * 1000, TieringSettings())
    assert report.tiers["warm"].billed_bytes == 1000 * 128 * KB
    assert report.monthly_usd == pytest.approx(1000 * 128 * KB / GB * 0.0125)
    assert report.savings_usd < 0


def test_the_project_s_classes_and_prices_are_used() -> None:
    rgw = TieringSettings.model_validate(
        {
            "storage_classes": {"cold": "GLACIER", "archive": "GLACIER"},
            "prices": {"STANDARD": 0.03, "GLACIER": 0.002},
        }
    )
    report = cost_report("rides", [("cold", GB), ("archive", GB), ("hot", GB)], rgw)
    assert report.tiers["cold"].storage_class == report.tiers["archive"].storage_class == "GLACIER"
    assert report.tiers["cold"].usd_per_gb_month == 0.002
    assert report.monthly_usd == pytest.approx(0.002 * 2 + 0.03)
    assert report.all_hot_usd == pytest.approx(3 * 0.03)


def test_an_empty_table_reports_zeros_in_every_tier() -> None:
    report = cost_report("empty", [], TieringSettings())
    assert list(report.tiers) == ["hot", "warm", "cold", "archive"]
    assert all(c.files == c.bytes == 0 and c.monthly_usd == 0 for c in report.tiers.values())
    assert (report.monthly_usd, report.all_hot_usd, report.savings_share) == (0, 0, 0.0)
