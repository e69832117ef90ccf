"""PII policies, the pure part: which action each column gets, and what each action does."""

from __future__ import annotations

import datetime as dt
import hmac

import pyarrow as pa
import pytest

from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import PiiPolicy
from thermocline.quality.pii.classify import NOT_PII, ColumnFinding
from thermocline.quality.pii.policy import (
    PolicyError,
    apply,
    can_generalize,
    hmac_hex,
    plan,
    transformed_schema,
)

KEY = b"unit-test-key"


def finding(column: str, pii_class: str = "email") -> ColumnFinding:
    matched = 0 if pii_class == NOT_PII else 9
    return ColumnFinding(column, pii_class, 0.9, pii_class, 10, matched)


def known(column: str, pii_class: str = "email", review: str = "detected") -> Classification:
    return Classification("d", column, pii_class, 0.9, pii_class, 10, 9, "hash", review)


# --- plan ----------------------------------------------------------------------------------


def test_a_listed_column_gets_its_rule_whether_or_not_it_was_detected() -> None:
    policy = PiiPolicy(columns={"a": "hash", "b": {"action": "mask", "keep": 2}})
    decisions = plan(policy, [finding("a", NOT_PII)], {}, ["a", "b"])
    assert [(d.column, d.action, d.why, d.keep) for d in decisions] == [
        ("a", "hash", "listed", 4),
        ("b", "mask", "listed", 2),
    ]


def test_a_detected_unlisted_column_gets_the_default_action() -> None:
    decisions = plan(PiiPolicy(default_action="drop"), [finding("contact")], {}, ["contact", "x"])
    assert [(d.action, d.pii_class, d.why) for d in decisions] == [
        ("drop", "email", "detected"),
        (None, NOT_PII, ""),
    ]


def test_a_rejected_column_gets_no_default_action() -> None:
    current = {"contact": known("contact", review="rejected")}
    [decision] = plan(PiiPolicy(), [finding("contact")], current, ["contact"])
    assert (decision.action, decision.why) == (None, "rejected")


def test_a_rejection_does_not_cover_a_different_class_found_later() -> None:
    current = {"contact": known("contact", "email", review="rejected")}
    [decision] = plan(PiiPolicy(), [finding("contact", "iban")], current, ["contact"])
    assert (decision.action, decision.pii_class) == ("block", "iban")


def test_a_confirmed_column_gets_the_default_even_when_the_sample_misses_it() -> None:
    current = {"name": known("name", "person_name", review="confirmed")}
    policy = PiiPolicy(default_action="hash")
    [decision] = plan(policy, [finding("name", NOT_PII)], current, ["name"])
    assert (decision.action, decision.pii_class, decision.why) == (
        "hash",
        "person_name",
        "confirmed",
    )


def test_an_earlier_detection_stays_when_a_batch_holds_no_pii_in_the_column() -> None:
    [decision] = plan(PiiPolicy(default_action="mask"), [], {"e": known("e")}, ["e"])
    assert (decision.action, decision.why) == ("mask", "known")


def test_a_listed_rule_wins_over_a_rejection() -> None:
    current = {"e": known("e", review="rejected")}
    [decision] = plan(PiiPolicy(columns={"e": "hash"}), [finding("e")], current, ["e"])
    assert decision.action == "hash"


# --- apply ---------------------------------------------------------------------------------


def test_hash_is_keyed_hmac_sha256_hex_and_keeps_nulls() -> None:
    table = pa.table({"e": ["a@x.org", None, "b@y.org", "a@x.org"]})
    out = apply(table, plan(PiiPolicy(columns={"e": "hash"}), [], {}, ["e"]), key=KEY).table
    expected = [
        hmac.new(KEY, v.encode(), "sha256").hexdigest() if v else None
        for v in table["e"].to_pylist()
    ]
    assert out["e"].to_pylist() == expected
    assert out["e"][0] == out["e"][3], "the same value hashes the same"
    other = apply(table, plan(PiiPolicy(columns={"e": "hash"}), [], {}, ["e"]), key=b"other").table
    assert other["e"][0] != out["e"][0], "the key decides the hash"


def test_hash_of_a_non_string_column_hashes_its_text_and_says_so() -> None:
    table = pa.table({"card": pa.array([4111111111111111, None], pa.int64())})
    outcome = apply(table, plan(PiiPolicy(columns={"card": "hash"}), [], {}, ["card"]), key=KEY)
    assert outcome.table.schema.field("card").type == pa.string()
    assert (
        outcome.table["card"][0].as_py() == hmac.new(KEY, b"4111111111111111", "sha256").hexdigest()
    )
    assert outcome.table["card"][1].as_py() is None
    assert outcome.notes == ("card: int64 hashed as its text, stored as string",)


def test_hash_without_a_key_is_refused() -> None:
    decisions = plan(PiiPolicy(columns={"e": "hash"}), [], {}, ["e"])
    with pytest.raises(PolicyError, match="needs the HMAC key"):
        apply(pa.table({"e": ["a@x.org"]}), decisions)


def test_hash_of_sliced_and_chunked_arrays() -> None:
    values = pa.chunked_array([pa.array(["a", "b", "c"]).slice(1), pa.array([None, "a"])])
    expected = [
        hmac.new(KEY, v.encode(), "sha256").hexdigest() if v else None
        for v in ["b", "c", None, "a"]
    ]
    assert hmac_hex(values, KEY).to_pylist() == expected
    long_key = b"k" * 100  # longer than a SHA-256 block: hashed first, as RFC 2104 says
    assert (
        hmac_hex(pa.array(["x"]), long_key)[0].as_py()
        == hmac.new(long_key, b"x", "sha256").hexdigest()
    )


def test_mask_keeps_the_tail() -> None:
    table = pa.table({"card": ["4111111111111111", "12", None, "héllo"]})
    rule = {"card": {"action": "mask", "keep": 3}}
    out = apply(table, plan(PiiPolicy(columns=rule), [], {}, ["card"])).table
    assert out["card"].to_pylist() == ["*************111", "12", None, "**llo"]
    zero = {"card": {"action": "mask", "keep": 0}}
    assert (
        apply(table, plan(PiiPolicy(columns=zero), [], {}, ["card"])).table["card"][1].as_py()
        == "**"
    )


def test_drop_removes_the_column_and_allow_keeps_it() -> None:
    table = pa.table({"a": [1], "b": ["x@y.org"], "c": ["z"]})
    outcome = apply(
        table, plan(PiiPolicy(columns={"a": "drop", "b": "allow"}), [], {}, ["a", "b", "c"])
    )
    assert outcome.table.column_names == ["b", "c"]
    assert outcome.table["b"].to_pylist() == ["x@y.org"]
    assert dict(outcome.applied) == {"a": "drop", "b": "allow"}


def test_generalize_dates_and_timestamps_keep_their_type() -> None:
    when = dt.datetime(1987, 3, 14, 15, 9, tzinfo=dt.UTC)
    table = pa.table(
        {"d": [dt.date(1987, 3, 14), None], "t": pa.array([when, when], pa.timestamp("us", "UTC"))}
    )
    year = PiiPolicy(columns={"d": "generalize", "t": {"action": "generalize", "to": "month"}})
    out = apply(table, plan(year, [], {}, ["d", "t"])).table
    assert out["d"].to_pylist() == [dt.date(1987, 1, 1), None]
    assert out["t"][0].as_py() == dt.datetime(1987, 3, 1, tzinfo=dt.UTC)
    assert out.schema == table.schema


def test_generalize_strings_by_their_shape() -> None:
    values = [
        "1987-03-14",
        "14/03/1987",
        "10.1.2.3",
        "2001:db8:85a3::8a2e:370:7334",
        "52.520008, 13.404954",
        "not a shape",
        None,
    ]
    table = pa.table({"v": values, "f": [52.520008, 13.404954, None, 1.0, 2.0, 3.0, 4.005]})
    policy = PiiPolicy(columns={"v": {"action": "generalize", "to": "month"}, "f": "generalize"})
    outcome = apply(table, plan(policy, [], {}, ["v", "f"]))
    assert outcome.table["v"].to_pylist() == [
        "1987-03",
        "1987",
        "10.1.2.0",
        "2001:db8:85a3::",
        "52.52, 13.4",
        None,
        None,
    ]
    assert outcome.table["f"].to_pylist()[:2] == [52.52, 13.4]
    assert outcome.notes == ("v: 1 value(s) of no known shape generalized to null",)


def test_generalize_refuses_types_it_cannot_generalize() -> None:
    assert not can_generalize(pa.int64())
    assert can_generalize(pa.date32())
    decisions = plan(PiiPolicy(columns={"n": "generalize"}), [], {}, ["n"])
    with pytest.raises(PolicyError, match="cannot generalize a int64 column"):
        apply(pa.table({"n": [1]}), decisions)


def test_block_leaves_the_batch_as_it_came_and_names_the_fix() -> None:
    table = pa.table({"contact": ["a@x.org"], "card": ["4111111111111111"]})
    decisions = plan(
        PiiPolicy(columns={"card": "hash"}), [finding("contact")], {}, table.column_names
    )
    outcome = apply(table, decisions, key=KEY)
    assert outcome.table.equals(table)
    assert [d.column for d in outcome.blocked] == ["contact"]
    [reason] = outcome.reasons
    assert "contact (email, detected)" in reason
    assert "pii: {columns: {contact: hash}}" in reason
    assert "a@x.org" not in reason


def test_the_schema_after_the_policy() -> None:
    schema = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("c", pa.date32())])
    policy = PiiPolicy(columns={"a": "hash", "b": "drop", "c": "generalize"})
    after = transformed_schema(schema, plan(policy, [], {}, schema.names))
    assert after == pa.schema([("a", pa.string()), ("c", pa.date32())])
