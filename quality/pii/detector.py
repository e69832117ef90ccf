"""The detector model and the entry points that run one: :func:`detect`, :func:`match_share`,
:func:`hint_matches`.

A :class:`Detector` finds *candidates* with one RE2 pattern (run by
``pyarrow.compute.match_substring_regex`` and ``extract_regex``, in C++), then confirms them with
an optional validator (Luhn for cards, mod-97 for IBANs, numbering plans for phones). Validators
work on whole Arrow arrays; Python runs only on distinct candidates where no vectorized check
exists. Nothing here reads storage: Arrow in, counts out.

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

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.vectors import as_strings

__all__ = ["Detector", "Validator", "detect", "hint_matches", "match_share"]

Validator = Callable[[pa.StringArray], pa.BooleanArray]
"""Judges candidate strings (never null) and returns one boolean per candidate."""


@dataclass(frozen=True, slots=True)
class Detector:
    """One way to find a class of personal data: candidates, their check, column-name hints.

    ``pattern`` is RE2 syntax with a named group ``value``; ``validator`` (optional) confirms the
    extracted candidates; ``name_hints`` are lower-case tokens of column names that suggest the
    class (``rider_email`` → ``email``), for the column classification that combines both.

    ``pii_class`` is the class a match means (the detector's ``name`` when not given): two
    detectors may find one class in different shapes (``geo_coordinates`` pairs in text, and
    single latitudes under a ``lat`` column). ``requires_hint`` says the values alone prove
    nothing: a date column is not PII until its name says birth, a bare number is no phone
    until its name says phone; a classifier must then see a name hint before it names the class.
    ``rounds`` is how many candidates per value the validator judges (an order number before a
    card number hides the card from a single round); each round costs two regex passes over the
    values still undecided, so detectors whose candidates mostly fail (name-shaped words) keep it
    small.
    """

    name: str
    pattern: str
    validator: Validator | None = None
    name_hints: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    pii_class: str = ""
    requires_hint: bool = False
    rounds: int = 4

    def __post_init__(self) -> None:
        if "(?P<value>" not in self.pattern:
            raise ValueError(
                f"detector {self.name!r}: the pattern needs a named group (?P<value>...)"
            )
        if not self.pii_class:
            object.__setattr__(self, "pii_class", self.name)


def detect(detector: Detector, values: pa.Array | pa.ChunkedArray) -> pa.BooleanArray:
    """One boolean per value: does it hold a confirmed ``detector`` match? Null stays null.

    Example::

        >>> import pyarrow as pa
        >>> from thermocline.quality.pii import DETECTORS
        >>> detect(DETECTORS["ipv4"], pa.array(["10.0.0.1", "1.2.3.400", None])).to_pylist()
        [True, False, None]
    """
    strings = as_strings(values)
    found = pc.match_substring_regex(strings, pattern=detector.pattern)
    if detector.validator is None:
        return found
    # Match first, then extract from the matches only: RE2 matches from its DFA, but extracting
    # a group takes its slower engines (7x slower over every value for the name pattern).
    out = pc.fill_null(found, False).to_numpy(zero_copy_only=False).copy()
    idx = np.flatnonzero(out)
    pending = strings.take(pa.array(idx))
    # A value may hold several candidates (an order number before the card): judge the first,
    # and where it fails, blank it out and judge the next, for ``rounds`` rounds.
    for round_ in range(detector.rounds):
        if idx.size == 0:
            break
        candidates = pc.extract_regex(pending, pattern=detector.pattern).field("value")
        confirmed = np.asarray(detector.validator(candidates), dtype=bool)
        out[idx] = confirmed
        retry = np.flatnonzero(~confirmed)
        if retry.size == 0 or round_ == detector.rounds - 1:
            break
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

        >>> import pyarrow as pa
        >>> from thermocline.quality.pii import DETECTORS
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

        >>> import pyarrow as pa
        >>> from thermocline.quality.pii import DETECTORS
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
