"""The value transforms of PII policies: keyed hashing, masking, generalizing (pure, vectorized).

:func:`hmac_hex` is HMAC-SHA256 (RFC 2104) with the key's pads hashed once and copied per value,
over each distinct value once; masking and generalizing are ``pyarrow.compute`` kernels (Python
only for IPv6 prefixes, once per distinct value). What each action means is in
:mod:`thermocline.quality.pii.policy`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.arrow_types import decoded
from thermocline.catalog.errors import InputError

__all__ = ["PolicyError", "can_generalize", "generalize", "hmac_hex", "is_text", "mask"]


class PolicyError(InputError):
    """A policy cannot be applied to a column (e.g. ``generalize`` on an integer column)."""


def can_generalize(type_: pa.DataType) -> bool:
    """Whether ``generalize`` has a meaning for a column of this type."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return bool(
        (
            pa.types.is_temporal(type_)
            and not pa.types.is_time(type_)
            and not pa.types.is_duration(type_)
            and not pa.types.is_interval(type_)
        )
        or pa.types.is_floating(type_)
        or is_text(type_)
    )


_HEX_PAIRS = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)
_DIGEST = 32


def hmac_hex(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.ChunkedArray:
    """HMAC-SHA256 of each string value under ``key``, as 64 lowercase hex characters.

    Equal to ``hmac.new(key, value.encode(), "sha256").hexdigest()`` for every value; nulls
    stay null. Each distinct value is hashed once (a dictionary encoding), with the key's inner
    and outer pads hashed once and copied per value (RFC 2104), so a batch costs about 1 µs per
    distinct value.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    inner, outer = _pads(key)
    out = []
    for chunk in chunks:
        encoded = pc.dictionary_encode(chunk)
        distinct = encoded.dictionary.cast(pa.large_binary())
        hexed = _hex(_digests(distinct, inner, outer), len(distinct))
        out.append(hexed.take(encoded.indices))
    return pa.chunked_array(out, pa.string())


def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def _digests(distinct: pa.Array, inner: hashlib._Hash, outer: hashlib._Hash) -> bytes:
    _, offsets_buffer, data = distinct.buffers()
    start = distinct.offset
    offsets = np.frombuffer(offsets_buffer, np.int64)[start : start + len(distinct) + 1].tolist()
    body = memoryview(data) if data is not None else memoryview(b"")
    inner_copy, outer_copy = inner.copy, outer.copy
    digests: list[bytes] = []
    keep = digests.append
    for begin, end in pairwise(offsets):  # the hot loop: calls only
        first = inner_copy()
        first.update(body[begin:end])
        second = outer_copy()
        second.update(first.digest())
        keep(second.digest())
    return b"".join(digests)


def _hex(digests: bytes, count: int) -> pa.Array:
    text = _HEX_PAIRS[np.frombuffer(digests, np.uint8)].tobytes()
    offsets = np.arange(0, 2 * _DIGEST * (count + 1), 2 * _DIGEST, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))


def mask(values: pa.ChunkedArray, keep: int) -> pa.ChunkedArray:
    length = pc.utf8_length(values)
    hidden = pc.max_element_wise(pc.subtract(length, keep), 0)
    stars = pc.binary_repeat(pa.scalar("*"), hidden)
    tail = pc.utf8_slice_codeunits(values, start=-keep) if keep else pc.binary_repeat("", hidden)
    masked = pc.binary_join_element_wise(stars, tail, "")
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), masked)


_IPV4 = r"^\s*(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\s*$"
_ISO_DATE = r"^\s*(\d{4})[-/.](\d{2})[-/.]\d{2}(?:[T ].*)?$"
_OTHER_DATE = r"^\s*\d{1,2}[-/.]\d{1,2}[-/.](\d{4})(?:[T ].*)?$"
_LAT_LON = r"^\s*(?P<lat>[-+]?\d{1,3}(?:\.\d+)?)\s*[,;]\s*(?P<lon>[-+]?\d{1,3}(?:\.\d+)?)\s*$"
_IPV6 = r"^\s*[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\s*$"


def generalize(name: str, values: pa.ChunkedArray, to: str) -> tuple[pa.ChunkedArray, str | None]:
    values = decoded(values)
    type_ = values.type
    if not can_generalize(type_):
        raise PolicyError(
            f"pii.columns.{name}: cannot generalize a {type_} column (dates, timestamps, "
            "coordinates, IP addresses and date strings can); fix: use hash, mask or drop"
        )
    if pa.types.is_floating(type_):
        return pc.round(values, 2), None
    if not is_text(type_):
        return pc.floor_temporal(values, unit=to), None
    text = values.cast(pa.string()).combine_chunks()
    month = to == "month"
    ipv4 = pc.match_substring_regex(text, _IPV4)
    iso = pc.match_substring_regex(text, _ISO_DATE)
    other = pc.match_substring_regex(text, _OTHER_DATE)
    geo = pc.match_substring_regex(text, _LAT_LON)
    ipv6 = pc.match_substring_regex(text, _IPV6)
    out = pa.nulls(len(text), pa.string())
    out = pc.if_else(ipv6, _ipv6_prefixes(text, ipv6), out)
    out = pc.if_else(geo, _round_pairs(text), out)
    out = pc.if_else(other, pc.replace_substring_regex(text, _OTHER_DATE, r"\1"), out)
    iso_to = r"\1-\2" if month else r"\1"
    out = pc.if_else(iso, pc.replace_substring_regex(text, _ISO_DATE, iso_to), out)
    out = pc.if_else(ipv4, pc.replace_substring_regex(text, _IPV4, r"\1.0"), out)
    lost = pc.sum(pc.and_(pc.is_valid(text), pc.is_null(out))).as_py() or 0
    note = f"{name}: {lost} value(s) of no known shape generalized to null" if lost else None
    return pa.chunked_array([out], pa.string()), note


def _round_pairs(text: pa.Array) -> pa.Array:
    pairs = pc.extract_regex(text, _LAT_LON)
    parts = []
    for part in ("lat", "lon"):
        number = pc.cast(pc.struct_field(pairs, part), pa.float64(), safe=False)
        parts.append(pc.cast(pc.round(number, 2), pa.string()))
    return pc.binary_join_element_wise(parts[0], parts[1], ", ")


def _ipv6_prefixes(text: pa.Array, where: pa.Array) -> pa.Array:
    """The /48 network of each IPv6 value (Python's ``ipaddress``, once per distinct value)."""
    candidates = pc.if_else(where, text, pa.scalar(None, pa.string()))
    encoded = pc.dictionary_encode(candidates)
    prefixes: list[str | None] = []
    for value in encoded.dictionary.to_pylist():
        try:
            network = ipaddress.IPv6Network(f"{value.strip()}/48", strict=False)
            prefixes.append(str(network.network_address))
        except ValueError:
            prefixes.append(None)
    return pa.array(prefixes, pa.string()).take(encoded.indices)


def is_text(type_: pa.DataType) -> bool:
    """A string column of any layout."""
    return bool(
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_string_view(type_)
    )
