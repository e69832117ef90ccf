"""Every PII detector on valid values, invalid values and near misses (values that look like the
class and are not), plus the shared entry points: nulls, chunked and integer input, name hints."""

from __future__ import annotations

import random
import uuid

import pyarrow as pa
import pytest

from thermocline.quality.pii import DETECTORS, Detector, detect, hint_matches, match_share

# (detector, values that must match, values that must not)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "email": (
        [
            "rider@example.com",
            "a.b+tag@mail.example.co.uk",
            "Contact: Jane <jane_doe@sub.example.org> today",
            "UPPER@EXAMPLE.COM",
            "x%y@example.io.",
            "a" * 64 + "@" + "b" * 63 + ".com",
        ],
        [
            "not an email",
            "user@localhost",  # no top-level domain
            "a..b@example.com",  # two dots in a row
            ".a@example.com",  # leading dot
            "a.@example.com",  # trailing dot
            "@example.com",
            "user@example.c",  # one-letter TLD
            "user@-example.com",
            "a" * 65 + "@example.com",  # local part over 64
            "user@" + "b" * 64 + ".com",  # label over 63
            "user@" + ".".join(["c" * 60] * 5) + ".com",  # address over 254
            "price 3@4.5",
        ],
    ),
    "payment_card": (
        [
            "4111111111111111",  # Visa test number
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",  # Mastercard
            "378282246310005",  # Amex, 15 digits
            "3782 822463 10005",  # Amex grouping
            "2223003122003222",  # Mastercard 2-series
            "6011111111111117",  # Discover
            "paid with 4242424242424242 yesterday",
        ],
        [
            "4111111111111112",  # 16 digits failing Luhn
            "1234567812345678",  # fails Luhn
            "0000000000000000",  # passes Luhn, not a card
            "4444444444444444",  # one repeated digit
            "8111111111111119",  # passes Luhn, no issuer starts with 8
            "79927398713",  # Luhn-valid but 11 digits
            "41111111111111111111",  # 20 digits
            "ORD-20231104-000123",  # order id
            "1700000000000",  # epoch milliseconds
            "4111-1111-11111111",  # odd grouping
            "4111-1111-1111-111",  # last group short
            "ORD-4111111111111111",  # inside an id
            "4111111111111111abc",
            "12345678901234567890123",
        ],
    ),
    "iban": (
        [
            "GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "de89370400440532013000",
            "FR1420041010050500013M02606",
            "NO9386011117947",  # shortest
            "IBAN: NL91ABNA0417164300.",
        ],
        [
            "GB82WEST12345698765433",  # checksum off by one
            "DE89370400440532013001",
            "GB82WEST1234569876543",  # one character short for GB
            "ZZ82WEST12345698765432",  # no such country
            "DE8937040044053201300",
            "ABCD1234EFGH5678",
            "SKU12345678901234",
        ],
    ),
    "us_ssn": (
        [
            "123-45-6788",
            "001-01-0001",
            "899-99-9999",
            "ssn 536 22 1234",
        ],
        [
            "000-12-3456",  # area 000
            "666-12-3456",  # area 666
            "900-12-3456",  # areas 900-999
            "999-12-3456",
            "123-00-4567",  # group 00
            "123-45-0000",  # serial 0000
            "078-05-1120",  # the Woolworth wallet number
            "219-09-9999",  # advertising
            "123-45-6789",  # the example everyone uses
            "123-45-67890",  # too long
            "2023-01-15",  # a date
            "555-123-4567",  # a phone number
            "123456788",  # bare nine digits: left to name hints
            "1-123-45-6788",
        ],
    ),
    "ipv4": (
        [
            "10.0.0.1",
            "192.168.1.254",
            "255.255.255.255",
            "0.0.0.0",
            "client 8.8.8.8 connected",
            "from 10.0.0.1.",
            "10.1.2.3:8080",
        ],
        [
            "1.2.3.400",  # octet over 255
            "256.1.1.1",
            "999.999.999.999",
            "1.2.3",
            "1.2.3.4.5",  # a five-part version string
            "v1.2.3.4.5",
            "01.02.03.04",  # leading zeros
            "3.14159",
            "2023.10.12",
        ],
    ),
    "ipv6": (
        [
            "2001:db8::1",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "fe80::1%eth0",
            "::1",
            "::ffff:10.0.0.1",
            "[2001:db8::7]:443",
            "FE80::0202:B3FF:FE1E:8329",
        ],
        [
            "12:30:45",  # a time
            "2023-01-15T12:30:45Z",
            "00:1a:2b:3c:4d:5e",  # a MAC address
            "2001:db8::1::2",  # two '::'
            "2001:db8:85a3:0:0:8a2e:370:7334:1",  # nine groups
            "12345::1",  # group over four digits
            "a:b",
            "not::an::address",
        ],
    ),
    "mac_address": (
        [
            "00:1a:2b:3c:4d:5e",
            "00-1A-2B-3C-4D-5E",
            "001a.2b3c.4d5e",
            "ap bssid=AA:BB:CC:DD:EE:FF",
        ],
        [
            "00:1a:2b:3c:4d",  # five groups
            "00:1a:2b:3c:4d:5e:6f",  # seven groups
            "00:1a:2b-3c:4d:5e",  # mixed separators
            "00:1g:2b:3c:4d:5e",  # not hex
            "12:30:45",
            "2001:db8::1",
        ],
    ),
    # More cases, near misses above all, in test_pii_names.py.
    "person_name": (
        ["John Smith", "Dr. Anna-Lena Müller", "Smith, John", "Pieter van der Berg"],
        ["Apple Watch", "Main Street", "Acme Corp", "Lake Amanda", "john smith"],
    ),
    "street_address": (
        ["221B Baker Street", "Hauptstraße 5", "12 rue de la Paix", "Calle Mayor 3"],
        ["3 items in cart", "version 1.2.3.4", "Main Street", "12.99 EUR"],
    ),
}

# Values no detector may claim: identifiers, numbers and text found in every lake.
HARD_NEGATIVES = [
    str(uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF)),
    "550e8400-e29b-41d4-a716-446655440000",
    "0a1b2c3d-4111-1111-1111-1111abcdef12",  # digit groups that spell a Luhn-valid card
    "ORD-2023-000123",
    "order_9f8e7d6c",
    "19.99",
    "2023-10-12T08:15:30.123456+00:00",
    "d41d8cd98f00b204e9800998ecf8427e",  # md5
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256
    "The quick brown fox jumps over the lazy dog.",
    "",
    "   ",
    "N/A",
]


def test_every_detector_has_cases() -> None:
    assert set(CASES) == set(DETECTORS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_confirms_valid_values(name: str) -> None:
    valid, _ = CASES[name]
    hits = detect(DETECTORS[name], pa.array(valid)).to_pylist()
    assert [v for v, hit in zip(valid, hits, strict=True) if not hit] == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_detector_rejects_invalid_values_and_near_misses(name: str) -> None:
    _, invalid = CASES[name]
    hits = detect(DETECTORS[name], pa.array(invalid)).to_pylist()
    assert [v for v, hit in zip(invalid, hits, strict=True) if hit] == []


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_no_detector_claims_hard_negatives(name: str) -> None:
    hits = detect(DETECTORS[name], pa.array(HARD_NEGATIVES)).to_pylist()
    assert [v for v, hit in zip(HARD_NEGATIVES, hits, strict=True) if hit] == []


def test_no_detector_claims_random_uuids() -> None:
    rng = random.Random(14)
    uuids = pa.array([str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20_000)])
    for det in DETECTORS.values():
        assert match_share(det, uuids) == (0, 20_000), det.name


def test_version_strings_pass_as_ipv4_values_only_when_they_are_addresses() -> None:
    # A four-part version 1.2.3.4 is a syntactically valid address; telling a version column
    # from an address column is column classification's job (name hints, distribution).
    assert detect(DETECTORS["ipv4"], pa.array(["1.2.3.4", "1.2.3.256"])).to_pylist() == [
        True,
        False,
    ]


def test_a_later_candidate_in_the_same_value_counts() -> None:
    values = pa.array(
        [
            "order 1234567812345678 paid with 4111111111111111",
            "build 1.2.3.999 from 10.0.0.1",
            "ids 000-12-3456, 666-12-3456 and 123-45-6788",
            "1234567812345678 1234567812345679 1234567812345670",
        ]
    )
    assert detect(DETECTORS["payment_card"], values).to_pylist() == [True, False, False, False]
    assert detect(DETECTORS["ipv4"], values).to_pylist() == [False, True, False, False]
    assert detect(DETECTORS["us_ssn"], values).to_pylist() == [False, False, True, False]


def test_match_share_counts_confirmed_among_non_null() -> None:
    values = pa.array(["a@example.com", None, "nope", "b@example.org", None, "c@@example.com"])
    assert match_share(DETECTORS["email"], values) == (2, 4)


def test_detect_keeps_nulls_and_order() -> None:
    values = pa.array([None, "4111111111111111", "4111111111111112", None, "x"])
    assert detect(DETECTORS["payment_card"], values).to_pylist() == [None, True, False, None, False]


def test_empty_and_all_null_arrays() -> None:
    for det in DETECTORS.values():
        assert match_share(det, pa.array([], pa.string())) == (0, 0)
        assert match_share(det, pa.array([None, None], pa.string())) == (0, 0)


def test_chunked_large_and_dictionary_strings() -> None:
    cards = ["4111111111111111", "1234567812345678", None]
    chunked = pa.chunked_array([pa.array(cards[:1]), pa.array(cards[1:])])
    det = DETECTORS["payment_card"]
    assert match_share(det, chunked) == (1, 2)
    assert match_share(det, pa.array(cards, pa.large_string())) == (1, 2)
    assert match_share(det, pa.array(cards).dictionary_encode()) == (1, 2)


def test_sliced_arrays_read_the_right_bytes() -> None:
    values = pa.array(["x", "4111111111111112", "4111111111111111", "y"])
    assert detect(DETECTORS["payment_card"], values.slice(1, 2)).to_pylist() == [False, True]


def test_integer_columns_are_read_as_decimal_text() -> None:
    values = pa.array([4111111111111111, 4111111111111112, None], pa.int64())
    assert match_share(DETECTORS["payment_card"], values) == (1, 2)


def test_other_types_are_refused_with_advice() -> None:
    with pytest.raises(TypeError, match="cast the column first"):
        match_share(DETECTORS["email"], pa.array([1.5, 2.5]))


def test_only_candidates_reach_the_validator() -> None:
    seen: list[str] = []

    def record(candidates: pa.StringArray) -> pa.BooleanArray:
        seen.extend(candidates.to_pylist())
        return pa.array([True] * len(candidates))

    det = Detector("digits", r"(?:^|\D)(?P<value>\d{3})(?:$|\D)", validator=record)
    assert match_share(det, pa.array(["abc", "id 123 here", None, "4567"])) == (1, 3)
    assert seen == ["123"]


def test_a_pattern_without_a_value_group_is_refused() -> None:
    with pytest.raises(ValueError, match="named group"):
        Detector("broken", r"\d+")


@pytest.mark.parametrize(
    ("name", "column", "expected"),
    [
        ("email", "rider_email", True),
        ("email", "RiderEmail", True),
        ("email", "e_mail", True),
        ("email", "emailed_at", False),
        ("payment_card", "cc_number", True),
        ("payment_card", "ccnum", True),
        ("payment_card", "card_number", True),
        ("payment_card", "scorecard", False),
        ("iban", "payout_iban", True),
        ("iban", "bank_account", True),
        ("iban", "account_id", False),
        ("us_ssn", "SSN", True),
        ("us_ssn", "social_security_number", True),
        ("ipv4", "remote_addr", True),
        ("ipv4", "hostname", False),
        ("ipv4", "client_ip", True),
        ("ipv4", "zip", False),
        ("mac_address", "deviceMac", True),
        ("mac_address", "machine", False),
        ("mac_address", "device_id", False),
    ],
)
def test_name_hints(name: str, column: str, expected: bool) -> None:
    assert hint_matches(DETECTORS[name], column) is expected


def test_registry_is_read_only_and_keyed_by_class_name() -> None:
    for key, det in DETECTORS.items():
        assert det.name == key
        assert det.name_hints, f"{key} has no column-name hints"
    with pytest.raises(TypeError):
        DETECTORS["x"] = DETECTORS["email"]  # type: ignore[index]
