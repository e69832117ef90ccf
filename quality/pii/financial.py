"""Financial identifiers: payment card numbers (issuer range, Luhn) and IBANs (mod-97)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.vectors import by_length, luhn, strip_chars

__all__ = ["IBAN", "PAYMENT_CARD"]


def _validate_card(candidates: pa.StringArray) -> pa.BooleanArray:
    digits = strip_chars(candidates, " -")
    # Issuer ranges in use start with 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa),
    # 5 (Mastercard, Maestro) or 6 (Discover, UnionPay, Maestro); 0, 1, 7, 8, 9 are not card IINs.
    issuer = pc.match_substring_regex(digits, pattern="^[2-6]")
    return pc.and_(issuer, by_length(digits, range(13, 20), luhn))


# Lengths per country, from the SWIFT IBAN registry.
_IBAN_LENGTHS: Mapping[str, int] = MappingProxyType(
    {
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
        "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
        "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
        "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
        "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
        "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    }
)  # fmt: skip


def _mod97(chars: np.ndarray) -> np.ndarray:
    # ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 == 1.
    rotated = np.concatenate([chars[:, 4:], chars[:, :4]], axis=1).astype(np.int64)
    v = np.where(rotated >= 65, rotated - 55, rotated - 48)
    r = np.zeros(len(chars), dtype=np.int64)
    for col in v.T:
        r = np.where(col >= 10, r * 100 + col, r * 10 + col) % 97
    return np.asarray(r == 1, bool)


def _validate_iban(candidates: pa.StringArray) -> pa.BooleanArray:
    compact = pc.utf8_upper(strip_chars(candidates, " "))
    country = pc.utf8_slice_codeunits(compact, 0, 2)
    keys = pa.array(list(_IBAN_LENGTHS))
    wanted = pc.take(pa.array(list(_IBAN_LENGTHS.values()), pa.int32()), pc.index_in(country, keys))
    length_ok = pc.fill_null(pc.equal(pc.binary_length(compact), wanted), False)
    return pc.and_(length_ok, by_length(compact, range(15, 35), _mod97))


PAYMENT_CARD = Detector(
    name="payment_card",
    pattern=(
        # Not inside a longer token: a UUID's digit groups (8-4-4-4-12) can spell a card.
        r"(?:^|[^0-9A-Za-z-])"
        r"(?P<value>[0-9]{13,19}"
        r"|[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}(?:-[0-9]{3})?"
        r"|[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}(?: [0-9]{3})?"
        r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})"
        r"(?:$|[^0-9A-Za-z-])"
    ),
    validator=_validate_card,
    name_hints=("card", "cc", "pan", "creditcard", "ccnum", "cardnumber"),
    description="a payment card number (issuer range and Luhn checksum)",
)
"""Card numbers (PCI DSS scope): issuer range plus Luhn rejects most 13-19 digit ids."""

IBAN = Detector(
    name="iban",
    pattern=(
        r"(?:^|[^A-Za-z0-9])"
        r"(?P<value>(?i:[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?))"
        r"(?:$|[^A-Za-z0-9])"
    ),
    validator=_validate_iban,
    name_hints=("iban", "bankaccount", "accountnumber"),
    description="an international bank account number (country length and mod-97)",
)
"""IBANs name one person's account; country length and mod-97 leave 1 in ~97 false matches."""
