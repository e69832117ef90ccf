"""PII at ingest: classify a batch's columns, decide each one's action, apply it, before staging.

Every ingest path calls :func:`enforce` between reading (or decoding) a batch and checking it:
the checks then judge the batch as it will be stored, and clear PII never reaches a Parquet
file unless the policy allows it. The pure parts live in :mod:`thermocline.quality.pii`
(:func:`~thermocline.quality.pii.classify.classify_table`,
:func:`~thermocline.quality.pii.policy.plan`, :func:`~thermocline.quality.pii.policy.apply`);
this module adds what they must not touch: the HMAC key from the environment (read only when a
column is hashed; never logged, never in an error) and the catalog's classifications.

>>> result = enforce(project, catalog, "rides", batch.data)        # doctest: +SKIP
>>> result.blocked, result.applied                                  # doctest: +SKIP
(False, {'rider_email': 'hash'})
>>> record_scan(catalog, result.rows(version=4))  # after the publish  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pyarrow as pa

from thermocline.catalog.catalog import Catalog, current_user
from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import DatasetSpec, Project
from thermocline.catalog.errors import ConfigError
from thermocline.quality.pii.classify import NOT_PII, ColumnFinding, classify_table
from thermocline.quality.pii.policy import ColumnDecision, PolicyOutcome, apply, plan

__all__ = [
    "PiiResult",
    "PiiState",
    "StreamPolicy",
    "changed_rows",
    "enforce",
    "hash_key",
    "hashing_key_problem",
    "key_problem",
    "optional_hash_key",
    "policy_active",
    "record_scan",
    "redactions",
    "scan_rows",
    "with_version",
]

PiiState = Literal["applied", "clear"]
"""What a quarantined batch holds: rows after its policy, or as they came (a blocked batch)."""


@dataclass(frozen=True)
class PiiResult:
    """A batch after its PII policy: ``table`` (as it came when ``blocked``), the decisions,
    the block ``reasons`` (columns, classes and the fix; never values)."""

    dataset: str
    table: pa.Table
    outcome: PolicyOutcome | None = None
    findings: Sequence[ColumnFinding] = ()
    current: Mapping[str, Classification] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return bool(self.outcome is not None and self.outcome.blocked)

    @property
    def reasons(self) -> list[str]:
        return self.outcome.reasons if self.outcome is not None else []

    @property
    def state(self) -> PiiState:
        return "clear" if self.blocked else "applied"

    @property
    def decisions(self) -> tuple[ColumnDecision, ...]:
        return self.outcome.decisions if self.outcome is not None else ()

    @property
    def applied(self) -> Mapping[str, str]:
        return self.outcome.applied if self.outcome is not None else {}

    @property
    def redact(self) -> dict[str, str]:
        """Columns a quarantine sample must not show (blocked or PII), with their class."""
        return {d.column: d.pii_class for d in self.decisions if d.action is not None}

    def rows(self, version: int | None) -> list[Classification]:
        """The scan rows to record for this batch, published as ``version`` (None: not)."""
        return scan_rows(self.dataset, self.decisions, version, blocked=self.blocked)


def policy_active(spec: DatasetSpec) -> bool:
    """Whether ingest classifies or transforms this dataset's columns at all."""
    return spec.pii.scan or bool(spec.pii.columns)


def enforce(
    project: Project,
    catalog: Catalog,
    dataset: str,
    table: pa.Table,
    *,
    current: Mapping[str, Classification] | None = None,
    findings: Sequence[ColumnFinding] | None = None,
    environ: Mapping[str, str] | None = None,
) -> PiiResult:
    """Classify ``table`` (unless ``findings`` are given), decide and apply the dataset's policy.

    ``current`` defaults to the catalog's classifications of ``dataset``. Raises
    :class:`ConfigError` when a column must be hashed and the key's variable is unset, and
    :class:`~thermocline.quality.pii.policy.PolicyError` when an action cannot apply to a
    column's type.
    """
    spec = project.dataset(dataset)
    if not policy_active(spec):
        return PiiResult(dataset, table)
    if current is None:
        current = catalog.pii.current(dataset)
    if findings is None:
        findings = classify_table(table, sample_rows=spec.pii.sample_rows) if spec.pii.scan else []
    decisions = plan(spec.pii, findings, current, table.column_names)
    hashed = any(d.action == "hash" for d in decisions)
    blocked = any(d.action == "block" for d in decisions)
    key = hash_key(project, environ) if hashed and not blocked else None
    outcome = apply(table, decisions, key=key)
    return PiiResult(dataset, outcome.table, outcome, findings, current)


def hash_key(project: Project, environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key from the variable ``pii.hash_key_env`` names; :class:`ConfigError` (naming
    the variable, never a value) when it is unset or empty."""
    key = optional_hash_key(project, environ)
    if key is None:
        raise ConfigError(_missing_key(project), field="pii.hash_key_env")
    return key


def optional_hash_key(project: Project, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key, or None when its variable is unset or empty (for work that can go on
    without it, such as an erasure of a column that is not hashed)."""
    environ = os.environ if environ is None else environ
    value = environ.get(project.pii.hash_key_env)
    return value.encode() if value else None


def key_problem(project: Project, environ: Mapping[str, str]) -> str | None:
    """One line saying the key's variable is unset (None when it is set)."""
    return None if optional_hash_key(project, environ) else _missing_key(project)


def _missing_key(project: Project) -> str:
    name = project.pii.hash_key_env
    return (
        f"pii: the HMAC key for `hash` (and for sealing dead letters) is read from ${name}, "
        f"which is not set; fix: export {name}=<a long random secret, the same for every run "
        "of this project> (or name another variable in pii.hash_key_env)"
    )


def scan_rows(
    dataset: str,
    decisions: Sequence[ColumnDecision],
    version: int | None,
    *,
    blocked: bool = False,
) -> list[Classification]:
    """One ``detected`` row per decided column: class, confidence, detector, sample counts and
    the action applied (``block`` for every PII column of a blocked batch; None for a column
    left as it was)."""
    rows = []
    for decision in decisions:
        finding = decision.finding
        action = decision.action
        if blocked and action is not None and action != "block":
            action = None  # nothing was applied: the batch went to quarantine as it came
        if blocked and decision.action == "block":
            action = "block"
        pii_class = decision.pii_class if decision.why != "rejected" else _found_class(finding)
        rows.append(
            Classification(
                dataset=dataset,
                column=decision.column,
                pii_class=pii_class,
                confidence=finding.confidence if finding is not None else 0.0,
                detector=(finding.detector if finding is not None else "") or _by(decision),
                sampled=finding.sampled if finding is not None else 0,
                matched=finding.matched if finding is not None else 0,
                action=action,
                version=version,
            )
        )
    return rows


def record_scan(catalog: Catalog, rows: Sequence[Classification]) -> None:
    """Record scan rows (one append), as the user running the ingest."""
    if rows:
        catalog.pii.record(rows, user=current_user())


def changed_rows(
    rows: Sequence[Classification], recorded: Mapping[str, Classification]
) -> list[Classification]:
    """The rows whose class or action differs from what ``recorded`` holds for their column
    (a stream records a column again only when its handling changes)."""
    return [
        row
        for row in rows
        if (known := recorded.get(row.column)) is None
        or (known.pii_class, known.action) != (row.pii_class, row.action)
    ]


def with_version(rows: Sequence[Classification], version: int | None) -> list[Classification]:
    return [replace(row, version=version) for row in rows]


def _found_class(finding: ColumnFinding | None) -> str:
    return finding.pii_class if finding is not None else NOT_PII


def _by(decision: ColumnDecision) -> str:
    return {"listed": "policy", "confirmed": "person", "known": "catalog"}.get(decision.why, "")


def redactions(project: Project, catalog: Catalog, dataset: str, table: pa.Table) -> dict[str, str]:
    """Columns of ``table`` whose values a quarantine sample must not show (column: class),
    for a batch kept before its policy ran; decided without the key."""
    spec = project.dataset(dataset)
    if not policy_active(spec):
        return {}
    findings = classify_table(table, sample_rows=spec.pii.sample_rows) if spec.pii.scan else []
    decisions = plan(spec.pii, findings, catalog.pii.current(dataset), table.column_names)
    return {d.column: d.pii_class for d in decisions if d.action not in (None, "allow")}


class StreamPolicy:
    """PII for a stream of micro-batches (Kafka), at a cost that fits its hot loop.

    A full classification (``sample_rows`` per column) runs on the first batch, whenever the
    batch's columns or types change (a new field: schema evolution), and every ``rescan_s``
    (also re-reading the catalog, so a review takes effect); in between each batch is classified
    on a small sample (``light_rows`` per column), which still notices a column that starts to
    hold PII. Decisions are sticky: a column once classified as PII keeps its action while a
    later sample misses it (as :func:`~thermocline.quality.pii.policy.plan` does with the
    catalog), and listed columns always get their rule. :meth:`rows_to_record` hands back scan
    rows only when a column's class or action changes, so the catalog does not grow with every
    micro-batch.
    """

    def __init__(
        self,
        project: Project,
        catalog: Catalog,
        dataset: str,
        *,
        environ: Mapping[str, str] | None = None,
        rescan_s: float = 60.0,
        light_rows: int = 200,
    ) -> None:
        self.project, self.catalog, self.dataset = project, catalog, dataset
        self.spec = project.dataset(dataset)
        self.active = policy_active(self.spec)
        self.environ = environ
        self.rescan_s, self.light_rows = rescan_s, light_rows
        self._columns: tuple[tuple[str, str], ...] | None = None
        self._scanned_at = 0.0
        self._catalog: dict[str, Classification] = {}
        self._seen: dict[str, Classification] = {}  # PII this stream classified (sticky)
        self._recorded: dict[str, Classification] | None = None  # publishing thread only

    def enforce(self, table: pa.Table) -> PiiResult:
        """Apply the policy to one decoded micro-batch (the decoding thread)."""
        if not self.active:
            return PiiResult(self.dataset, table)
        columns = tuple((f.name, str(f.type)) for f in table.schema)
        full = columns != self._columns or time.monotonic() - self._scanned_at > self.rescan_s
        if full:
            self._catalog = self.catalog.pii.current(self.dataset)
            self._columns, self._scanned_at = columns, time.monotonic()
        sample = (
            self.spec.pii.sample_rows if full else min(self.light_rows, self.spec.pii.sample_rows)
        )
        findings = classify_table(table, sample_rows=sample) if self.spec.pii.scan else []
        current = dict(self._seen)
        for column, known in self._catalog.items():  # a person's review wins over our scans
            if known.review != "detected" or column not in current:
                current[column] = known
        result = enforce(
            self.project,
            self.catalog,
            self.dataset,
            table,
            current=current,
            findings=findings,
            environ=self.environ,
        )
        for row in result.rows(None):
            if row.pii_class != NOT_PII and row.column not in self._seen:
                self._seen[row.column] = row
        return result

    def rows_to_record(self, result: PiiResult, version: int | None) -> list[Classification]:
        """The scan rows of ``result`` whose class or action changed since this stream (or,
        before its first record, the catalog) last recorded them (the publishing thread)."""
        if not self.active:
            return []
        if self._recorded is None:
            self._recorded = dict(self.catalog.pii.current(self.dataset))
        rows = changed_rows(result.rows(version), self._recorded)
        self._recorded.update({row.column: row for row in rows})
        return rows

    def known_columns(self) -> list[str]:
        """Columns this stream or the catalog classifies as PII (dead-letter previews redact
        their JSON values)."""
        return sorted({*self._seen, *(c for c, k in self._catalog.items() if k.is_pii)})


def hashing_key_problem(project: Project, environ: Mapping[str, str] | None = None) -> str | None:
    """For ``config check``: one line when a dataset hashes (a listed rule or its
    ``default_action``) and the key's variable is unset; None otherwise."""
    environ = os.environ if environ is None else environ
    hashing = [
        name
        for name, spec in project.datasets.items()
        if spec.pii.default_action == "hash"
        or any((r := spec.pii.rule(c)) is not None and r.action == "hash" for c in spec.pii.columns)
    ]
    if not hashing:
        return None
    problem = key_problem(project, environ)
    return f"{problem} (datasets that hash: {', '.join(sorted(hashing))})" if problem else None
