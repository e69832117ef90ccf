"""Arrow and numpy helpers the detectors share: strings in, byte matrices and checks out.

Validators judge whole arrays at once; where only Python can judge (a checksum library, a
numbering plan), :func:`judge_unique` runs it once per *distinct* candidate, because a column's
sample repeats values and Python costs microseconds a value where Arrow costs nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["as_strings", "by_length", "char_matrix", "judge_unique", "luhn", "strip_chars"]


def as_strings(values: pa.Array | pa.ChunkedArray) -> pa.StringArray:
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


def char_matrix(values: pa.StringArray, width: int) -> np.ndarray:
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


def by_length(
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
            out[idx] = judge(char_matrix(values.take(pa.array(idx)), width))
    return pa.array(out)


def strip_chars(values: pa.StringArray, chars: str) -> pa.StringArray:
    """``values`` without any of ``chars`` (separators: spaces, dashes, dots)."""
    return pc.replace_substring_regex(values, pattern=f"[{re.escape(chars)}]", replacement="")


_LUHN_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.uint8)


def luhn(digits: np.ndarray) -> np.ndarray:
    """The Luhn checksum over an ``(n, L)`` matrix of ASCII digits; one repeated digit
    (``0000...``, ``4444...``) fails even when the sum holds: no real number is one."""
    d = digits - np.uint8(48)
    width = d.shape[1]
    # Every second digit from the right is doubled, a doubled digit over 9 losing 9 (a table).
    doubled = (width - 1 - np.arange(width)) % 2 == 1
    weighted = np.where(doubled, _LUHN_DOUBLED[np.minimum(d, 9)], d)
    total = weighted.sum(axis=1, dtype=np.int32)
    varied = (d != d[:, :1]).any(axis=1)
    return np.asarray((total % 10 == 0) & varied, bool)


def judge_unique(values: pa.StringArray, judge: Callable[[str], bool]) -> pa.BooleanArray:
    """``judge`` each distinct value once (in Python) and spread the verdicts back; nulls are
    False. For checks no Arrow kernel expresses (a checksum library, a numbering plan)."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    verdicts = np.fromiter((judge(v) for v in distinct), dtype=bool, count=len(distinct))
    # A null's code is null: point it at an extra False verdict.
    codes = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
    return pa.array(np.append(verdicts, False)[codes])
