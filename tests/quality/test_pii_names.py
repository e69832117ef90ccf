"""The person-name and street-address detectors on valid values, invalid values and near misses,
and the shipped lexicons they stand on."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pyarrow as pa
import pytest

from thermocline.quality.pii import DETECTORS, detect, hint_matches
from thermocline.quality.pii.lexicon import Lexicon, fold, packaged_words

NAMES = [
    "John Smith",
    "JOHN SMITH",
    "Smith, John",
    "Dr. Anna-Lena Müller",
    "Mr. Robert Brown Jr.",
    "María del Carmen Ruiz Pérez",
    "Jean-Luc de la Fontaine",
    "Pieter van der Berg",
    "Seán O'Brien",
    "J. Smith",
    "Hans Schwarzenegger",  # one surname missing from the lists, next to a given name
    "Please call John Smith today",
]
NOT_NAMES = [
    "Apple Watch",
    "Main Street",
    "Acme Corp",
    "New York",
    "San Francisco",
    "Port Michelle",  # a given name after a place word
    "Lake Amanda",
    "Smith, Johnson and Brown",  # a company of surnames
    "Miller LLC",
    "Müller GmbH",
    "Dupont S.A.",
    "Jourdan Jean et Fils",
    "Hein Nerger e.V.",
    "Chief Executive Officer",
    "Johnson Ridge",  # a street named after a person
    "318 Brenda Via",  # an address, not a name
    "The quick brown fox",
    "Hello World",
    "Order Total",
    "john smith",  # lower case is not read as a name
    "Smith",  # one word
    "Xqzt Vbnm",  # no known name
    "1.2.3",
    "a@b.com",
]
ADDRESSES = [
    "221B Baker Street",
    "1600 Pennsylvania Ave NW, Apt 4",
    "742 Evergreen Terrace, Springfield",
    "98327 Melanie Keys Suite 149",  # a USPS plural suffix
    "Flat 3, 12 Smith close",
    "Studio 44, Katy Locks",
    "I live at 10 Downing Street now",
    "PSC 5002, Box 9218",
    "Hauptstraße 5",
    "Berliner Str. 12a",
    "Am Markt 3",
    "Kerkstraat 7",
    "Jensdreef 9",
    "12 rue de la Paix",
    "5 bis, avenue Victor Hugo",
    "rue de la Paix",
    "Calle Mayor 3",
    "Via Roma, 12",
    "Rua das Flores, nº 123",
]
NOT_ADDRESSES = [
    "3 items in cart",
    "version 1.2.3.4",
    "Paid 12 dollars",
    "3 Rd",  # a type and no street name
    "Meeting at 10 in Room 5",
    "12.99 EUR",
    "2024-01-05 10:00:00",
    "The 3 Musketeers",
    "Main Street",  # a street without a number
    "Order 12345 shipped to the warehouse",
    "walked 5 blocks down the road",
    "123456 Main Street",  # six digits: no house number
    "John Smith",
]


@pytest.mark.parametrize("value", NAMES)
def test_person_names_match(value: str) -> None:
    assert detect(DETECTORS["person_name"], pa.array([value])).to_pylist() == [True]


@pytest.mark.parametrize("value", NOT_NAMES)
def test_near_miss_names_do_not_match(value: str) -> None:
    assert detect(DETECTORS["person_name"], pa.array([value])).to_pylist() == [False]


@pytest.mark.parametrize("value", ADDRESSES)
def test_street_addresses_match(value: str) -> None:
    assert detect(DETECTORS["street_address"], pa.array([value])).to_pylist() == [True]


@pytest.mark.parametrize("value", NOT_ADDRESSES)
def test_near_miss_addresses_do_not_match(value: str) -> None:
    assert detect(DETECTORS["street_address"], pa.array([value])).to_pylist() == [False]


def test_whole_arrays_keep_order_and_nulls() -> None:
    values = pa.array([*NAMES, None, *NOT_NAMES], type=pa.large_string())
    got = detect(DETECTORS["person_name"], values).to_pylist()
    assert got == [True] * len(NAMES) + [None] + [False] * len(NOT_NAMES)
    values = pa.chunked_array([ADDRESSES[:5], [None, *ADDRESSES[5:]], NOT_ADDRESSES])
    got = detect(DETECTORS["street_address"], values).to_pylist()
    assert got == [True] * 5 + [None] + [True] * (len(ADDRESSES) - 5) + [False] * len(NOT_ADDRESSES)


@pytest.mark.parametrize(
    ("detector", "column", "expected"),
    [
        ("person_name", "customer_name", True),
        ("person_name", "firstName", True),
        ("person_name", "surname", True),
        ("person_name", "card_holder", True),
        ("person_name", "order_id", False),
        ("street_address", "shipping_address", True),
        ("street_address", "address_line1", True),
        ("street_address", "street", True),
        ("street_address", "ip_address_v4", True),  # a hint only; the values decide
        ("street_address", "city", False),
    ],
)
def test_name_hints(detector: str, column: str, expected: bool) -> None:
    assert hint_matches(DETECTORS[detector], column) is expected


def test_the_lexicons_ship_and_fold_like_their_build_script() -> None:
    given, surnames = packaged_words("given_names"), packaged_words("surnames")
    assert 30_000 < len(given) < 80_000
    assert 100_000 < len(surnames) < 200_000
    assert {"JOHN", "MARIA", "HANS", "FRANCOISE", "GIUSEPPE"} <= set(given)
    assert {"SMITH", "MULLER", "GARCIA", "OBRIEN"} <= set(surnames)
    assert all(w.isascii() and w.isalpha() and w.isupper() for w in given[:1000])
    folded = fold(pa.array(["Müller", "José", "O'Brien", "Straße", "Łukasz", "Ærø"]))
    assert folded.to_pylist() == ["MULLER", "JOSE", "OBRIEN", "STRASSE", "LUKASZ", "AERO"]


def test_lexicon_lookup_finds_only_whole_words() -> None:
    lex = Lexicon.from_words({"ANNA": 1, "SMITH": 2, "ANNABEL": 1})
    words = pa.array(["ANNA", "ANN", "ANNAB", "SMITH", "SMITHS", "", "ANNABEL", "A" * 40])
    assert lex.flags(words).tolist() == [1, 0, 0, 2, 0, 0, 1, 0]
    sliced = pa.array(["X", "SMITH", "ANNA"]).slice(1)
    assert lex.flags(sliced).tolist() == [2, 1]


def test_the_lexicons_are_small_package_data() -> None:
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "data/*.txt.gz" in data["package-data"]["thermocline.quality.pii"]
    for name in ("given_names", "surnames"):
        path = root / "quality" / "pii" / "data" / f"{name}.txt.gz"
        assert 0 < path.stat().st_size < 1_000_000
