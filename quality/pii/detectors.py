"""Pure, vectorized PII detectors over Arrow string arrays.

A :class:`Detector` finds *candidates* with one RE2 pattern (run by
``pyarrow.compute.match_substring_regex`` and ``extract_regex``, in C++), then confirms them with
an optional validator (Luhn for cards, mod-97 for IBANs, the SSA's area rules for SSNs). Validators
work on whole Arrow arrays with ``pyarrow.compute`` and numpy; Python runs only on the candidates
where no vectorized check exists (IPv6). Nothing here reads storage: Arrow in, counts out.

Every pattern has one named group ``value``: the candidate a validator judges. The text around it
is a boundary (start, end or a character that cannot continue the token), because RE2 has no
lookaround. Up to four candidates in a value are judged, in order.

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii import DETECTORS, match_share
    >>> cards = pa.array(["4111 1111 1111 1111", "4111 1111 1111 1112", None])
    >>> match_share(DETECTORS["payment_card"], cards)
    (1, 2)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DETECTORS",
    "Detector",
    "Validator",
    "detect",
    "hint_matches",
    "match_share",
]

Validator = Callable[[pa.StringArray], pa.BooleanArray]
"""Judges candidate strings (never null) and returns one boolean per candidate."""


@dataclass(frozen=True, slots=True)
class Detector:
    """One class of personal data: how to find candidates, confirm them, recognise a column name.

    ``pattern`` is RE2 syntax with a named group ``value``; ``validator`` (optional) confirms the
    extracted candidates; ``name_hints`` are lower-case tokens of column names that suggest the
    class (``rider_email`` → ``email``), for the column classification that combines both.
    """

    name: str
    pattern: str
    validator: Validator | None = None
    name_hints: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    def __post_init__(self) -> None:
        if "(?P<value>" not in self.pattern:
            raise ValueError(
                f"detector {self.name!r}: the pattern needs a named group (?P<value>...)"
            )


# --- helpers -----------------------------------------------------------------------------------


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """One contiguous ``string`` array; integers become their decimal text (card numbers stored
    as integers are still card numbers)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if pa.types.is_string(t):
        return values
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_integer(t):
        return values.cast(pa.string())
    if pa.types.is_dictionary(t) and (
        pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)
    ):
        return values.cast(pa.string())
    raise TypeError(f"PII detectors read strings or integers, not {t}: cast the column first")


def _char_matrix(values: pa.StringArray, width: int) -> np.ndarray:
    """The bytes of ``values`` (each exactly ``width`` bytes) as an ``(n, width)`` uint8 matrix."""
    n = len(values)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[values.offset : values.offset + n]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    matrix: np.ndarray = data[offsets[:, None] + np.arange(width)]
    return matrix


def _by_length(
    values: pa.StringArray, lengths: range, judge: Callable[[np.ndarray], np.ndarray]
) -> pa.BooleanArray:
    """Apply ``judge`` (a vectorized check over an ``(n, L)`` byte matrix) to each length group;
    values of any other length are invalid."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    size = pc.binary_length(values).to_numpy(zero_copy_only=False)
    for width in lengths:
        idx = np.flatnonzero(size == width)
        if idx.size:
            out[idx] = judge(_char_matrix(values.take(pa.array(idx)), width))
    return pa.array(out)


def _strip(values: pa.StringArray, chars: str) -> pa.StringArray:
    return pc.replace_substring_regex(values, pattern=f"[{re.escape(chars)}]", replacement="")


# --- validators --------------------------------------------------------------------------------


_LUHN_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.uint8)


def _luhn(digits: np.ndarray) -> np.ndarray:
    d = digits - np.uint8(48)
    width = d.shape[1]
    # Every second digit from the right is doubled, a doubled digit over 9 losing 9 (a table).
    doubled = (width - 1 - np.arange(width)) % 2 == 1
    weighted = np.where(doubled, _LUHN_DOUBLED[np.minimum(d, 9)], d)
    total = weighted.sum(axis=1, dtype=np.int32)
    # One digit repeated (0000..., 4444...) is no card even when the checksum holds.
    varied = (d != d[:, :1]).any(axis=1)
    return np.asarray((total % 10 == 0) & varied, bool)


def _validate_card(candidates: pa.StringArray) -> pa.BooleanArray:
    digits = _strip(candidates, " -")
    # Issuer ranges in use start with 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa),
    # 5 (Mastercard, Maestro) or 6 (Discover, UnionPay, Maestro); 0, 1, 7, 8, 9 are not card IINs.
    issuer = pc.match_substring_regex(digits, pattern="^[2-6]")
    return pc.and_(issuer, _by_length(digits, range(13, 20), _luhn))


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
    compact = pc.utf8_upper(_strip(candidates, " "))
    country = pc.utf8_slice_codeunits(compact, 0, 2)
    keys = pa.array(list(_IBAN_LENGTHS))
    wanted = pc.take(pa.array(list(_IBAN_LENGTHS.values()), pa.int32()), pc.index_in(country, keys))
    length_ok = pc.fill_null(pc.equal(pc.binary_length(compact), wanted), False)
    return pc.and_(length_ok, _by_length(compact, range(15, 35), _mod97))


# Numbers the SSA never issued although they pass the area rules (advertising, famous misuse).
_SSN_NEVER_ISSUED = ("078051120", "219099999", "123456789")


def _validate_ssn(candidates: pa.StringArray) -> pa.BooleanArray:
    compact = _strip(candidates, " -")

    def judge(chars: np.ndarray) -> np.ndarray:
        d = chars.astype(np.int64) - 48
        area = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
        group = d[:, 3] * 10 + d[:, 4]
        serial = d[:, 5] * 1000 + d[:, 6] * 100 + d[:, 7] * 10 + d[:, 8]
        # Area 000, 666 and 900-999 are never issued; nor group 00 or serial 0000.
        ok = (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
        return np.asarray(ok, bool)

    never = pc.is_in(compact, value_set=pa.array(_SSN_NEVER_ISSUED))
    return pc.and_(_by_length(compact, range(9, 10), judge), pc.invert(never))


def _validate_ipv6(candidates: pa.StringArray) -> pa.BooleanArray:
    # No vectorized IPv6 grammar exists in Arrow; the candidates are few (hex and colons only).
    def ok(text: str) -> bool:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True

    return pa.array([ok(s) for s in candidates.to_pylist()], pa.bool_())


def _validate_email(candidates: pa.StringArray) -> pa.BooleanArray:
    # The local part may not start or end with a dot or hold two in a row (RFC 5322 dot-atom).
    # Lengths (RFC 5321): local part up to 64, each domain label up to 63, the address up to 254.
    bad = pc.match_substring_regex(
        candidates, pattern=r"^\.|\.\.|\.@|@[A-Za-z0-9.-]*[A-Za-z0-9-]{64}"
    )
    local_ok = pc.less_equal(pc.find_substring(candidates, "@"), 64)
    total_ok = pc.less_equal(pc.utf8_length(candidates), 254)
    return pc.and_(pc.and_(pc.invert(bad), local_ok), total_ok)


# --- the registry ------------------------------------------------------------------------------

# Detectors with modules of their own import Detector from here: import them once it exists.
from thermocline.quality.pii.addresses import STREET_ADDRESS  # noqa: E402
from thermocline.quality.pii.names import PERSON_NAME  # noqa: E402

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX2 = r"[0-9A-Fa-f]{2}"

_ALL = (
    Detector(
        name="email",
        pattern=(
            r"(?:^|[^A-Za-z0-9._%+-])"
            # Unbounded repetitions: RE2 extracts far faster; the validator checks the lengths.
            r"(?P<value>[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})"
            r"(?:$|[^A-Za-z0-9-])"
        ),
        validator=_validate_email,
        name_hints=("email", "mail", "e_mail"),
        description="an e-mail address",
    ),
    Detector(
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
    ),
    Detector(
        name="iban",
        pattern=(
            r"(?:^|[^A-Za-z0-9])"
            r"(?P<value>(?i:[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?))"
            r"(?:$|[^A-Za-z0-9])"
        ),
        validator=_validate_iban,
        name_hints=("iban", "bankaccount", "accountnumber"),
        description="an international bank account number (country length and mod-97)",
    ),
    Detector(
        name="us_ssn",
        pattern=(
            r"(?:^|[^0-9-])"
            r"(?P<value>[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})"
            r"(?:$|[^0-9-])"
        ),
        validator=_validate_ssn,
        name_hints=("ssn", "socialsecurity", "socialsecuritynumber"),
        description="a US social security number with separators (SSA area, group, serial rules)",
    ),
    Detector(
        name="ipv4",
        pattern=(
            r"(?:^|[^0-9.])"
            rf"(?P<value>{_OCTET}(?:\.{_OCTET}){{3}})"
            r"(?:$|[^0-9.]|\.(?:$|[^0-9]))"
        ),
        name_hints=("ip", "ipv4", "ipaddr", "ipaddress", "remoteaddr", "clientip"),
        description="an IPv4 address in dotted-quad form",
    ),
    Detector(
        name="ipv6",
        pattern=(
            r"(?:^|[^0-9A-Za-z:.])"
            r"(?P<value>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})?)"
            r"(?:%[0-9A-Za-z]+)?(?:$|[^0-9A-Za-z:.])"
        ),
        validator=_validate_ipv6,
        name_hints=("ip", "ipv6", "ipaddr", "ipaddress", "remoteaddr", "clientip"),
        description="an IPv6 address (any RFC 4291 text form)",
    ),
    Detector(
        name="mac_address",
        pattern=(
            r"(?:^|[^0-9A-Fa-f:.-])"
            rf"(?P<value>{_HEX2}(?::{_HEX2}){{5}}|{_HEX2}(?:-{_HEX2}){{5}}"
            r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})"
            r"(?:$|[^0-9A-Fa-f:.-])"
        ),
        name_hints=("mac", "macaddr", "macaddress", "hwaddr", "bssid"),
        description="a MAC (EUI-48) address: colon, dash or Cisco dotted form",
    ),
    PERSON_NAME,
    STREET_ADDRESS,
)

DETECTORS: Mapping[str, Detector] = MappingProxyType({d.name: d for d in _ALL})
"""Every detector by class name."""


# --- entry points ------------------------------------------------------------------------------

_ROUNDS = 4
"""How many candidates per value a validator judges before the value counts as no match."""


def detect(detector: Detector, values: pa.Array | pa.ChunkedArray) -> pa.BooleanArray:
    """One boolean per value: does it hold a confirmed ``detector`` match? Null stays null.

    Example::

        >>> detect(DETECTORS["ipv4"], pa.array(["10.0.0.1", "1.2.3.400", None])).to_pylist()
        [True, False, None]
    """
    strings = _as_strings(values)
    found = pc.match_substring_regex(strings, pattern=detector.pattern)
    if detector.validator is None:
        return found
    out = pc.fill_null(found, False).to_numpy(zero_copy_only=False).copy()
    idx = np.flatnonzero(out)
    pending = strings.take(pa.array(idx))
    # A value may hold several candidates (an order number before the card): judge the first,
    # and where it fails, blank it out and judge the next, for a few rounds.
    for _ in range(_ROUNDS):
        if idx.size == 0:
            break
        candidates = pc.extract_regex(pending, pattern=detector.pattern).field("value")
        confirmed = np.asarray(detector.validator(candidates), dtype=bool)
        out[idx] = confirmed
        retry = np.flatnonzero(~confirmed)
        rest = pc.replace_substring_regex(
            pending.take(pa.array(retry)),
            pattern=detector.pattern,
            replacement=" ",
            max_replacements=1,
        )
        more = pc.match_substring_regex(rest, pattern=detector.pattern).to_numpy(
            zero_copy_only=False
        )
        idx, pending = idx[retry[more]], rest.filter(pa.array(more))
    return pa.array(out, mask=strings.is_null().to_numpy(zero_copy_only=False))


def match_share(detector: Detector, values: pa.Array | pa.ChunkedArray) -> tuple[int, int]:
    """``(matched, examined)``: how many non-null values hold a confirmed match, out of how many
    non-null values were examined.

    Example::

        >>> match_share(DETECTORS["email"], pa.array(["a@example.com", "nope", None]))
        (1, 2)
    """
    hits = detect(detector, values)
    examined = len(hits) - hits.null_count
    return int(pc.sum(hits).as_py() or 0), examined


_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def hint_matches(detector: Detector, column: str) -> bool:
    """Does the column name carry one of the detector's hints, as a whole token or the whole
    name without separators? (``rider_email``, ``RiderEmail``, ``e_mail``, ``ccnum``.)

    Example::

        >>> hint_matches(DETECTORS["email"], "riderEmail")
        True
    """
    tokens = [t.lower() for t in _TOKEN.findall(column)]
    joined = "".join(tokens)
    hints = set(detector.name_hints)
    return (
        bool(hints.intersection(tokens))
        or joined in hints
        or any("".join(tokens[i : i + 2]) in hints for i in range(len(tokens) - 1))
    )
