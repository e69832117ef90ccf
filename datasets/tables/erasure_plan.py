"""Erasure by key, the deciding part: plain values in, plain values out (no IO).

:mod:`.erasure` reads the facts (the table's log, which data files hold the subject) and acts;
these functions parse the key's value to the column's type, spell the delete predicate, hash a
value as ``hash`` columns hold it, and find the versions that removing some files breaks.

>>> parse_value("42", pa.int64(), column="rider_id")
<pyarrow.Int64Scalar: 42>
>>> sql_predicate("rider email", pa.scalar("o'neil"))
'"rider email" = \\'o\\'\\'neil\\''
>>> commits = [LogCommit(0, {"a": {}}, frozenset()), LogCommit(1, {"b": {}}, frozenset()),
...            LogCommit(2, {"c": {}}, frozenset({"a"}))]
>>> broken_versions(commits, {"a"})
((0, 1),)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from thermocline.catalog.errors import InputError
from thermocline.quality.pii import transforms

__all__ = [
    "LogCommit",
    "broken_versions",
    "fingerprint",
    "hmac_hex",
    "holding_versions",
    "live_at",
    "parse_key",
    "parse_value",
    "referenced",
    "sql_predicate",
    "to_ranges",
]


@dataclass(frozen=True)
class LogCommit:
    """The data-file actions of one version: files added (path -> partition values, as
    strings) and files removed. A version whose log is gone but that a checkpoint summarises
    comes as one commit adding every live file."""

    version: int
    adds: Mapping[str, Mapping[str, str | None]]
    removes: frozenset[str] = field(default_factory=frozenset)


def parse_key(text: str) -> tuple[str, str]:
    """``COLUMN=VALUE`` -> (column, value); the value may hold ``=``.

    >>> parse_key("rider_email=ana@example.com")
    ('rider_email', 'ana@example.com')
    """
    column, eq, value = text.partition("=")
    if not eq or not column.strip():
        raise InputError(
            "--key must be COLUMN=VALUE, e.g. --key rider_email=ana@example.com",
            field="--key",
        )
    return column.strip(), value


def parse_value(text: str, kind: pa.DataType, *, column: str) -> pa.Scalar:
    """``text`` as a scalar of the column's Arrow type, or :class:`InputError` (the value
    itself is never repeated in the message: it is personal data)."""
    try:
        return pa.array([text], pa.string()).cast(kind)[0]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise InputError(
            f"the --key value does not parse as column {column}'s type {kind}; give a {kind} value",
            field="--key",
        ) from None


def sql_predicate(column: str, value: pa.Scalar) -> str:
    """A delta-rs delete predicate matching ``column = value`` (names quoted, quotes doubled)."""
    name = '"' + column.replace('"', '""') + '"'
    kind = value.type
    raw = value.as_py()
    if pa.types.is_boolean(kind):
        literal = "TRUE" if raw else "FALSE"
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        literal = str(raw)
    elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        literal = "'" + raw.isoformat() + "'"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        literal = "'" + str(raw).replace("'", "''") + "'"
    else:
        raise InputError(
            f"cannot erase by column {column} of type {kind}; erase by a string, number, date "
            "or timestamp column",
            field="--key",
        )
    return f"{name} = {literal}"


def hmac_hex(key: bytes, value: str) -> str:
    """``value`` as a ``hash`` column holds it: the ingest policy's keyed HMAC-SHA256, hex
    (:func:`thermocline.quality.pii.transforms.hmac_hex`, the one home of that hash)."""
    digest: str = transforms.hmac_hex(pa.array([value], pa.string()), key)[0].as_py()
    return digest


def fingerprint(key: bytes | None, column: str, value: str) -> str | None:
    """What the erasure event records of the subject instead of the value: a keyed hash of
    ``column`` and ``value``, distinct from the column's own hash (so it joins with no table),
    that only the key's holders can recompute to answer "was X erased?". None without a key:
    a log of who was erased is personal data itself, and an unkeyed hash of an e-mail address
    can be reversed by guessing."""
    if key is None:
        return None
    return hmac.new(key, f"erasure\0{column}\0{value}".encode(), hashlib.sha256).hexdigest()


def live_at(commits: Iterable[LogCommit]) -> Iterable[tuple[int, frozenset[str]]]:
    """(version, live file paths) for each commit in order, replaying adds and removes."""
    live: set[str] = set()
    for commit in commits:
        live -= commit.removes
        live.update(commit.adds)
        yield commit.version, frozenset(live)


def referenced(commits: Iterable[LogCommit]) -> dict[str, Mapping[str, str | None]]:
    """Every data file any of ``commits`` added, with its partition values."""
    found: dict[str, Mapping[str, str | None]] = {}
    for commit in commits:
        found.update(commit.adds)
    return found


def broken_versions(
    commits: Sequence[LogCommit], removed: Iterable[str]
) -> tuple[tuple[int, int], ...]:
    """The versions (as inclusive ranges) whose live files include one of ``removed``."""
    gone = frozenset(removed)
    return to_ranges(version for version, live in live_at(commits) if live & gone)


def holding_versions(commits: Sequence[LogCommit], paths: Iterable[str]) -> list[int]:
    """The fewest versions whose restore brings back every file of ``paths``: for each file,
    the newest version whose live files include it (sorted, each once)."""
    wanted = frozenset(paths)
    newest: dict[str, int] = {}
    for version, live in live_at(commits):
        for path in live & wanted:
            newest[path] = version
    return sorted(set(newest.values()))


def to_ranges(versions: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Sorted versions as inclusive (first, last) runs.

    >>> to_ranges([0, 1, 2, 5, 7, 8])
    ((0, 2), (5, 5), (7, 8))
    """
    runs: list[tuple[int, int]] = []
    for version in sorted(set(versions)):
        if runs and runs[-1][1] == version - 1:
            runs[-1] = (runs[-1][0], version)
        else:
            runs.append((version, version))
    return tuple(runs)
