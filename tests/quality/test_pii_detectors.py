"""Every PII detector on valid values, invalid values and near misses (values that look like the
class and are not), plus the shared entry points: nulls, chunked and integer input, name hints."""

from __future__ import annotations

import hashlib
import random
import secrets
import string
import uuid

import phonenumbers
import pyarrow as pa
import pytest

from thermocline.quality.pii import (
    DETECTORS,
    PII_CLASSES,
    Detector,
    detect,
    hint_matches,
    match_share,
)
from thermocline.quality.pii.vectors import judge_unique

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
    "phone": (
        [
            "+44 20 7946 0958",
            "+1 (415) 555-2671",
            "+14155552671",  # E.164
            "0049 30 1234567",
            "+44 (0)20 7946 0958",
            "+33 6 12 34 56 78",
            "+91 98765 43210",
            "+81 3-1234-5678",
            "+43 0512 123456",  # a trunk 0 kept after the code
            "(415) 555-2671",
            "415-555-2671",
            "1-415-555-2671",
            "020 7946 0958",  # UK national
            "030 12345678",  # German national
            "01 23 45 67 89",  # French national
            "call me at +44 7911 123456 tonight",
            "tel:+14155552671",
        ],
        [
            "+1 555 123",  # too short
            "+99 123 456 789",  # no calling code 99
            "+44 20 7946 095",  # one digit short for London
            "+0 123 456 789",
            "123-456-7890",  # area codes never start with 1
            "000-000-0000",
            "123-45-6788",  # an SSN
            "2023-10-12",
            "01-02-2023",
            "01.02.2023",
            "12:30:45",
            "ORD-555-0123",  # an order number
            "4111 1111 1111 1111",  # a card
            "4155552671",  # bare digits: only under a phone-like name (phone_digits)
            "v2.10.3",
        ],
    ),
    "phone_digits": (
        ["4155552671", "14155552671", "442079460958", "02079460958"],
        [
            "1234567890",  # area 123
            "0000000000",
            "99123456789",  # no calling code 99
            "123456789",  # nine digits
            "1234567890123456",  # sixteen
            "+4155552671x",
            "ORD-4155552671",
        ],
    ),
    "national_id": (
        [
            "AB 12 34 56 C",  # UK NINO
            "AB123456C",
            "130 692 544",  # Canada SIN
            "2 95 10 99 126 111 93",  # France NIR
            "295109912611193",
            "54362315K",  # Spain DNI
            "X2482300W",  # Spain NIE
            "RCCMNL83S18D969H",  # Italy codice fiscale
            "cf: RCCMNL83S18D969H.",
            "2341 2341 2346",  # India Aadhaar
            "ABCPE1234F",  # India PAN
            "390.533.447-05",  # Brazil CPF
            "36 574 261 809",  # Germany Steuer-ID
            "880320-0016",  # Sweden personnummer
            "19880320-0016",
        ],
        [
            "GB123456A",  # NINO prefix never allocated
            "QQ123456C",  # Q is never a first letter
            "AB123456E",  # suffix beyond D
            "046 454 286",  # SIN starting with 0: not issued
            "130 692 545",  # Luhn off by one
            "2 95 10 99 126 111 94",  # NIR key off by one
            "54362315A",  # wrong DNI letter
            "X2482300A",
            "RCCMNL83S18D969A",  # wrong check letter
            "2341 2341 2347",  # Verhoeff fails
            "ABCDE1234F",  # PAN holder type D does not exist
            "390.533.447-06",
            "36 574 261 808",
            "880320-0017",  # Luhn fails
            "881320-0016",  # month 13
            "123-45-6788",  # a US SSN has its own class
            "SKU-54362315K",  # inside a longer token
            "415-555-2671",
        ],
    ),
    "date_of_birth": (
        [
            "1985-03-12",
            "1985/03/12",
            "12/03/1985",
            "12/31/1985",  # month first
            "31.12.1985",
            "12 March 1985",
            "12th Mar 1985",
            "March 12, 1985",
            "sept 3, 1999",
            "19850312",
            "born 1985-03-12, London",
            "2000-02-29",  # a leap day
            "1900-01-01",
        ],
        [
            "1985-02-30",
            "1985-13-01",
            "13/13/1985",
            "1900-02-29",  # 1900 was no leap year
            "1899-12-31",  # before the window
            "2031-01-01",  # after it
            "1985-03/12",  # mixed separators
            "2023-10-12T08:15:30Z",  # a timestamp is an event, not a birth
            "2023-10-12 08:15:30",
            "12 March 1985 10:00",
            "12 Marchy 1985",
            "v1985.03.12",
            "20231012123000",
            "1.2.3.4",
        ],
    ),
    "geo_coordinates": (
        [
            "51.5074, -0.1278",
            "51.5074,-0.1278",
            "-33.8688 151.2093",
            "(40.7128, -74.0060)",
            "POINT(-74.0060 40.7128)",  # WKT: longitude first
            "40.7128° N, 74.0060° W",
            "40°26'46\"N 79°58'56\"W",
            "40°26\u203246\u2033N 79°58\u203256\u2033W",
            "picked up at 48.8566, 2.3522 then",
        ],
        [
            "19.99, 29.99",  # prices: two decimals
            "1.2.3.4",
            "10.1234, 190.1234",  # longitude out of range
            "95.1234, 95.1234",  # neither is a latitude
            "0.000, 0.000",  # null island: no location
            "95°26'46\"N 79°58'56\"W",
            "51.5074",  # one number: only under a geo name (geo_single)
            "v1.2.345,6.789",
        ],
    ),
    "geo_single": (
        ["51.5074", "-0.1278", "151.2093", " -33.8688 "],
        ["190.1234", "19.99", "1.2.3.4", "0.000", "lat 51.5074", "51.5074 km"],
    ),
    "secret": (
        [
            "AKIAIOSFODNN7EXAMPLE",
            "aws_access_key_id=ASIAY34FZKBOKMUTVV7A",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # AWS secret key: by entropy
            "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
            "glpat-xxxxXXXX1234yyyyZZZZ",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "rk_live_51H8abcdefghijklmnop",
            "AIzaSyA-1234567890abcdefghijklmnopqrstu",
            "sk-proj-abcdEFGH1234ijklMNOP5678qrst",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "token: 3jKl2mjXYsqEIBnUsL7iXdwcwSKXn3-s",
        ],
        [
            "d41d8cd98f00b204e9800998ecf8427e",  # md5
            "11f6ad8ec52a2984abaafd7c3b516503785c2072",  # sha1
            "2D711642B726B04401627CA9FBAC32F5C8530FB1903CC4DB02258717921A4881",  # sha256
            "682f11d1-8f6d-4d96-bcf3-e376406d2889",  # a UUID
            "3fcf159279624c0c94168cb56d28ab36",  # a UUID without dashes
            "ThisIsAVeryLongPasswordFieldName123",  # an identifier
            "my_long_variable_name_for_testing_2024X",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1A",  # long but not random
            "/usr/local/lib/python3.11/site-packages",
            "https://example.com/path/to/some/resource?id=123",
            "AKIA1234",  # prefix, too short
            "sk-short",
            "Xy7aB2kQ9mZ",  # random but under the length floor
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


def test_no_detector_claims_hex_digests() -> None:
    # md5, sha1 and sha256 columns are the benchmark's hardest negatives for the secret detector.
    rng = random.Random(7)
    blobs = [rng.randbytes(16) for _ in range(3000)]
    digests = pa.array(
        [hashlib.new(algo, b).hexdigest() for b in blobs for algo in ("md5", "sha1", "sha256")]
    )
    for det in DETECTORS.values():
        assert match_share(det, digests) == (0, len(digests)), det.name


def test_phone_agrees_with_phonenumbers() -> None:
    # The compiled numbering plans must say what phonenumbers.is_valid_number says: every
    # region's example numbers are phones, and random numbers after every calling code are
    # judged alike (phonenumbers is the slow reference; ours runs on the same metadata).
    examples = [
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (n := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    assert len(examples) > 400
    hits = detect(DETECTORS["phone"], pa.array(examples)).to_pylist()
    assert [v for v, hit in zip(examples, hits, strict=True) if not hit] == []

    rng = random.Random(14)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    numbers = [
        f"+{rng.choice(codes)} " + "".join(rng.choices(string.digits, k=rng.randint(6, 12)))
        for _ in range(1500)
    ]
    truth = [phonenumbers.is_valid_number(phonenumbers.parse(n, None)) for n in numbers]
    ours = detect(DETECTORS["phone"], pa.array(numbers)).to_pylist()
    false_pos = [n for n, o, t in zip(numbers, ours, truth, strict=True) if o and not t]
    false_neg = [n for n, o, t in zip(numbers, ours, truth, strict=True) if t and not o]
    assert sum(truth) > 50  # the sample holds valid numbers to find
    assert false_pos == []
    assert len(false_neg) <= 2, false_neg


def test_secret_finds_random_tokens_and_spares_identifiers() -> None:
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "+/"
    tokens = [secrets.token_urlsafe(24) for _ in range(1000)] + [
        "".join(rng.choices(alphabet, k=40)) for _ in range(1000)
    ]
    found, total = match_share(DETECTORS["secret"], pa.array(tokens))
    # A random token lacks a digit or a case now and then: most, not all, are found.
    assert found / total > 0.9
    words = ["order", "customer", "value", "total", "payment", "session", "record", "event"]
    names = [
        "".join(w.capitalize() for w in rng.choices(words, k=rng.randint(3, 6))) + str(i)
        for i in range(1000)
    ]
    assert match_share(DETECTORS["secret"], pa.array(names)) == (0, 1000)


def test_classes_and_hint_requirements() -> None:
    # Several detectors may report one class; the classifier reads pii_class and requires_hint.
    assert {d.pii_class for d in DETECTORS.values()} == set(PII_CLASSES)
    assert DETECTORS["phone_digits"].pii_class == "phone"
    assert DETECTORS["geo_single"].pii_class == "geo_coordinates"
    needs_hint = {name for name, d in DETECTORS.items() if d.requires_hint}
    assert needs_hint == {"phone_digits", "date_of_birth", "geo_single"}
    assert Detector("x", r"(?P<value>x)").pii_class == "x"


def test_dates_are_found_without_a_name_but_need_one_to_be_birth_dates() -> None:
    # A date column matches value by value; only requires_hint keeps order dates from being PII.
    dob = DETECTORS["date_of_birth"]
    assert match_share(dob, pa.array(["2023-10-12", "1985-03-12"])) == (2, 2)
    assert dob.requires_hint
    assert hint_matches(dob, "date_of_birth")
    assert not hint_matches(dob, "order_date")


def test_integer_phone_columns_are_read_as_digits() -> None:
    values = pa.array([14155552671, 442079460958, 1234567890, None], pa.int64())
    assert match_share(DETECTORS["phone_digits"], values) == (2, 3)


def test_python_judges_run_once_per_distinct_value() -> None:
    seen: list[str] = []

    def judge(value: str) -> bool:
        seen.append(value)
        return value == "b"

    values = pa.array(["a", "b", "a", None, "b", "b"])
    assert judge_unique(values, judge).to_pylist() == [False, True, False, False, True, True]
    assert sorted(seen) == ["a", "b"]


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
        ("phone", "phone_number", True),
        ("phone", "customerMobile", True),
        ("phone", "telephone", True),
        ("phone", "cellar", False),
        ("phone_digits", "msisdn", True),
        ("national_id", "nino", True),
        ("national_id", "codice_fiscale", True),
        ("national_id", "tax_id", True),
        ("national_id", "shipping_id", False),
        ("date_of_birth", "dob", True),
        ("date_of_birth", "DateOfBirth", True),
        ("date_of_birth", "birthdate", True),
        ("date_of_birth", "geburtsdatum", True),
        ("date_of_birth", "created_at", False),
        ("geo_coordinates", "pickup_lat", True),
        ("geo_single", "dropoffLng", True),
        ("geo_single", "latitude", True),
        ("geo_single", "long_description", False),
        ("geo_single", "flat_fee", False),
        ("secret", "api_key", True),
        ("secret", "AccessToken", True),
        ("secret", "token_count", True),
        ("secret", "tokenizer", False),
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
