"""Column classification: what personal data a column holds, with a confidence, from a sample.

Each column's non-null values are sampled (up to ``sample_rows``, the whole column when it is
smaller; the same seed gives the same sample), blanks and placeholders (``""``, ``N/A``,
``unknown``) are set aside, and every detector runs over the rest. The share of values a class's
detectors confirm combines with the column-name hints into one class:

* **whole column**: at least half the values hold the class, or a fifth under a name that
  says so (``email`` with dirty values);
* **mixed**: free text where some rows hold PII (a ticket body with an occasional e-mail). One
  confirmed value of a *precise* class (:data:`PRECISE`: e-mail, payment card, IBAN, US SSN)
  is enough there: their checks (RFC shape, Luhn with issuer and grouping, mod-97 with the
  country's length, SSA area rules with separators) make a chance match in prose rare, and
  missing one personal record costs more than a false flag a reviewer rejects once (a
  rejection survives rescans). Other classes need two values and 5% of the rows.
  Outside free text a column is PII only as a whole: a tenth of random 16-digit order ids pass
  Luhn, so a few matches among tokens prove nothing. E-mail is the exception: no identifier
  or short note holds a valid address by chance, so one makes any text column mixed;
* otherwise :data:`NOT_PII`. A name alone never decides: ``email_hash`` full of digests is no
  e-mail column, and an all-null ``ssn`` column holds nothing yet.

Non-string columns: integers are read as their decimal text (cards and phones stored as
numbers); floats, dates and midnight timestamps only by detectors whose hint the column name
carries (``latitude`` floats in range, ``date_of_birth`` dates); other types are not PII.
Detectors that ``requires_hint`` count only under a hinting name.

Fast on purpose (every batch of every dataset is scanned): :func:`classify_columns` (and
:func:`classify_table`) run each detector once over all the columns' samples together, because
Arrow compiles a detector's RE2 pattern on every call and that, not scanning, is most of the
cost of a few hundred values; classify a table at once rather than column by column.

Example::

    >>> import pyarrow as pa
    >>> from thermocline.quality.pii.classify import classify_table
    >>> [f.pii_class for f in classify_table(pa.table({"contact": ["a@example.com", "b@x.org"]}))]
    ['email']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detectors import DETECTORS, Detector, detect, hint_matches

__all__ = [
    "NOT_PII",
    "PRECISE",
    "ColumnFinding",
    "classify_column",
    "classify_columns",
    "classify_table",
    "sample_values",
]

NOT_PII = "none"
"""The class of a column that holds no personal data."""

PRECISE = frozenset({"email", "payment_card", "iban", "us_ssn"})
"""Classes one confirmed value of which makes free text PII (see the module docstring)."""
_ANYWHERE = frozenset({"email"})  # ... and any text column: no id or token is an e-mail by chance

_CLASSIFIED = 0.5  # the share of sampled values above which a column *is* its class
_WITH_HINT = 0.2  # ... and the share that suffices when the column name agrees
_MIXED_MIN = 2  # confirmed values free text needs for a class outside PRECISE ...
_MIXED_SHARE = 0.05  # ... and the share of its rows
_FREE_TEXT_WORDS = 3  # spaces a value needs to count as prose ...
_FREE_TEXT_SHARE = 0.5  # ... and the share of such values that makes a column free text
_PLACEHOLDERS = pa.array(
    ["", "-", "--", "?", "???", "n/a", "na", "nan", "null", "none", "nil", "unknown", "tbd"]
)


@dataclass(frozen=True, slots=True)
class ColumnFinding:
    """What one column holds: ``pii_class`` is a detector's class or :data:`NOT_PII`.

    ``detector`` names the detector that found the class (the one with most matches when a
    class has several); ``sampled`` values were examined (non-null, not blank) and
    ``matched`` of them held a confirmed value of the class. ``confidence`` is in [0, 1]:
    higher for a larger share, a name that agrees and a larger sample; lower for a mixed
    column or a name that says another class.
    """

    column: str
    pii_class: str
    confidence: float
    detector: str
    sampled: int
    matched: int

    @property
    def is_pii(self) -> bool:
        return self.pii_class != NOT_PII

    @property
    def share(self) -> float:
        """The share of sampled values that hold the class (0 when nothing was sampled)."""
        return self.matched / self.sampled if self.sampled else 0.0

    @property
    def mixed(self) -> bool:
        """PII in some rows only (free text with an occasional email)."""
        return self.is_pii and self.share < _CLASSIFIED


def classify_table(
    table: pa.Table,
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    detectors: Sequence[Detector] | None = None,
) -> list[ColumnFinding]:
    """One finding per column of ``table``, in column order (see :func:`classify_columns`)."""
    return classify_columns(
        [(name, table.column(name)) for name in table.column_names],
        sample_rows=sample_rows,
        seed=seed,
        detectors=detectors,
    )


def classify_column(
    name: str,
    values: pa.Array | pa.ChunkedArray,
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    detectors: Sequence[Detector] | None = None,
) -> ColumnFinding:
    """Classify one column from a sample of its non-null values (see the module docstring).

    Example::

        >>> notes = pa.array(["see you at noon", "call me back after lunch", "mail me at a@x.org"])
        >>> found = classify_column("notes", notes)
        >>> found.pii_class, found.mixed, found.sampled, found.matched
        ('email', True, 3, 1)
    """
    return classify_columns(
        [(name, values)], sample_rows=sample_rows, seed=seed, detectors=detectors
    )[0]


def classify_columns(
    columns: Sequence[tuple[str, pa.Array | pa.ChunkedArray]],
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    detectors: Sequence[Detector] | None = None,
) -> list[ColumnFinding]:
    """One finding per ``(name, values)`` column, in order, as :func:`classify_column` gives.

    Prefer this (or :func:`classify_table`) to a loop over :func:`classify_column`: every
    detector runs once over all the columns' samples together, and Arrow compiles a
    detector's RE2 pattern on each call (0.05-4 ms a pattern, more than scanning a few
    thousand values), so the compilation is paid once per table instead of once per column.
    """
    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    every = list(detectors if detectors is not None else DETECTORS.values())
    prepared = [_prepare(name, values, sample_rows, seed, every) for name, values in columns]
    readable = [c for c in prepared if c.text is not None and len(c.text)]
    starts = np.cumsum([0, *(len(c.text) for c in readable if c.text is not None)])
    for i, column in enumerate(readable):
        column.start, column.stop = int(starts[i]), int(starts[i + 1])
    for detector in every:
        eligible = [
            c
            for c in readable
            if not ((c.by_name_only or _requires_hint(detector)) and detector.name not in c.hinted)
        ]
        if eligible:
            _run(detector, eligible, int(starts[-1]))
    return [_decide(c) for c in prepared]


def sample_values(values: pa.Array | pa.ChunkedArray, sample_rows: int, seed: int = 0) -> pa.Array:
    """Up to ``sample_rows`` non-null values, chosen at random without replacement, in column
    order; the whole column's non-null values when there are no more. The same ``values``,
    size and ``seed`` give the same sample (the benchmark hands the same one to other tools).

    Example::

        >>> sample_values(pa.array([1, None, 2, 3]), 10).to_pylist()
        [1, 2, 3]
    """
    present = pc.drop_null(values)
    if isinstance(present, pa.ChunkedArray):
        present = present.combine_chunks()
    if len(present) <= sample_rows:
        return present
    rows = np.sort(np.random.default_rng(seed).choice(len(present), sample_rows, replace=False))
    return present.take(pa.array(rows))


# --- helpers -----------------------------------------------------------------------------------


def _requires_hint(detector: Detector) -> bool:
    return bool(getattr(detector, "requires_hint", False))


def _class_of(detector: Detector) -> str:
    return str(getattr(detector, "pii_class", "") or detector.name)


def _as_text(sample: pa.Array) -> tuple[pa.StringArray | None, bool]:
    """The sample as trimmed strings without blanks and placeholders, and whether only
    hint-matched detectors may judge it (floats, dates); ``None`` for types never PII."""
    t = sample.type
    if pa.types.is_dictionary(t):
        sample, t = sample.dictionary_decode(), t.value_type
    by_name_only = False
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = pc.utf8_trim_whitespace(sample.cast(pa.string()))
        keep = pc.invert(pc.is_in(pc.utf8_lower(text), value_set=_PLACEHOLDERS))
        return text.filter(keep), False
    if pa.types.is_integer(t):
        return sample.cast(pa.string()), False
    if pa.types.is_floating(t):
        by_name_only = True
        finite = pc.is_finite(sample)
        return sample.filter(finite).cast(pa.string()), by_name_only
    if pa.types.is_date(t):
        return sample.cast(pa.date32()).cast(pa.string()), True
    if pa.types.is_timestamp(t):
        # A time of day makes a timestamp an event; midnight-only ones are dates in disguise.
        days = sample.cast(pa.timestamp(t.unit)).cast(pa.int64())
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
        if len(sample) and pc.all(pc.equal(pc.remainder(days, per_day[t.unit]), 0)).as_py():
            return pc.cast(pc.cast(days, pa.timestamp(t.unit)), pa.date32()).cast(pa.string()), True
        return None, True
    return None, by_name_only


def _is_free_text(text: pa.StringArray) -> bool:
    words = pc.count_substring(text, " ")
    prose = pc.sum(pc.greater_equal(words, _FREE_TEXT_WORDS)).as_py() or 0
    return prose >= _FREE_TEXT_SHARE * len(text)


@dataclass(slots=True)
class _Column:
    """One column on its way through :func:`classify_columns`."""

    name: str
    text: pa.StringArray | None  # the sample as trimmed text; None: a type that is never PII
    by_name_only: bool  # floats, dates: only detectors the name hints may judge
    hinted: set[str]  # detectors whose hints the name carries
    hinted_classes: set[str]
    free_text: bool = False
    start: int = 0  # rows [start, stop) of the concatenated samples
    stop: int = 0
    hits: dict[str, np.ndarray] = field(default_factory=dict)  # class -> confirmed rows
    best: dict[str, tuple[int, str]] = field(default_factory=dict)  # class -> (count, detector)


def _prepare(
    name: str,
    values: pa.Array | pa.ChunkedArray,
    sample_rows: int,
    seed: int,
    every: Sequence[Detector],
) -> _Column:
    hinted = {d.name for d in every if hint_matches(d, name)}
    hinted_classes = {_class_of(d) for d in every if d.name in hinted}
    text, by_name_only = _as_text(sample_values(values, sample_rows, seed))
    column = _Column(name, text, by_name_only, hinted, hinted_classes)
    if text is not None and len(text):
        column.free_text = _is_free_text(text)
    return column


def _run(detector: Detector, columns: Sequence[_Column], total: int) -> None:
    """Run ``detector`` once over the samples of ``columns`` and record each one's hits."""
    parts = [c.text for c in columns if c.text is not None]
    text = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
    found = np.asarray(pc.fill_null(detect(detector, text), False).to_numpy(zero_copy_only=False))
    if not found.any():
        return
    cls = _class_of(detector)
    at = 0
    for column in columns:
        rows = found[at : at + column.stop - column.start]
        at += column.stop - column.start
        count = int(rows.sum())
        if count == 0:
            continue
        column.hits[cls] = rows if cls not in column.hits else column.hits[cls] | rows
        if count > column.best.get(cls, (-1, ""))[0]:
            column.best[cls] = (count, detector.name)


def _decide(column: _Column) -> ColumnFinding:
    """The column's class from its hits, share, free-text shape and name hints."""
    name = column.name
    if column.text is None:
        return ColumnFinding(name, NOT_PII, 1.0, "", 0, 0)
    sampled = len(column.text)
    if sampled == 0:
        return ColumnFinding(name, NOT_PII, 0.0, "", 0, 0)
    size = sampled / (sampled + 1)
    whole_at = _CLASSIFIED if column.by_name_only else _WITH_HINT
    best: tuple[float, ColumnFinding] | None = None
    top_share = 0.0
    for cls, rows in column.hits.items():
        matched = int(rows.sum())
        share = matched / sampled
        top_share = max(top_share, share)
        named = cls in column.hinted_classes
        misnamed = not named and bool(column.hinted_classes)
        veto = _VETOES.get(cls)
        if veto is not None and veto(column.text.filter(pa.array(rows))):
            continue
        if share >= _CLASSIFIED or (named and share >= whole_at):
            rank = 2.0 + share + (0.5 if named else 0.0)
            confidence = 0.55 + 0.35 * share + (0.1 if named else 0.0) - (0.1 if misnamed else 0)
        elif (column.free_text or cls in _ANYWHERE) and (
            (cls in PRECISE and matched >= 1) or (matched >= _MIXED_MIN and share >= _MIXED_SHARE)
        ):
            rank = 1.0 + share + (0.5 if named else 0.0)
            confidence = 0.3 + 0.4 * min(1.0, share / _CLASSIFIED) + (0.1 if named else 0.0)
        else:
            continue
        found = ColumnFinding(
            name, cls, round(min(1.0, confidence) * size, 4), column.best[cls][1], sampled, matched
        )
        if best is None or rank > best[0]:
            best = (rank, found)
    if best is not None:
        return best[1]
    # Nothing qualified: sure in proportion to how little matched and whether the name agrees.
    doubt = 0.5 * top_share + (0.2 if column.hinted_classes else 0.0)
    return ColumnFinding(name, NOT_PII, round((1.0 - doubt) * size, 4), "", sampled, 0)


def _version_numbers(quads: pa.StringArray) -> bool:
    """Dotted quads that are software versions (``2.14.3.1``), not addresses: in nearly all of
    them every part is below 64. Addresses spread their host octets over 0-255, so only a
    tiny network (``10.0.0.1`` to ``10.0.0.63``) would look like this."""
    parts = pc.extract_regex(quads, pattern=_QUAD)
    small = np.ones(len(quads), bool)
    for i in range(4):
        part = pc.cast(parts.field(f"o{i}"), pa.int32()).to_numpy(zero_copy_only=False)
        small &= np.asarray(part) < 64
    return bool(small.mean() >= 0.9) if len(quads) else False


_QUAD = r"(?P<o0>[0-9]{1,3})\.(?P<o1>[0-9]{1,3})\.(?P<o2>[0-9]{1,3})\.(?P<o3>[0-9]{1,3})"
_VETOES = {"ipv4": _version_numbers}
"""Column-level checks that overrule a class's value matches: ``True`` means not this class."""
