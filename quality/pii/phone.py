"""Phone numbers, confirmed against Google's numbering plans (the ``phonenumbers`` metadata).

``phonenumbers.is_valid_number(parse(...))`` costs 10-300 µs a number in pure Python: too slow
for 10k-value samples over hundreds of columns. Its *metadata* is what decides validity: per
country calling code, per region, per number type (fixed line, mobile, toll free...), a national
number pattern and the lengths it may have. Here that metadata is compiled, once per calling code
on first use, into one regex per national-number length (the union over the code's regions and
types), and each *distinct* candidate is judged with one dictionary lookup and one regex match.
Arrow does the rest: RE2 finds the candidates, strips separators, splits the forms.

Three written forms count without a name hint:

* international: ``+44 20 7946 0958``, ``+1 (415) 555-2671``, ``0049 30 1234567``, E.164
  ``+14155552671``; ``(0)`` after the code is dropped (``+44 (0)20 ...``);
* North American with separators: ``(415) 555-2671``, ``415-555-2671``, ``1 415.555.2671``;
* national with a trunk 0 and separators: ``020 7946 0958``, ``030 1234567``,
  ``01 23 45 67 89``, judged against the plans of :data:`NATIONAL_REGIONS`.

Bare digit runs (``4155552671``, an ``int64`` column of E.164 numbers) are phones only under a
phone-like column name: :data:`PHONE_DIGITS` has ``requires_hint``; ten random digits are a
valid North American number more often than not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.vectors import judge_unique

__all__ = ["NATIONAL_REGIONS", "PHONE", "PHONE_DIGITS"]

NATIONAL_REGIONS = ("GB", "DE", "FR", "NL", "BE", "AT", "CH", "AU")
"""Regions whose plans judge a national number written with a trunk 0 (``020 7946 0958``)."""

_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail",
)  # fmt: skip

_Plan = Mapping[int, "re.Pattern[str]"]
"""National-number length -> the union of the patterns of every number type of that length."""


def _compile(metadata: Iterable[PhoneMetadata]) -> _Plan:
    by_length: dict[int, list[str]] = {}
    for md in metadata:
        general = md.general_desc
        if general is None or general.national_number_pattern is None:
            continue
        for name in _TYPES:
            desc = getattr(md, name)
            if desc is None or desc.national_number_pattern is None:
                continue
            # A type without its own lengths has the general ones; -1 marks "no such numbers".
            lengths = desc.possible_length or general.possible_length
            for length in lengths:
                if length > 0 and length in general.possible_length:
                    by_length.setdefault(length, []).append(desc.national_number_pattern)
    return MappingProxyType(
        {
            n: re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(ps)))
            for n, ps in by_length.items()
        }
    )


@functools.cache
def _calling_code_plan(code: int) -> _Plan:
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    found = (PhoneMetadata.metadata_for_region_or_calling_code(code, r) for r in regions)
    return _compile(md for md in found if md is not None)


@functools.cache
def _national_plan() -> _Plan:
    found = (PhoneMetadata.metadata_for_region(r) for r in NATIONAL_REGIONS)
    return _compile(md for md in found if md is not None)


def _fits(plan: _Plan, national: str) -> bool:
    pattern = plan.get(len(national))
    return pattern is not None and pattern.fullmatch(national) is not None


def _valid_key(key: str) -> bool:
    """``+<E.164 digits>`` or ``0<national digits>`` (see :func:`_validate_phone`)."""
    digits = key[1:]
    if key[0] == "0":
        return 8 <= len(digits) <= 11 and _fits(_national_plan(), digits)
    if not 7 <= len(digits) <= 15:
        return False
    # Calling codes are prefix-free (ITU E.164): at most one of the 1-3 digit prefixes is one.
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            plan, national = _calling_code_plan(code), digits[size:]
            # "+43 0..." as people write it: a trunk 0 kept after the code, which parsing drops.
            return _fits(plan, national) or (
                national[:1] == "0" and _trunk_zero(code) and _fits(plan, national[1:])
            )
    return False


@functools.cache
def _trunk_zero(code: int) -> bool:
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    found = (PhoneMetadata.metadata_for_region_or_calling_code(code, r) for r in regions)
    return any(md is not None and md.national_prefix == "0" for md in found)


def _keys(candidates: pa.StringArray) -> pa.StringArray:
    """Each candidate as ``+`` and its E.164 digits, or ``0`` and its national digits."""
    text = pc.replace_substring(candidates, pattern="(0)", replacement="")
    digits = pc.replace_substring_regex(text, pattern=r"[^0-9]", replacement="")
    intl = pc.match_substring_regex(text, pattern=r"^(?:\+|00)")
    e164 = pc.replace_substring_regex(digits, pattern=r"^00", replacement="")
    trunk = pc.match_substring_regex(text, pattern=r"^\(?0")
    # North American without the code: ten digits, or eleven after a leading 1.
    nanp = pc.replace_substring_regex(digits, pattern=r"^1?([2-9][0-9]{9})$", replacement=r"1\1")
    national = pc.utf8_slice_codeunits(digits, 1)
    return pc.if_else(
        intl,
        pc.binary_join_element_wise("+", e164, ""),
        pc.if_else(
            trunk,
            pc.binary_join_element_wise("0", national, ""),
            pc.binary_join_element_wise("+", nanp, ""),
        ),
    )


def _validate_phone(candidates: pa.StringArray) -> pa.BooleanArray:
    return judge_unique(_keys(candidates), _valid_key)


_SEP = r"[ ./-]"
PHONE = Detector(
    name="phone",
    pattern=(
        r"(?:^|[^0-9A-Za-z+_./-])(?P<value>"
        # international: + or 00, the code, then digits in groups
        r"(?:\+|00) ?[1-9][0-9]{0,3}(?: ?\(0\))?(?:[ ./-]?\(?[0-9]{1,5}\)?){1,6}"
        # North American with separators
        rf"|(?:1{_SEP}?)?(?:\([2-9][0-9]{{2}}\) ?|[2-9][0-9]{{2}}{_SEP})"
        rf"[2-9][0-9]{{2}}{_SEP}[0-9]{{4}}"
        # national with a trunk 0 and at least one separator after the area code
        rf"|(?:\(0[1-9][0-9]{{0,4}}\) ?|0[1-9][0-9]{{0,4}}[ /-]|0[1-9]\.)"
        rf"[0-9]{{1,8}}(?:{_SEP}[0-9]{{1,8}}){{0,4}}"
        r")(?:$|[^0-9A-Za-z:_./-]|[./-](?:$|[^0-9A-Za-z]))"
    ),
    validator=_validate_phone,
    name_hints=(
        "phone", "tel", "telephone", "mobile", "cell", "cellphone", "msisdn", "fax", "phoneno",
        "phonenumber", "contactnumber", "telefon", "telefono", "telephone", "handy", "portable",
    ),
    description="a phone number in international, North American or trunk-0 national form",
)  # fmt: skip
"""Phones written as people write them; numbering plans from phonenumbers judge each one."""


def _validate_digits(candidates: pa.StringArray) -> pa.BooleanArray:
    # Ten digits: North American; a leading 0: national; otherwise E.164 without its +.
    keys = pc.if_else(
        pc.match_substring_regex(candidates, pattern=r"^0[1-9]"),
        candidates,
        pc.binary_join_element_wise(
            "+",
            pc.replace_substring_regex(
                candidates, pattern=r"^([2-9][0-9]{9})$", replacement=r"1\1"
            ),
            "",
        ),
    )
    return judge_unique(keys, _valid_key)


PHONE_DIGITS = Detector(
    name="phone_digits",
    pattern=r"(?:^|[^0-9A-Za-z+._-])(?P<value>[0-9]{10,15})(?:$|[^0-9A-Za-z._-])",
    validator=_validate_digits,
    name_hints=PHONE.name_hints,
    description="a phone number as bare digits (an integer column), under a phone-like name",
    pii_class="phone",
    requires_hint=True,
)
"""Bare digit runs: valid phones often enough by chance that only a column name decides."""
