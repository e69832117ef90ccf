"""Erasure from a dataset's dead letters: the records that did not decode, kept with their raw
bytes, may hold the subject too (a malformed event carrying an e-mail address).

Dead letters have no key column: a record holds the subject when its raw payload contains the
value as text (the clear value; also the hashed form, in case a producer sent it hashed). A
sealed payload (see :mod:`thermocline.datasets.ingest.sealing`) is opened with the project key
to look. Matching records are deleted in a new version of the dead-letter table, and every
stored file of that table that held one is removed at once, like the dataset's own files.
Without the key, sealed payloads cannot be searched: they are counted and reported, never
guessed at.

>>> hits = dead_letter_hits(lake, "ride_events", ("ana@example.com",), key)   # doctest: +SKIP
>>> hits.records, hits.unsearched                                               # doctest: +SKIP
(1, 0)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.sealing import unseal
from thermocline.datasets.tables.erasure_plan import broken_versions, referenced
from thermocline.datasets.tables.erasure_scan import delete_retrying, read_log
from thermocline.datasets.tables.versions import live_files, open_table, stored_files

__all__ = ["DeadLetterHits", "dead_letter_hits", "erase_dead_letters"]

_Record = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True)
class DeadLetterHits:
    """The dead letters of a dataset that hold the subject, by (topic, partition, offset);
    ``unsearched`` sealed ones could not be opened (no key)."""

    table: str
    found: frozenset[_Record] = frozenset()
    unsearched: int = 0
    files_removed: list[str] = field(default_factory=list)
    broken_versions: tuple[tuple[int, int], ...] = ()

    @property
    def records(self) -> int:
        return len(self.found)


def dead_letter_hits(
    lake: Lake, dataset: str, clear: Sequence[Any], key: bytes | None
) -> DeadLetterHits:
    """Which dead letters of ``dataset`` hold one of the ``clear`` values (a dry run)."""
    name = dead_letter_table(dataset)
    try:
        table = open_table(lake, name)
    except DatasetNotFoundError:
        return DeadLetterHits(name)
    rows = table.to_pyarrow_dataset(filesystem=lake.table_filesystem(name)).to_table()
    found, unsearched = _matching(rows, clear, key)
    return DeadLetterHits(name, frozenset(found), unsearched)


def erase_dead_letters(
    lake: Lake,
    dataset: str,
    clear: Sequence[Any],
    key: bytes | None,
    metadata: dict[str, str],
) -> DeadLetterHits:
    """Delete the dead letters of ``dataset`` that hold the subject and remove every stored
    file of the dead-letter table that held one; returns what went."""
    hits = dead_letter_hits(lake, dataset, clear, key)
    if not hits.found:
        return hits
    name = hits.table
    table = open_table(lake, name)
    delete_retrying(table, _predicate(hits.found), metadata, f"the dead letters of {dataset}")
    commits = read_log(lake, name, table)
    live = {a["path"] for a in live_files(table)}
    stored = stored_files(lake, name)
    candidates = sorted(p for p in referenced(commits) if p not in live and p in stored)
    fs = lake.table_filesystem(name)
    holders = {p for p in candidates if _holds(fs, p, hits.found)}
    broken = broken_versions(commits, holders)
    for path in sorted(holders):
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)
    return DeadLetterHits(name, hits.found, hits.unsearched, sorted(holders), broken)


def _matching(rows: pa.Table, clear: Sequence[Any], key: bytes | None) -> tuple[set[_Record], int]:
    sealed = rows["sealed"].to_pylist() if "sealed" in rows.column_names else [None] * len(rows)
    unsearched = 0
    if any(sealed):
        if key is None:
            unsearched = sum(1 for s in sealed if s)
            keep = pa.array([not s for s in sealed])
            rows = rows.filter(keep)
        else:
            rows = unseal(rows, key)
    needles = [str(v).encode() for v in clear]
    found = {
        (topic, partition, offset)
        for topic, partition, offset, raw in zip(
            rows["topic"].to_pylist(),
            rows["partition"].to_pylist(),
            rows["offset"].to_pylist(),
            rows["raw"].to_pylist(),
            strict=True,
        )
        if raw is not None and any(n in raw for n in needles)
    }
    return found, unsearched


def _predicate(found: frozenset[_Record]) -> str:
    """SQL for delta-rs: the records by topic, partition and offset (``partition`` and
    ``offset`` are SQL keywords, so every name is quoted)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in sorted(found):
        groups.setdefault((topic, partition), []).append(offset)
    terms = [
        f'("topic" = \'{topic.replace(chr(39), chr(39) * 2)}\' AND "partition" = {partition} '
        f'AND "offset" IN ({", ".join(str(o) for o in offsets)}))'
        for (topic, partition), offsets in groups.items()
    ]
    return " OR ".join(terms)


def _holds(fs: Any, path: str, found: frozenset[_Record]) -> bool:
    keys = pads.dataset(path, filesystem=fs, format="parquet").to_table(
        columns=["topic", "partition", "offset"]
    )
    records = zip(
        keys["topic"].to_pylist(),
        keys["partition"].to_pylist(),
        keys["offset"].to_pylist(),
        strict=True,
    )
    return any(record in found for record in records)
