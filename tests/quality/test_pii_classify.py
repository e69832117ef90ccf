"""Column classification (quality/pii/classify.py): value matches and name hints into one class.

Pure unit tests on Arrow arrays: helpful, misleading and opaque names, mixed free text,
non-string columns, sampling, confidence ordering; and a smoke run of the benchmark's generator
and scorer (benchmarks/pii_data.py) on a tiny set, without its optional packages.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from thermocline.quality.pii.classify import (
    NOT_PII,
    ColumnFinding,
    classify_column,
    classify_columns,
    classify_table,
    sample_values,
)

EMAILS = [f"user{i}@example.com" for i in range(40)]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000000000004"] * 10
PROSE = [f"The parcel number {i} arrived late and the customer was not happy" for i in range(60)]


def test_helpful_and_opaque_names_find_the_class_helpful_with_more_confidence() -> None:
    helpful = classify_column("customer_email", pa.array(EMAILS))
    opaque = classify_column("col_7", pa.array(EMAILS))
    assert (helpful.pii_class, opaque.pii_class) == ("email", "email")
    assert (helpful.sampled, helpful.matched) == (40, 40)
    assert helpful.confidence > opaque.confidence


def test_a_misleading_name_neither_hides_the_values_nor_invents_a_class() -> None:
    # E-mails under a phone name are e-mails, with less confidence than under an opaque name.
    misled = classify_column("phone", pa.array(EMAILS))
    assert misled.pii_class == "email"
    assert misled.confidence < classify_column("col_7", pa.array(EMAILS)).confidence
    # A PII name on values that hold none (digests of e-mails) is not PII: names never decide.
    digests = pa.array([f"{i:032x}" for i in range(1000, 1040)])
    hashed = classify_column("email_hash", digests)
    assert hashed.pii_class == NOT_PII
    assert hashed.confidence < classify_column("checksum", digests).confidence


def test_a_hint_lowers_the_share_a_dirty_column_needs() -> None:
    dirty = pa.array(EMAILS[:12] + ["see ticket", "ask support", "pending"] * 10)  # 12 of 42
    named = classify_column("contact_email", dirty)
    assert named.pii_class == "email"
    # Without the name it is still PII (no token is an e-mail by chance), less surely.
    opaque = classify_column("col_3", dirty)
    assert (opaque.pii_class, opaque.matched) == ("email", 12)
    assert opaque.confidence < named.confidence


def test_a_few_emails_among_ids_make_a_mixed_column_but_a_few_cards_do_not() -> None:
    ids = [f"ORD-{i:08d}" for i in range(200)]
    assert classify_column("ref", pa.array([*ids, "ana@example.com"])).pii_class == "email"
    # 4111 1111 1111 1111 passes Luhn; among tokens a few such hits prove nothing.
    cards = pa.array([*ids, "4111111111111111", "4012888888881881"])
    assert classify_column("ref", cards).pii_class == NOT_PII


def test_placeholders_and_blanks_are_not_sampled() -> None:
    values = pa.array(EMAILS[:10] + ["", "N/A", "  ", "unknown", None, "-"] * 5)
    found = classify_column("col", values)
    assert (found.pii_class, found.sampled, found.matched) == ("email", 10, 10)
    assert not found.mixed


def test_free_text_with_one_email_is_mixed_pii_with_its_share() -> None:
    text = pa.array([*PROSE[:59], "please write to jane.doe@example.org about the refund"])
    found = classify_column("notes", text)
    assert found.pii_class == "email"
    assert found.mixed
    assert (found.sampled, found.matched) == (60, 1)
    assert found.share == pytest.approx(1 / 60)


def test_one_card_number_in_tokens_is_not_enough() -> None:
    # Among order ids (not prose) a lone Luhn-valid number is chance: a tenth of random
    # 16-digit ids pass the checksum. In prose one confirmed card is PII.
    tokens = pa.array([f"ORD{i:06d}" for i in range(59)] + ["4111111111111111"])
    assert classify_column("ref", tokens).pii_class == NOT_PII
    prose = pa.array([*PROSE[:59], "card 4111 1111 1111 1111 was declined at the till"])
    assert classify_column("ref", prose).pii_class == "payment_card"


def test_mixed_findings_rank_below_whole_column_findings() -> None:
    whole = classify_column("notes", pa.array(EMAILS))
    mixed = classify_column("notes", pa.array([*PROSE[:39], "mail me at a@example.org today"]))
    assert whole.confidence > mixed.confidence
    assert not whole.mixed
    assert mixed.mixed


def test_integer_card_numbers_are_cards_and_integer_ids_are_not() -> None:
    numbers = [int(c.replace(" ", "").replace("-", "")) for c in CARDS]
    assert classify_column("c1", pa.array(numbers, pa.int64())).pii_class == "payment_card"
    ids = pa.array(range(10_000_000, 10_000_040), pa.int64())
    assert classify_column("card_id", ids).pii_class == NOT_PII


def test_dates_are_birth_dates_only_under_a_birth_name() -> None:
    days = [dt.date(1950, 1, 1) + dt.timedelta(days=397 * i) for i in range(40)]
    for values in (pa.array(days, pa.date32()), pa.array([d.isoformat() for d in days])):
        assert classify_column("date_of_birth", values).pii_class == "date_of_birth"
        assert classify_column("order_date", values).pii_class == NOT_PII
    midnight = pa.array([dt.datetime.combine(d, dt.time()) for d in days], pa.timestamp("us"))
    assert classify_column("dob", midnight).pii_class == "date_of_birth"
    # A time of day makes a timestamp an event, whatever the name says.
    events = pa.array([dt.datetime.combine(d, dt.time(9, 30)) for d in days], pa.timestamp("us"))
    assert classify_column("dob", events).pii_class == NOT_PII


def test_floats_are_coordinates_only_under_a_geo_name_and_in_range() -> None:
    lats = pa.array([51.507351 + i * 0.013 for i in range(40)], pa.float64())
    assert classify_column("pickup_lat", lats).pii_class == "geo_coordinates"
    assert classify_column("price", lats).pii_class == NOT_PII
    scores = pa.array([100.125 + 9.5 * i for i in range(40)], pa.float64())  # mostly > 180
    assert classify_column("lng_score", scores).pii_class == NOT_PII


def test_version_strings_are_not_ip_addresses() -> None:
    versions = pa.array([f"{i % 9}.{i % 23}.{i % 31}.{i % 47}" for i in range(60)])
    assert classify_column("col_4", versions).pii_class == NOT_PII
    addresses = pa.array([f"10.{i}.{(i * 37) % 256}.{(i * 91) % 254 + 1}" for i in range(60)])
    assert classify_column("col_4", addresses).pii_class == "ipv4"


def test_types_that_hold_no_pii_and_empty_columns() -> None:
    assert classify_column("flag", pa.array([True, False])) == ColumnFinding(
        "flag", NOT_PII, 1.0, "", 0, 0
    )
    empty = classify_column("email", pa.array([None, None], pa.string()))
    assert (empty.pii_class, empty.sampled, empty.confidence) == (NOT_PII, 0, 0.0)
    assert classify_column("x", pa.array([], pa.null())).pii_class == NOT_PII


def test_small_columns_are_read_whole_and_large_ones_sampled_reproducibly() -> None:
    small = pa.array(EMAILS)
    assert sample_values(small, 100).equals(small)
    large = pa.chunked_array([pa.array(range(5_000)), pa.array(range(5_000, 12_000))])
    first, again = sample_values(large, 1_000, seed=3), sample_values(large, 1_000, seed=3)
    assert len(first) == 1_000
    assert first.equals(again)
    assert not first.equals(sample_values(large, 1_000, seed=4))
    assert first.to_pylist() == sorted(first.to_pylist())  # column order kept
    found = classify_column("c", pa.array(EMAILS * 100), sample_rows=500, seed=1)
    assert (found.sampled, found.matched) == (500, 500)
    assert found == classify_column("c", pa.array(EMAILS * 100), sample_rows=500, seed=1)


def test_confidence_grows_with_the_sample() -> None:
    few = classify_column("email", pa.array(EMAILS[:2]))
    many = classify_column("email", pa.array(EMAILS))
    assert few.pii_class == many.pii_class == "email"
    assert few.confidence < many.confidence <= 1.0


def test_classify_columns_and_table_agree_with_one_column_at_a_time() -> None:
    table = pa.table(
        {
            "email": pa.array(EMAILS),
            "notes": pa.array(PROSE[:40]),
            "cards": pa.array(CARDS),
            "n": pa.array(range(40)),
        }
    )
    one_by_one = [classify_column(n, table.column(n)) for n in table.column_names]
    assert classify_table(table) == one_by_one
    assert classify_columns([(n, table.column(n)) for n in table.column_names]) == one_by_one
    assert [f.pii_class for f in one_by_one] == ["email", NOT_PII, "payment_card", NOT_PII]


def test_sample_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sample_rows"):
        classify_column("c", pa.array(EMAILS), sample_rows=0)


def _benchmark_data() -> object:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "pii_data.py"
    spec = importlib.util.spec_from_file_location("pii_data_smoke", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_generator_and_scorer_run_on_a_tiny_set() -> None:
    data = _benchmark_data()
    columns = data.make_split(7, 40)  # type: ignore[attr-defined]
    assert len(columns) == 40
    again = data.make_split(7, 40)  # type: ignore[attr-defined]
    assert [(c.name, c.label) for c in columns] == [(c.name, c.label) for c in again]
    assert all(a.values.equals(b.values) for a, b in zip(columns, again, strict=True))
    labels = [c.label for c in columns]
    assert data.NONE in labels
    assert len(set(labels)) > 5
    found = classify_columns([(c.name, c.values) for c in columns], sample_rows=100)
    scores = data.score(labels, [f.pii_class for f in found])  # type: ignore[attr-defined]
    perfect = data.score(labels, labels)  # type: ignore[attr-defined]
    assert 0.0 <= scores.macro_f1 <= 1.0
    assert all(f1 == 1.0 for _, _, f1, n in perfect.per_class.values() if n)
    wrong = data.score(labels, [data.NONE] * len(labels))  # type: ignore[attr-defined]
    assert wrong.macro_f1 == 0.0
