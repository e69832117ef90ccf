"""The check result model that every judge shares (built-in checks, Great Expectations suites,
PII detection): one :class:`CheckResult` per check, one severity rule (:func:`blocking`: a
failed ``error`` result keeps a batch from being published), and the context a check needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, Protocol

import pyarrow as pa

from thermocline.catalog.commits import encode_checks
from thermocline.catalog.config import (
    Check,
    NotNullCheck,
    RowCountCheck,
    SchemaCheck,
    SchemaDriftCheck,
    UniqueCheck,
    VolumeCheck,
)

__all__ = [
    "HISTORY_CHECKS",
    "Baseline",
    "BatchCheck",
    "CheckContext",
    "CheckResult",
    "Engine",
    "MetadataValue",
    "SchemaChanges",
    "Severity",
    "blocking",
    "check_name",
    "check_names",
    "check_result",
    "check_summary",
    "engine_of",
]


MetadataValue = int | float | str
Severity = Literal["error", "warn"]
Engine = Literal["builtin", "history", "gx", "pii"]
"""Which judge gave a result: a built-in check on the batch alone, a history-aware one (the
batch against earlier versions or another dataset), a Great Expectations expectation, PII."""

HISTORY_CHECKS = frozenset({"volume", "schema_drift", "distribution_drift", "referential"})
"""The check kinds that judge a batch against earlier versions or another dataset."""


def engine_of(check: str) -> Engine:
    """The engine of a project-file check kind: ``history`` or ``builtin``."""
    return "history" if check in HISTORY_CHECKS else "builtin"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one batch.

    ``name`` is stable and identifier-safe (it becomes a Dagster asset-check name), ``message`` is
    one line a person can act on, ``metadata`` holds the numbers behind it (``rows``,
    ``failing_rows``, ratios, ages in seconds) for plots and the catalog. ``observed`` is the
    one number the check judged (a null ratio, a PSI, an age in seconds, a row count) and
    ``threshold`` the bound it was held to, as a person reads it (``>= 0.95``, ``<= 0.2``);
    ``failing_rows`` counts the rows that broke it where rows can, ``sample`` quotes a few of
    their values. The catalog keeps all of these per version.
    """

    name: str
    check: str
    severity: Severity
    passed: bool
    message: str
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict, hash=False)
    engine: Engine = "builtin"
    observed: float | None = None
    threshold: str | None = None
    failing_rows: int | None = None
    sample: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A read-only view: results are shared by the publisher, the catalog and Dagster.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        object.__setattr__(self, "sample", tuple(self.sample))

    @property
    def blocking(self) -> bool:
        """True when this result keeps the batch from being published."""
        return not self.passed and self.severity == "error"


@dataclass(frozen=True)
class SchemaChanges:
    """What the batch did to the table's schema, as schema evolution saw it: columns ``added``
    (name -> Arrow type), table columns the batch lacked (``removed``: filled with nulls) and
    columns whose type changed (``retyped``: name -> (table type, batch type))."""

    added: Mapping[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    retyped: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class Baseline:
    """What a history-aware check compares the batch with, read by the caller: the reference
    column of a ``distribution_drift`` check, the key column of a ``referential`` one.

    ``label`` names where it came from for messages (``rides@12 (tag golden)``); ``values`` is
    None when there is nothing to compare with, with ``problem`` saying why (no version yet, an
    unknown tag, a dataset without a table).
    """

    label: str
    values: pa.ChunkedArray | None = None
    problem: str | None = None


@dataclass(frozen=True)
class CheckContext:
    """What a check needs besides the batch, handed in so that the checks stay pure.

    ``now`` is the time the batch is judged at (time zone aware; kept in UTC),
    ``previous_row_counts`` the row counts of recently published batches, newest first (empty
    for a dataset's first batch), ``schema`` the declared schema (None when it is inferred),
    ``schema_changes`` what the batch changes in the table's schema (None: not known, e.g. the
    table's first batch), ``baselines`` what each history-aware check (by result name) compares
    with.
    """

    now: datetime
    previous_row_counts: Sequence[int] = ()
    schema: pa.Schema | None = None
    schema_changes: SchemaChanges | None = None
    baselines: Mapping[str, Baseline] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError(
                f"CheckContext.now must be time zone aware, got {self.now.isoformat()}; "
                "pass datetime.now(UTC)"
            )
        object.__setattr__(self, "now", self.now.astimezone(UTC))
        object.__setattr__(self, "previous_row_counts", tuple(self.previous_row_counts))


class BatchCheck(Protocol):
    """Anything that judges a batch: the built-in checks, a Great Expectations suite, a PII scan.

    The publisher runs every ``BatchCheck`` of a dataset on a staged batch and blocks on the
    failed ``error`` results of all of them; result names must be unique within the dataset.
    """

    def __call__(self, batch: pa.Table, context: CheckContext, /) -> list[CheckResult]: ...


def blocking(results: Sequence[CheckResult]) -> list[CheckResult]:
    """The failed ``error`` results: what keeps a batch from being published."""
    return [result for result in results if result.blocking]


def check_name(spec: Check) -> str:
    """The base name of a check: its kind and its columns, e.g. ``not_null_ride_id_started_at``.

    Characters other than letters, digits and ``_`` become ``_`` so the name is a valid Dagster
    asset-check name. Two checks of a dataset can share a base name (two ranges on one column);
    :func:`check_names` makes them unique.
    """
    if isinstance(spec, NotNullCheck | UniqueCheck):
        columns: list[str] = list(spec.columns)
    elif isinstance(spec, SchemaCheck | RowCountCheck | VolumeCheck | SchemaDriftCheck):
        columns = []
    elif spec.column == "*":
        columns = ["all"]
    else:
        columns = [spec.column]
    return "_".join([spec.check, *(_name_part(column) for column in columns)])


def check_names(specs: Sequence[Check]) -> list[str]:
    """The names of a dataset's checks, in order, unique: repeats get ``_2``, ``_3``, ..."""
    names: list[str] = []
    taken: set[str] = set()
    for spec in specs:
        base = name = check_name(spec)
        number = 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        taken.add(name)
        names.append(name)
    return names


def _name_part(column: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", column).strip("_") or "column"


def check_result(
    spec: Check,
    name: str,
    passed: bool,
    message: str,
    metadata: Mapping[str, MetadataValue],
    *,
    engine: Engine = "builtin",
    observed: float | None = None,
    threshold: str | None = None,
    failing_rows: int | None = None,
    sample: Sequence[str] = (),
) -> CheckResult:
    """The result of check ``spec`` (its kind and severity) under the name ``name``."""
    return CheckResult(
        name,
        spec.check,
        spec.severity,
        passed,
        message,
        metadata,
        engine=engine,
        observed=observed,
        threshold=threshold,
        failing_rows=failing_rows,
        sample=tuple(sample),
    )


def check_summary(results: list[CheckResult]) -> str:
    """The check results as the JSON that publishing commits carry under
    :data:`~thermocline.catalog.commits.CHECKS_KEY` (read back as
    the catalog's fallback for results it lacks: see
    :func:`~thermocline.catalog.commits.encode_checks`)."""
    return encode_checks(results)
