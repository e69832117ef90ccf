"""Poison in Kafka JSON payloads: what keeps a record from being exactly one JSON object, found
with vectorized checks over the batch's payloads as one Arrow binary array (Python looks only
at the records at fault).

- a record over ``max_record_bytes`` (the Kafka source's setting; Avro too);
- not valid UTF-8: JSON text is UTF-8, the reader does not check it, and a bad string would
  crash the statistics of the staged file on every retry (the stream stuck);
- not starting with ``{``: ``null`` (the reader would make it an all-null row), empty, a
  number, a string, an array;
- NaN or Infinity in a float: JSON has neither (the reader accepts the literals, and Python's
  ``json.dumps`` writes them); Avro can carry them, so this is for JSON only.

Every record that passes :func:`screen_json` yields at least one row, so a run that parses to
one row per record holds one object per record; a record holding several values is caught by
the row count (:mod:`.payloads`), even next to an empty record whose missing row would
otherwise make the count add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["MAX_RECORD_BYTES", "non_finite", "screen_json", "too_big"]

MAX_RECORD_BYTES = 8 * 1024 * 1024  # the default limit of one record (payload), in bytes


def screen_json(
    payloads: Sequence[bytes], lines: pa.LargeBinaryArray, max_record_bytes: int
) -> list[tuple[int, str]]:
    """The payloads that cannot be one JSON object, with the reason: over the size limit, not
    UTF-8, or not starting with ``{``. ``lines`` holds each payload and a newline after it
    (none after the last), one Arrow value each. Vectorized; Python looks at the failures."""
    failures: list[tuple[int, str]] = []
    sizes = pc.binary_length(lines)  # a payload's size, plus one for its newline
    if len(lines) and pc.max(sizes).as_py() > max_record_bytes:
        over = pc.indices_nonzero(pc.greater(sizes, max_record_bytes)).to_pylist()
        failures += [
            (i, too_big(len(payloads[i]), max_record_bytes))
            for i in over
            if len(payloads[i]) > max_record_bytes
        ]
    for index in _not_utf8(lines, 0):
        try:
            payloads[index].decode()
        except UnicodeDecodeError as error:
            failures.append((index, f"not valid UTF-8: {error}"))
    for index in pc.indices_nonzero(pc.invert(pc.starts_with(lines, "{"))).to_pylist():
        stripped = payloads[index].strip()
        if stripped.startswith(b"{"):
            continue  # whitespace before the object
        what = "empty" if not stripped else "null" if stripped == b"null" else None
        reason = (
            f"{what} payload: not a JSON object"
            if what
            else f"not a JSON object: {stripped[:20]!r}"
        )
        failures.append((index, reason))
    found: dict[int, str] = {}
    for index, reason in failures:
        found.setdefault(index, reason)  # the first reason of a record
    return sorted(found.items())


def too_big(size: int, limit: int) -> str:
    return f"record of {size} bytes is over the limit of {limit} bytes (max_record_bytes)"


def _not_utf8(payloads: pa.LargeBinaryArray, offset: int) -> list[int]:
    """Positions (plus ``offset``) of the payloads that are not valid UTF-8: one cast checks
    the whole array; only a failing one is halved."""
    try:
        payloads.cast(pa.large_string())
    except pa.ArrowInvalid:
        if len(payloads) == 1:
            return [offset]
        middle = len(payloads) // 2
        return _not_utf8(payloads.slice(0, middle), offset) + _not_utf8(
            payloads.slice(middle), offset + middle
        )
    return []


def non_finite(table: pa.Table) -> list[tuple[int, str]]:
    """Rows with NaN or Infinity in a float column (or a list of floats): JSON has neither."""
    found: dict[int, str] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        listed = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
        if not pa.types.is_floating(column.type.value_type if listed else column.type):
            continue
        values, rows = column.combine_chunks(), None  # indices over the whole column
        if listed:
            values, rows = pc.list_flatten(values), pc.list_parent_indices(values)
        if len(values) == 0:
            continue
        bad = pc.invert(pc.fill_null(pc.is_finite(values), True))
        if not pc.any(bad).as_py():
            continue
        at = pc.indices_nonzero(bad)
        for row in (at if rows is None else pc.take(rows, at)).to_pylist():
            found.setdefault(row, f"column {name!r}: NaN or Infinity, which JSON does not have")
    return sorted(found.items())
