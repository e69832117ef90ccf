"""PII policies: decide what happens to each column (:func:`plan`), then do it (:func:`apply`).

Pure, like the rest of :mod:`thermocline.quality`: the caller hands in the batch, the findings
of :func:`~thermocline.quality.pii.classify.classify_table`, the catalog's current
classifications and, when a column is hashed, the HMAC key bytes.

How a column's action is decided (:func:`plan`), first match wins:

1. ``pii.columns`` lists it: its rule, always, whether or not this batch's sample found PII;
2. a person **rejected** its classification: not PII, nothing is done (unless this batch finds
   a *different* class than the one rejected);
3. a person **confirmed** it, or an earlier scan classified it as PII: ``default_action``, even
   when this batch's sample misses it (a column's handling does not flicker from batch to batch,
   e.g. when a batch holds only nulls in it);
4. this batch's scan classifies it as PII (also a column that first appears in this batch):
   ``default_action``;
5. otherwise nothing.

What the actions do (:func:`apply`); nulls stay null in every one:

- ``hash``: keyed HMAC-SHA256, lowercase hex (64 characters). The same value gives the same hash
  in every dataset under one key, so joins on hashed columns still work. A non-string column is
  hashed as its canonical text (Arrow's cast to string: ``42``, ``2024-03-01``), and becomes a
  string column. Each distinct value is hashed once per batch.
- ``mask``: every character but the last ``keep`` becomes ``*`` (``****1234``); a value no
  longer than ``keep`` stays as it is. A non-string column is masked as its text.
- ``drop``: the column is not stored.
- ``generalize``: dates and timestamps are truncated to the year or month (``to``), keeping
  their type (``1987-03-14`` -> ``1987-01-01``); floating-point columns (coordinates) are
  rounded to 2 decimals; strings by their shape: ISO dates to ``1987`` / ``1987-03`` (day-first
  or month-first dates keep their year only: the month cannot be told), ``"lat, lon"`` pairs
  rounded to 2 decimals, IPv4 to its /24 (``10.1.2.0``), IPv6 to its /48 (``2001:db8:1::``).
  A string value of no known shape becomes null (counted in :attr:`PolicyOutcome.notes`).
  Other types cannot be generalized: :class:`PolicyError`.
- ``allow``: stored as it is (the loader still refuses the column unless allowed).
- ``block``: nothing is transformed; the batch must be quarantined with
  :attr:`PolicyOutcome.reasons`.

>>> import pyarrow as pa
>>> from thermocline.catalog.config import PiiPolicy
>>> decisions = plan(PiiPolicy(columns={"card": {"action": "mask"}}), [], {}, ["card"])
>>> apply(pa.table({"card": ["4111111111111111"]}), decisions).table["card"].to_pylist()
['************1111']
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import PiiAction, PiiPolicy
from thermocline.catalog.errors import InputError
from thermocline.quality.pii.classify import NOT_PII, ColumnFinding

__all__ = [
    "ColumnDecision",
    "PolicyError",
    "PolicyOutcome",
    "apply",
    "can_generalize",
    "hmac_hex",
    "plan",
    "transformed_schema",
]

TRANSFORMS = ("hash", "mask", "drop", "generalize")
"""The actions that change what is stored."""


class PolicyError(InputError):
    """A policy cannot be applied to a column (e.g. ``generalize`` on an integer column)."""


@dataclass(frozen=True, slots=True)
class ColumnDecision:
    """What happens to one column, and why.

    ``pii_class`` is what the column holds as far as the decision knows (:data:`NOT_PII` for a
    listed column no scan classified); ``why`` is ``listed`` (``pii.columns``), ``confirmed``
    (a person), ``known`` (an earlier scan), ``detected`` (this batch) or ``rejected`` (a
    person said it is not PII: ``action`` is None). ``finding`` is this batch's scan of it.
    """

    column: str
    action: PiiAction | None
    pii_class: str
    why: str
    keep: int = 4
    to: str = "year"
    finding: ColumnFinding | None = None

    @property
    def transforms(self) -> bool:
        return self.action in TRANSFORMS


@dataclass(frozen=True)
class PolicyOutcome:
    """The batch after its policy, or why it is blocked.

    ``table`` is the transformed batch, or the batch as it came when ``blocked`` (a blocked
    batch is quarantined in clear, by necessity: there is no rule to apply yet). ``applied``
    maps each column to the action done to it; ``notes`` say what a reader should know
    (a non-string column hashed as text, values of no known shape nulled).
    """

    table: pa.Table
    decisions: tuple[ColumnDecision, ...]
    applied: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def blocked(self) -> list[ColumnDecision]:
        return [d for d in self.decisions if d.action == "block"]

    @property
    def reasons(self) -> list[str]:
        """One line per blocked batch: the columns, their classes and the fix (never values)."""
        blocked = self.blocked
        if not blocked:
            return []
        named = ", ".join(f"{d.column} ({d.pii_class}, {d.why})" for d in blocked)
        example = ", ".join(f"{d.column}: hash" for d in blocked)
        return [
            f"pii: personal data in column(s) {named} and the policy is block; fix: add "
            f"`pii: {{columns: {{{example}}}}}` (or mask, drop, generalize, allow) to the "
            "dataset, or `thermocline pii review DATASET.COLUMN --reject` if it is not PII, "
            "then replay the batch"
        ]


def plan(
    policy: PiiPolicy,
    findings: Sequence[ColumnFinding],
    current: Mapping[str, Classification],
    columns: Sequence[str],
) -> list[ColumnDecision]:
    """Decide the action of every column in ``columns`` (see the module docstring).

    ``findings`` is this batch's scan (may be empty, or cover only some columns), ``current``
    the catalog's classifications of the dataset with reviews applied.
    """
    found = {f.column: f for f in findings}
    decisions = []
    for column in columns:
        finding, known = found.get(column), current.get(column)
        detected = finding is not None and finding.is_pii
        rule = policy.rule(column)
        if rule is not None:
            pii_class = _class_of(finding, known)
            decisions.append(
                ColumnDecision(
                    column, rule.action, pii_class, "listed", rule.keep, rule.to, finding
                )
            )
            continue
        default = policy.default_action
        if known is not None and known.review == "rejected":
            if detected and finding is not None and finding.pii_class != known.pii_class:
                decisions.append(
                    ColumnDecision(column, default, finding.pii_class, "detected", finding=finding)
                )
            else:
                decisions.append(
                    ColumnDecision(column, None, known.pii_class, "rejected", finding=finding)
                )
        elif known is not None and known.is_pii:
            why = "confirmed" if known.review == "confirmed" else "known"
            decisions.append(ColumnDecision(column, default, known.pii_class, why, finding=finding))
        elif detected and finding is not None:
            decisions.append(
                ColumnDecision(column, default, finding.pii_class, "detected", finding=finding)
            )
        else:
            decisions.append(ColumnDecision(column, None, NOT_PII, "", finding=finding))
    return decisions


def _class_of(finding: ColumnFinding | None, known: Classification | None) -> str:
    if known is not None and known.review == "confirmed":
        return known.pii_class
    if finding is not None and finding.is_pii:
        return finding.pii_class
    if known is not None and known.is_pii:
        return known.pii_class
    return NOT_PII


def apply(
    table: pa.Table, decisions: Sequence[ColumnDecision], *, key: bytes | None = None
) -> PolicyOutcome:
    """Apply ``decisions`` to ``table``; a ``block`` anywhere leaves the table as it came.

    ``key`` is the HMAC key, needed only when a column is hashed (:class:`PolicyError` else).
    Decisions for columns the table lacks are ignored.
    """
    decisions = tuple(d for d in decisions if d.column in table.column_names)
    if any(d.action == "block" for d in decisions):
        return PolicyOutcome(table, decisions)
    applied: dict[str, str] = {}
    notes: list[str] = []
    for decision in decisions:
        if not decision.transforms:
            if decision.action is not None:
                applied[decision.column] = decision.action
            continue
        name = decision.column
        index = table.column_names.index(name)
        if decision.action == "drop":
            table = table.remove_column(index)
        else:
            values, note = _transform(decision, table.column(index), key)
            table = table.set_column(index, pa.field(name, values.type), values)
            if note:
                notes.append(note)
        applied[name] = str(decision.action)
    return PolicyOutcome(table, decisions, applied, tuple(notes))


def transformed_schema(schema: pa.Schema, decisions: Sequence[ColumnDecision]) -> pa.Schema:
    """``schema`` as :func:`apply` leaves it: dropped columns gone, hashed and masked ones
    strings (what a declared schema check and an empty positions-only commit must use)."""
    actions = {d.column: d.action for d in decisions}
    fields = []
    for column in schema:
        action = actions.get(column.name)
        if action == "drop":
            continue
        if action in ("hash", "mask"):
            column = column.with_type(pa.string())
        fields.append(column)
    return pa.schema(fields, metadata=schema.metadata)


def can_generalize(type_: pa.DataType) -> bool:
    """Whether ``generalize`` has a meaning for a column of this type."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return (
        (
            pa.types.is_temporal(type_)
            and not pa.types.is_time(type_)
            and not pa.types.is_duration(type_)
            and not pa.types.is_interval(type_)
        )
        or pa.types.is_floating(type_)
        or _is_text(type_)
    )


# --- the transforms ---------------------------------------------------------------------------


def _transform(
    decision: ColumnDecision, values: pa.ChunkedArray, key: bytes | None
) -> tuple[pa.ChunkedArray, str | None]:
    name, action = decision.column, decision.action
    if action == "generalize":
        return _generalize(name, values, decision.to)
    note = None
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not _is_text(values.type):
        note = f"{name}: {values.type} {action}ed as its text, stored as string"
        try:
            values = values.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise PolicyError(
                f"pii.columns.{name}: cannot {action} a {values.type} column; "
                "fix: drop it, or declare it as a string"
            ) from None
    if action == "hash":
        if key is None:
            raise PolicyError(f"pii.columns.{name}: hash needs the HMAC key; none was given")
        return hmac_hex(values, key), note
    return _mask(values.cast(pa.string()), decision.keep), note


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
    digests = []
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


def _mask(values: pa.ChunkedArray, keep: int) -> pa.ChunkedArray:
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


def _generalize(name: str, values: pa.ChunkedArray, to: str) -> tuple[pa.ChunkedArray, str | None]:
    type_ = values.type
    if pa.types.is_dictionary(type_):
        values = values.cast(type_.value_type)
        type_ = values.type
    if not can_generalize(type_):
        raise PolicyError(
            f"pii.columns.{name}: cannot generalize a {type_} column (dates, timestamps, "
            "coordinates, IP addresses and date strings can); fix: use hash, mask or drop"
        )
    if pa.types.is_floating(type_):
        return pc.round(values, 2), None
    if not _is_text(type_):
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
    prefixes = []
    for value in encoded.dictionary.to_pylist():
        try:
            network = ipaddress.IPv6Network(f"{value.strip()}/48", strict=False)
            prefixes.append(str(network.network_address))
        except ValueError:
            prefixes.append(None)
    return pa.array(prefixes, pa.string()).take(encoded.indices)


def _is_text(type_: pa.DataType) -> bool:
    return (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or (pa.types.is_string_view(type_))
    )
