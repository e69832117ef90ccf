"""The registry of PII detectors, by name, in the order a classifier should try them.

Each family lives in its own module (:mod:`.contact`, :mod:`.phone`, :mod:`.financial`,
:mod:`.government`, :mod:`.network`, :mod:`.dates`, :mod:`.geo`, :mod:`.credentials`); the
model and the entry points (:class:`Detector`, :func:`detect`, :func:`match_share`,
:func:`hint_matches`) in :mod:`.detector`. Both are importable from here and from
:mod:`thermocline.quality.pii`.

A detector's ``name`` is unique; its ``pii_class`` is what a match means (two detectors may
share one: ``phone`` and ``phone_digits``); ``requires_hint`` marks detectors whose matches mean
the class only under a matching column name (dates of birth, single coordinates, bare digits).

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii.detectors import DETECTORS, match_share
    >>> match_share(DETECTORS["phone"], pa.array(["+44 20 7946 0958", "ORD-2023-000123"]))
    (1, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from thermocline.quality.pii.addresses import STREET_ADDRESS
from thermocline.quality.pii.contact import EMAIL
from thermocline.quality.pii.credentials import SECRET
from thermocline.quality.pii.dates import DATE_OF_BIRTH
from thermocline.quality.pii.detector import (
    Detector,
    Validator,
    detect,
    hint_matches,
    match_share,
)
from thermocline.quality.pii.financial import IBAN, PAYMENT_CARD
from thermocline.quality.pii.geo import GEO_COORDINATES, GEO_SINGLE
from thermocline.quality.pii.government import NATIONAL_ID, US_SSN
from thermocline.quality.pii.names import PERSON_NAME
from thermocline.quality.pii.network import IPV4, IPV6, MAC_ADDRESS
from thermocline.quality.pii.phone import PHONE, PHONE_DIGITS

__all__ = [
    "DETECTORS",
    "PII_CLASSES",
    "Detector",
    "Validator",
    "detect",
    "hint_matches",
    "match_share",
]

DETECTORS: Mapping[str, Detector] = MappingProxyType(
    {
        "email": EMAIL,
        "phone": PHONE,
        "phone_digits": PHONE_DIGITS,
        "payment_card": PAYMENT_CARD,
        "iban": IBAN,
        "us_ssn": US_SSN,
        "national_id": NATIONAL_ID,
        "ipv4": IPV4,
        "ipv6": IPV6,
        "mac_address": MAC_ADDRESS,
        "date_of_birth": DATE_OF_BIRTH,
        "geo_coordinates": GEO_COORDINATES,
        "geo_single": GEO_SINGLE,
        "secret": SECRET,
        "person_name": PERSON_NAME,
        "street_address": STREET_ADDRESS,
    }
)
"""Every detector by name (a detector's ``pii_class`` may differ: see the module docstring)."""

PII_CLASSES: tuple[str, ...] = tuple(dict.fromkeys(d.pii_class for d in DETECTORS.values()))
"""Every class a detector can report, in registry order."""
