"""Ranking for ``thermocline search``: which datasets a text finds, best first (pure).

A :class:`SearchRecord` is what is known of one dataset (name, description, owners, catalog
tags, column names, PII classes of columns); :func:`rank` scores records against a text and
says why each matched. :mod:`.search` gathers the records from the project and the catalog.

Scoring. The text is split into lower-case terms at blanks; a dataset is found only when every
term matches something of it (AND, as in a search box). A term scores the best of its matches:

==================================================  =====
the term is the dataset's name                        100
the term is a column's name                            50
the term is part of the dataset's name                 40
the term is part of a column's name                    30
the term is an owner, a catalog tag or a PII class     20
the term is part of an owner, a tag or a PII class     10
the term is a word of the description                   5
the term starts a word of the description               2
==================================================  =====

A dataset's score is the sum over the terms, so the name beats a column, a column beats an
owner or a PII class, and those beat the description (the order people mean when they look a
dataset up by what it holds). Equal scores go to the dataset with more matching fields, then by
name. Matching ignores case; a term is "part of" a name when it occurs anywhere in it
(``email`` is part of ``rider_email``).

>>> found = rank([SearchRecord("rides", columns=("ride_id", "rider_email"))], "email")
>>> found[0].dataset, found[0].score, found[0].matches[0].field
('rides', 30, 'column')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from thermocline.catalog.errors import InputError

__all__ = [
    "DEFAULT_LIMIT",
    "SCORES",
    "Match",
    "SearchHit",
    "SearchRecord",
    "check_query",
    "rank",
    "terms",
]

DEFAULT_LIMIT = 20
SCORES: Mapping[str, int] = {
    "name": 100,
    "column": 50,
    "name_part": 40,
    "column_part": 30,
    "label": 20,  # an owner, a catalog tag or a PII class
    "label_part": 10,
    "word": 5,
    "word_start": 2,
}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SearchRecord:
    """What search knows of one dataset. ``pii`` maps a column to its PII class (columns
    without personal data left out); ``in_project`` is False for a dataset only the catalog's
    registry still knows; ``version`` the table's latest version (None: no table yet)."""

    dataset: str
    description: str = ""
    owners: Sequence[str] = ()
    tags: Sequence[str] = ()
    columns: Sequence[str] = ()
    pii: Mapping[str, str] = field(default_factory=dict)
    in_project: bool = True
    version: int | None = None


@dataclass(frozen=True)
class Match:
    """Why a dataset was found: ``field`` (name, column, owner, tag, pii, description),
    ``value`` the matched thing (for ``pii``, ``class (column)``), ``term`` the term that matched
    it and ``score`` what it counts."""

    field: str
    value: str
    term: str
    score: int


@dataclass(frozen=True)
class SearchHit:
    """One dataset found: its score, the matches that explain it, and enough to show it."""

    dataset: str
    score: int
    matches: Sequence[Match]
    description: str
    owners: Sequence[str]
    version: int | None
    in_project: bool


def terms(text: str) -> list[str]:
    """The lower-case terms of ``text``; an :class:`InputError` when there are none."""
    found = text.lower().split()
    if not found:
        raise InputError(
            "search needs some text to look for; fix: give a name, column, owner, tag or PII "
            "class, e.g. `thermocline search email`",
            field="TEXT",
        )
    return found


def check_query(text: str, limit: int) -> list[str]:
    """The terms of ``text`` when it and ``limit`` make a search, else an :class:`InputError`
    (checked before anything is read)."""
    if limit < 1:
        raise InputError(
            f"--limit must be 1 or more, not {limit}; fix: e.g. --limit 10", field="--limit"
        )
    return terms(text)


def rank(records: Iterable[SearchRecord], text: str, limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """The records that match every term of ``text``, best first, at most ``limit`` of them
    (scoring: see the module's docstring)."""
    wanted = check_query(text, limit)
    hits = []
    for record in records:
        matches: list[Match] = []
        score = 0
        for term in wanted:
            found = _matches(record, term)
            if not found:
                break
            matches.extend(found)
            score += max(m.score for m in found)
        else:
            hits.append(_hit(record, score, matches))
    hits.sort(key=lambda h: (-h.score, -len(h.matches), h.dataset))
    return hits[:limit]


def _hit(record: SearchRecord, score: int, matches: list[Match]) -> SearchHit:
    ordered = sorted(matches, key=lambda m: -m.score)  # stable: in field order within a score
    return SearchHit(
        record.dataset,
        score,
        tuple(ordered),
        record.description,
        tuple(record.owners),
        record.version,
        record.in_project,
    )


def _matches(record: SearchRecord, term: str) -> list[Match]:
    """Every field of ``record`` that ``term`` matches, with what each counts."""
    found: list[Match] = []
    name = record.dataset.lower()
    if term == name:
        found.append(Match("name", record.dataset, term, SCORES["name"]))
    elif term in name:
        found.append(Match("name", record.dataset, term, SCORES["name_part"]))
    for column in record.columns:
        if term == column.lower():
            found.append(Match("column", column, term, SCORES["column"]))
        elif term in column.lower():
            found.append(Match("column", column, term, SCORES["column_part"]))
    labels = [
        *(("owner", owner, owner) for owner in record.owners),
        *(("tag", tag, tag) for tag in record.tags),
        *(
            ("pii", pii_class, f"{pii_class} ({column})")
            for column, pii_class in record.pii.items()
        ),
    ]
    for kind, label, shown in labels:
        if term == label.lower():
            found.append(Match(kind, shown, term, SCORES["label"]))
        elif term in label.lower():
            found.append(Match(kind, shown, term, SCORES["label_part"]))
    words = _WORD.findall(record.description.lower())
    started = [word for word in words if word.startswith(term)]
    if term in words:
        found.append(Match("description", term, term, SCORES["word"]))
    elif started:
        found.append(Match("description", started[0], term, SCORES["word_start"]))
    return found
