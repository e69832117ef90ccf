"""Dates of birth: calendar dates a person could have been born on, under a birth-like name.

A date column on its own is no personal data (order dates, release dates), so the detector has
``requires_hint``: its values prove a column holds *dates*; the column name (``dob``,
``birth_date``, ``geburtsdatum``) makes them birth dates. Dates with a time of day are event
timestamps, never birth dates, and are not matched.

Forms: ISO ``1985-03-12`` (also ``/`` and ``.``), day-month-year and month-day-year with ``-``,
``/`` or ``.`` (valid either way round), ``12 March 1985``, ``March 12, 1985``, ``12 Mar 1985``,
and compact ``19850312``. Years 1900-2030: a fixed window keeps the check pure (no clock).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector

__all__ = ["DATE_OF_BIRTH", "FIRST_YEAR", "LAST_YEAR"]

FIRST_YEAR = 1900
LAST_YEAR = 2030

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_YEAR = r"(?:19|20)[0-9]{2}"
_ORD = r"(?:st|nd|rd|th)?"

# Each form as an anchored RE2 pattern over a candidate with groups y, m (or mon) and d; the
# numeric day-month-year form has a and b, read both ways round.
_FORMS = (
    rf"^(?P<y>{_YEAR})(?P<s1>[-/.])(?P<m>[0-9]{{1,2}})(?P<s2>[-/.])(?P<d>[0-9]{{1,2}})$",
    rf"^(?P<a>[0-9]{{1,2}})(?P<s1>[-/.])(?P<b>[0-9]{{1,2}})(?P<s2>[-/.])(?P<y>{_YEAR})$",
    rf"^(?P<d>[0-9]{{1,2}}){_ORD}\.? (?P<mon>{_MONTH})\.?,? (?P<y>{_YEAR})$",
    rf"^(?P<mon>{_MONTH})\.? (?P<d>[0-9]{{1,2}}){_ORD},? (?P<y>{_YEAR})$",
    rf"^(?P<y>{_YEAR})(?P<m>[0-9]{{2}})(?P<d>[0-9]{{2}})$",
)

_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _real(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Is (y, m, d) a calendar date in the birth-year window? (Gregorian leap years.)"""
    month_ok = (m >= 1) & (m <= 12)
    last = _DAYS[np.clip(m, 0, 12)]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    last = np.where((m == 2) & ~leap, 28, last)
    return np.asarray(
        month_ok & (d >= 1) & (d <= last) & (y >= FIRST_YEAR) & (y <= LAST_YEAR), bool
    )


def _ints(parts: pa.StructArray, name: str) -> np.ndarray:
    return np.asarray(
        pc.fill_null(pc.cast(parts.field(name), pa.int32()), -1).to_numpy(zero_copy_only=False)
    )


def _validate_date(candidates: pa.StringArray) -> pa.BooleanArray:
    out = np.zeros(len(candidates), dtype=bool)
    for form in _FORMS:
        fits = pc.match_substring_regex(candidates, pattern=form).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(fits)
        if idx.size == 0:
            continue
        parts = pc.extract_regex(candidates.take(pa.array(idx)), pattern=form)
        names = {parts.type.field(i).name for i in range(parts.type.num_fields)}
        y = _ints(parts, "y")
        same_sep = np.ones(idx.size, bool)
        if "s1" in names:
            same_sep = pc.equal(parts.field("s1"), parts.field("s2")).to_numpy(zero_copy_only=False)
        if "a" in names:
            a, b = _ints(parts, "a"), _ints(parts, "b")
            ok = _real(y, b, a) | _real(y, a, b)
        else:
            if "mon" in names:
                first3 = pc.utf8_lower(pc.utf8_slice_codeunits(parts.field("mon"), 0, 3))
                index = pc.index_in(first3, value_set=pa.array(_MONTHS))
                m = np.asarray(pc.fill_null(index, -2).to_numpy(zero_copy_only=False)) + 1
            else:
                m = _ints(parts, "m")
            ok = _real(y, m, _ints(parts, "d"))
        out[idx] = ok & same_sep
    return pa.array(out)


DATE_OF_BIRTH = Detector(
    name="date_of_birth",
    pattern=(
        r"(?:^|[^0-9A-Za-z./:-])(?P<value>"
        rf"{_YEAR}[-/.][0-9]{{1,2}}[-/.][0-9]{{1,2}}"
        rf"|[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.]{_YEAR}"
        rf"|[0-9]{{1,2}}{_ORD}\.? {_MONTH}\.?,? {_YEAR}"
        rf"|{_MONTH}\.? [0-9]{{1,2}}{_ORD},? {_YEAR}"
        rf"|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
        # Not followed by a time of day (`T08:15`, ` 08:15`): that is an event, not a birth.
        r")(?:$|[^0-9A-Za-z./:\s-]|[.](?:$|[^0-9])|\s(?:$|[^0-9\s]))"
    ),
    validator=_validate_date,
    name_hints=(
        "dob", "birth", "birthday", "birthdate", "born", "dateofbirth", "bday", "geburtsdatum",
        "geburtstag", "naissance", "nacimiento", "nascita", "geboortedatum", "fodelsedatum",
    ),
    description="a calendar date in a birth-year window (a birth date under a birth-like name)",
    requires_hint=True,
)  # fmt: skip
"""Birth dates: real calendar dates 1900-2030 in common written forms; the name decides."""
