"""Word lists for the PII detectors that need more than a pattern: fold and look up tokens fast.

A :class:`Lexicon` maps upper-case ASCII words to bit flags (given name, surname, street type...).
Lookups are vectorized: tokens are padded to a fixed width, viewed as one numpy ``S`` array and
mixed into one 64-bit key and binary-searched
in the sorted keys of the word list, so a call costs microseconds per thousand tokens and
nothing is rebuilt per call (``pyarrow.compute.is_in`` would hash the 200k-word list every time).

The name lists ship as package data (``data/*.txt.gz``), built by
``scripts/build_pii_lexicons.py`` from public-domain sources (see there).

Example::

    >>> import pyarrow as pa
    >>> lex = Lexicon.from_words({"ANNA": 1, "SMITH": 2})
    >>> lex.flags(pa.array(["ANNA", "BOB", "SMITH"])).tolist()
    [1, 0, 2]
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "LETTER",
    "LOWER",
    "UPPER",
    "WIDTH",
    "Lexicon",
    "fold",
    "merge",
    "packaged_words",
    "tokens",
]

# Latin-script letters as RE2 class bodies (use inside [...]). The lexicons hold Latin-script
# words only, and RE2 runs these small classes 10-30x faster than \p{L} (UTF-8 DFA size).
UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽȘȚ"
LOWER = "a-zß-öø-ÿāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįıĳĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżžșț"
LETTER = "A-Za-zÀ-ÖØ-öø-ɏȘșȚț"

WIDTH = 16
"""Longest word a lexicon holds; longer tokens are never found (no name is that long)."""


_UNFOLDED = {"ß": "SS", "ẞ": "SS", "Ł": "L", "Ø": "O", "Æ": "AE", "Œ": "OE", "Đ": "D"}
"""Letters without an NFKD decomposition, after upper-casing."""


def fold(values: pa.StringArray) -> pa.StringArray:
    """Upper-case ASCII letters for lookups: accents dropped (NFKD, combining marks removed),
    ``ß`` → ``SS`` (and the few letters NFKD keeps: ``Ł Ø Æ Œ``), apostrophes dropped
    (``O'Brien`` → ``OBRIEN``), other characters kept."""
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        # The common case, and cheap: only case and apostrophes to fold.
        return pc.ascii_upper(pc.replace_substring(values, "'", ""))
    text = pc.utf8_normalize(values, form="NFKD")
    text = pc.replace_substring_regex(text, pattern=r"[\p{Mn}'\x{2019}]", replacement="")
    text = pc.utf8_upper(text)
    for letter, ascii_ in _UNFOLDED.items():
        text = pc.replace_substring(text, letter, ascii_)
    return text


def tokens(values: pa.StringArray, separators: str) -> tuple[pa.StringArray, np.ndarray]:
    """Split each value at the RE2 character class ``separators`` and drop empty pieces.

    Returns the pieces and, per piece, the index of the value it came from.
    """
    lists = pc.split_pattern_regex(values, pattern=separators)
    parts = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy()
    keep = pc.greater(pc.binary_length(parts), 0)
    parts = parts.filter(keep)
    return parts, parents[keep.to_numpy(zero_copy_only=False)]


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _keys(words: pa.StringArray) -> np.ndarray:
    """One 64-bit key per word: its first ``WIDTH`` bytes, NUL-padded, mixed into a ``uint64``.

    Two words of the lexicon never share a key (:meth:`Lexicon.from_words` checks); a token that
    is no word could share one with a word at odds of about one in 10^14 per token.
    """
    n = len(words)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    cut = pc.utf8_slice_codeunits(words, 0, WIDTH)
    padded = pc.utf8_rpad(cut, width=WIDTH, padding="\0")
    # combine_chunks/take may leave an offset: index the data buffer from the first offset.
    _, offsets_buf, data_buf = padded.buffers()
    start = int(np.frombuffer(offsets_buf, dtype=np.int32)[padded.offset])
    halves = np.frombuffer(data_buf, dtype="<u8", count=n * 2, offset=start).reshape(n, 2)
    with np.errstate(over="ignore"):
        mixed: np.ndarray = (halves[:, 0] * _MIX) ^ (halves[:, 1] + (halves[:, 1] >> np.uint64(29)))
    return mixed


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Sorted word keys (see ``_keys``) and one ``uint8`` bit set per word."""

    keys: np.ndarray
    bits: np.ndarray

    @classmethod
    def from_words(cls, flags: Mapping[str, int]) -> Lexicon:
        """Build from ``{WORD: bits}`` (words upper-case ASCII, at most ``WIDTH`` long)."""
        words = [w for w in flags if 0 < len(w) <= WIDTH]
        keys = _keys(pa.array(words, pa.string()))
        order = np.argsort(keys)
        keys = keys[order]
        if keys.size and (np.diff(keys) == 0).any():
            raise ValueError("two lexicon words share a lookup key: change _MIX")
        bits = np.array([flags[w] for w in words], dtype=np.uint8)[order]
        return cls(keys, bits)

    def flags(self, words: pa.StringArray) -> np.ndarray:
        """The bits of each word (0 where the lexicon lacks it), one ``uint8`` per word."""
        keys = _keys(words)
        if keys.size == 0 or self.keys.size == 0:
            return np.zeros(len(keys), dtype=np.uint8)
        at = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        short = pc.less_equal(pc.binary_length(words), WIDTH).to_numpy(zero_copy_only=False)
        found = (self.keys[at] == keys) & short
        return np.where(found, self.bits[at], np.uint8(0)).astype(np.uint8)


@cache
def packaged_words(name: str) -> tuple[str, ...]:
    """The words of ``data/<name>.txt.gz`` shipped with this package (read once)."""
    path = resources.files("thermocline.quality.pii").joinpath("data", f"{name}.txt.gz")
    return tuple(gzip.decompress(path.read_bytes()).decode("ascii").split())


def merge(groups: Iterable[tuple[Iterable[str], int]]) -> dict[str, int]:
    """``{word: bits}`` from ``(words, bit)`` groups, OR-ing the bits of a word in several."""
    out: dict[str, int] = {}
    for words, bit in groups:
        for word in words:
            out[word] = out.get(word, 0) | bit
    return out
