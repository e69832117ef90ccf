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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from thermocline.catalog.arrow_types import decoded
from thermocline.catalog.config import PiiAction, PiiPolicy
from thermocline.quality.pii.classify import NOT_PII, ColumnFinding
from thermocline.quality.pii.transforms import (
    PolicyError,
    can_generalize,
    generalize,
    hmac_hex,
    is_text,
    mask,
)

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


class Classification(Protocol):
    """What :func:`plan` reads of a catalog classification
    (:class:`thermocline.catalog.classifications.Classification`; not imported here: quality
    stays free of storage)."""

    @property
    def pii_class(self) -> str: ...

    @property
    def review(self) -> str: ...

    @property
    def is_pii(self) -> bool: ...


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


def _transform(
    decision: ColumnDecision, values: pa.ChunkedArray, key: bytes | None
) -> tuple[pa.ChunkedArray, str | None]:
    name, action = decision.column, decision.action
    if action == "generalize":
        return generalize(name, values, decision.to)
    note = None
    values = decoded(values)
    if not is_text(values.type):
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
    return mask(values.cast(pa.string()), decision.keep), note
