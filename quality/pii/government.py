"""Government identifiers: US social security numbers and other national ids.

The US SSN keeps its own class (``us_ssn``: its rules are vectorized and policies often name it);
every other country's personal number is one class, ``national_id``. Each is found by its exact
printed shape and confirmed by ``python-stdnum`` (checksums, dates of birth inside the number),
run once per distinct candidate. Shapes that are bare digit runs with a weak check (Dutch BSN: 1
in 11 random 9-digit ids pass; Polish PESEL) are left out: in an order-id column they would drown
the real matches, and a name hint alone cannot rescue them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.br import cpf
from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar, pan
from stdnum.it import codicefiscale
from stdnum.se import personnummer

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.vectors import by_length, judge_unique, strip_chars

__all__ = ["NATIONAL_ID", "US_SSN"]

# Numbers the SSA never issued although they pass the area rules (advertising, famous misuse).
_SSN_NEVER_ISSUED = ("078051120", "219099999", "123456789")


def _validate_ssn(candidates: pa.StringArray) -> pa.BooleanArray:
    compact = strip_chars(candidates, " -")

    def judge(chars: np.ndarray) -> np.ndarray:
        d = chars.astype(np.int64) - 48
        area = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
        group = d[:, 3] * 10 + d[:, 4]
        serial = d[:, 5] * 1000 + d[:, 6] * 100 + d[:, 7] * 10 + d[:, 8]
        # Area 000, 666 and 900-999 are never issued; nor group 00 or serial 0000.
        ok = (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
        return np.asarray(ok, bool)

    never = pc.is_in(compact, value_set=pa.array(_SSN_NEVER_ISSUED))
    return pc.and_(by_length(compact, range(9, 10), judge), pc.invert(never))


US_SSN = Detector(
    name="us_ssn",
    pattern=(
        r"(?:^|[^0-9-])"
        r"(?P<value>[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})"
        r"(?:$|[^0-9-])"
    ),
    validator=_validate_ssn,
    name_hints=("ssn", "socialsecurity", "socialsecuritynumber"),
    description="a US social security number with separators (SSA area, group, serial rules)",
)
"""US SSNs, written with separators; bare nine digits are left to name hints (too generic)."""


def _nino(value: str) -> bool:
    # HMRC: the prefixes BG, GB, KN, NK, NT, TN and ZZ are never allocated.
    return value.replace(" ", "")[:2] not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


# (shape, judge) per country: the shape is anchored RE2 over the candidate, the judge gets it.
_CF = "[0-9LMNPQRSTUV]"  # a codice fiscale digit, or its omocodia letter
_SHAPES: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    # UK National Insurance number: AB 12 34 56 C (letters restricted by HMRC).
    ("gb_nino", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]", _nino),
    # Canada SIN, 123 456 782 (Luhn).
    ("ca_sin", r"[0-9]{3}[ -][0-9]{3}[ -][0-9]{3}", sin.is_valid),
    # France NIR: sex, year, month, department, commune, order, key (97 - n mod 97).
    (
        "fr_nir",
        r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3}"
        r" ?[0-9]{2}",
        nir.is_valid,
    ),
    # Spain DNI (8 digits and a mod-23 letter) and NIE (X/Y/Z, 7 digits, letter).
    ("es_dni", r"[0-9]{8}-?[A-Z]", dni.is_valid),
    ("es_nie", r"[XYZ]-?[0-9]{7}-?[A-Z]", nie.is_valid),
    # Italy codice fiscale: surname, name, birth date and place, check letter.
    (
        "it_cf",
        rf"[A-Z]{{6}}{_CF}{{2}}[A-EHLMPR-T]{_CF}{{2}}[A-Z]{_CF}{{3}}[A-Z]",
        codicefiscale.is_valid,
    ),
    # India Aadhaar, 2345 6789 0123 (Verhoeff), and PAN, ABCPE1234F (structure).
    ("in_aadhaar", r"[2-9][0-9]{3}[ -][0-9]{4}[ -][0-9]{4}", aadhaar.is_valid),
    ("in_pan", r"[A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z]", pan.is_valid),
    # Brazil CPF, 123.456.789-09 (two mod-11 digits); printed form only.
    ("br_cpf", r"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}", cpf.is_valid),
    # Germany tax id (Steuer-ID), 12 345 678 901 (ISO 7064 and digit rules); printed form only.
    ("de_idnr", r"[1-9][0-9] [0-9]{3} [0-9]{3} [0-9]{3}", idnr.is_valid),
    # Sweden personnummer, 850312-1234 or 19850312-1234 (birth date and Luhn).
    ("se_pnr", r"(?:19|20)?[0-9]{6}[-+][0-9]{4}", personnummer.is_valid),
)


def _validate_national_id(candidates: pa.StringArray) -> pa.BooleanArray:
    out = np.zeros(len(candidates), dtype=bool)
    for _, shape, judge in _SHAPES:
        fits = pc.match_substring_regex(candidates, pattern=f"^(?:{shape})$")
        idx = np.flatnonzero(fits.to_numpy(zero_copy_only=False))
        if idx.size:
            subset = candidates.take(pa.array(idx))
            out[idx] |= np.asarray(judge_unique(subset, judge), dtype=bool)
    return pa.array(out)


NATIONAL_ID = Detector(
    name="national_id",
    pattern=(
        r"(?:^|[^0-9A-Za-z.+-])"
        "(?P<value>" + "|".join(shape for _, shape, _ in _SHAPES) + ")"
        r"(?:$|[^0-9A-Za-z+-]|\.(?:$|[^0-9A-Za-z]))"
    ),
    validator=_validate_national_id,
    name_hints=(
        "nino", "nin", "sin", "nir", "dni", "nie", "nif", "cpf", "aadhaar", "aadhar",
        "personnummer", "steuerid", "idnr", "codicefiscale", "fiscalcode", "taxid", "tin",
        "nationalid", "nationalidentifier", "nationalinsurance", "insee", "personalid",
        "idnumber", "citizenid",
    ),
    description=(
        "a national personal number (UK NINO, Canada SIN, France NIR, Spain DNI/NIE, Italy codice"
        " fiscale, India Aadhaar/PAN, Brazil CPF, Germany Steuer-ID, Sweden personnummer)"
    ),
)  # fmt: skip
"""National ids other than the US SSN: printed shapes, each confirmed by python-stdnum."""
