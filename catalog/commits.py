"""The one home of the commit-metadata keys Thermocline writes into Delta commits.

Every publish, rollback and maintenance commit carries ``thermocline.*`` keys in its commit
info: who and why, what it holds (rows, files), where its data came from (the source position,
DESIGN.md > Decision 3) and how it was judged. Writers and readers import the names here and
never spell a key themselves, so a key cannot drift between the module that writes it and the
one that reads it (a test greps for stray literals).

>>> from thermocline.catalog.commits import FILES_KEY, json_list
>>> json_list({FILES_KEY: '["s3://landing/a.csv"]'}.get(FILES_KEY))
['s3://landing/a.csv']
>>> json_list(None)
[]
>>> import datetime, decimal
>>> encode_watermark(datetime.date(2026, 11, 2))
'{"type": "date", "value": "2026-11-02"}'
>>> decode_watermark(encode_watermark(decimal.Decimal("12.50")))
Decimal('12.50')
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from thermocline.catalog.errors import ConfigError

__all__ = [
    "ADDED_COLUMNS_KEY",
    "BATCH_KEY",
    "CHECKS_KEY",
    "DEFINITION_KEY",
    "ERASURE_KEY",
    "ETAGS_KEY",
    "FILES_KEY",
    "FILE_COUNT_KEY",
    "INPUTS_KEY",
    "JOURNAL_KEY",
    "JOURNAL_STEP_KEY",
    "KEYS_IGNORED_KEY",
    "KEYS_UPDATED_KEY",
    "KIND_KEY",
    "ON_DUPLICATE_KEY",
    "PARTITION_KEY",
    "QUARANTINE_KEY",
    "REASON_KEY",
    "RELEASE_KEY",
    "REPLAYED_KEY",
    "REPLAY_KEY",
    "RESTORE",
    "ROLLBACK_TO_KEY",
    "ROWS_KEY",
    "ROWS_REMOVED_KEY",
    "SIZES_KEY",
    "USER_KEY",
    "WATERMARK_KEY",
    "JudgedResult",
    "decode_checks",
    "decode_watermark",
    "encode_checks",
    "encode_watermark",
    "finite",
    "json_list",
    "operation_of",
]

# Who and why: every commit Thermocline makes.
USER_KEY = "thermocline.user"
REASON_KEY = "thermocline.reason"

# What a publish holds. Our publish commits carry no delta-rs operationMetrics, so rows and
# files are recorded here for `history`.
ROWS_KEY = "thermocline.rows"
FILE_COUNT_KEY = "thermocline.files"
ROWS_REMOVED_KEY = "thermocline.rows_removed"
BATCH_KEY = "thermocline.batch"  # the staged batch id
CHECKS_KEY = "thermocline.checks"  # the check summary of the batch (encode_checks)
QUARANTINE_KEY = "thermocline.quarantine"  # where a batch that failed a check went
REPLAYED_KEY = "thermocline.quarantine.replayed"  # the quarantine id a replay published

# Primary keys (a dataset with `primary_key`): what the batch's known keys did.
ON_DUPLICATE_KEY = "thermocline.keys.on_duplicate"  # reject | update | ignore
KEYS_UPDATED_KEY = "thermocline.keys.updated"  # rows that replaced a published row (update)
KEYS_IGNORED_KEY = "thermocline.keys.ignored"  # batch rows dropped: key known or repeated

# Where the data came from: the source position travels in the same commit as the rows.
KIND_KEY = "thermocline.source.kind"  # files | sql | kafka | derived
FILES_KEY = "thermocline.source.files"  # JSON list of URLs the commit consumed
SIZES_KEY = "thermocline.source.sizes"  # JSON list of their sizes (same order), null if unknown
ETAGS_KEY = "thermocline.source.etags"  # JSON list of their ETags/mtimes (same order) or null
REPLAY_KEY = "thermocline.source.replay"  # JSON list of URLs a replay made unconsumed
WATERMARK_KEY = "thermocline.source.watermark"  # JSON {"type": ..., "value": ...}
ADDED_COLUMNS_KEY = "thermocline.source.added_columns"  # JSON list, when the batch adds any
PARTITION_KEY = "thermocline.source.partition"  # the partition a partition run replaced
# A derived dataset's inputs: JSON {dataset: version} of the input versions it was computed
# from (its app transactions `derived:<input>` carry the same versions, for the publish CAS).
INPUTS_KEY = "thermocline.source.inputs"
# ... and a fingerprint of the query or function that computed it (a change recomputes all).
DEFINITION_KEY = "thermocline.source.definition"

# Rollbacks.
ROLLBACK_TO_KEY = "thermocline.rollback_to"  # the version a restore went back to
JOURNAL_KEY = "thermocline.journal"  # the release-rollback journal a restore belongs to
JOURNAL_STEP_KEY = "thermocline.journal_step"  # restore (to the release) | undo (an abort)
RELEASE_KEY = "thermocline.release"  # the release a restore rolled back

# Erasure (right to be forgotten): the erasure id a delete commit belongs to.
ERASURE_KEY = "thermocline.erasure"


RESTORE = "RESTORE"
"""The operation of a rollback commit, as delta-rs's ``restore`` names it."""


def operation_of(info: Mapping[str, Any]) -> str:
    """A commit's operation from its commit info. A rollback committed from a pinned
    version's file list is a plain ``WRITE`` to delta-rs but records :data:`ROLLBACK_TO_KEY`;
    it is the :data:`RESTORE` it stands for, so readers treat both alike.

    >>> operation_of({"operation": "WRITE", ROLLBACK_TO_KEY: "3"}), operation_of({})
    ('RESTORE', '')
    """
    if info.get(ROLLBACK_TO_KEY) is not None:
        return RESTORE
    return str(info.get("operation") or "")


def json_list(value: Any) -> list[Any]:
    """A JSON-list key's value as a list: ``[]`` when absent or not a list."""
    if value is None:
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed) if isinstance(parsed, list) else []


def encode_watermark(value: Any) -> str:
    """A SQL source's watermark as the :data:`WATERMARK_KEY` value: JSON with its type, so
    that a date reads back as a date and a decimal as a decimal."""
    if isinstance(value, dt.datetime):
        return json.dumps({"type": "datetime", "value": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"type": "date", "value": value.isoformat()})
    if isinstance(value, decimal.Decimal):
        return json.dumps({"type": "decimal", "value": str(value)})
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(
            f"watermark value {value!r} ({type(value).__name__}) cannot be a watermark; use an "
            "integer, number, string, date or timestamp column"
        )
    return json.dumps({"type": type(value).__name__, "value": value})


def decode_watermark(text: str) -> Any:
    """The watermark a :data:`WATERMARK_KEY` value holds, in its own type."""
    record = json.loads(text)
    kind, value = record["type"], record["value"]
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return decimal.Decimal(value)
    return {"int": int, "float": float, "str": str}[kind](value)


class JudgedResult(Protocol):
    """What the catalog reads from a check result (a
    :class:`~thermocline.quality.results.CheckResult`; the catalog sits below ``quality``)."""

    @property
    def name(self) -> str: ...
    @property
    def check(self) -> str: ...
    @property
    def engine(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def observed(self) -> float | None: ...
    @property
    def threshold(self) -> str | None: ...
    @property
    def failing_rows(self) -> int | None: ...
    @property
    def sample(self) -> Sequence[str]: ...
    @property
    def message(self) -> str: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...


_CHECK_NUMBERS = ("observed", "threshold", "failing_rows")


def finite(value: float | None) -> float | None:
    """A check's observed value as JSON and Delta can hold it: NaN (nothing judged) as None."""
    if value is None or math.isnan(value):
        return None
    return float(value)


def encode_checks(results: Iterable[JudgedResult]) -> str:
    """Check results as the :data:`CHECKS_KEY` value: per result name its verdict, severity,
    message, kind and engine, and its observed value, threshold and failing rows when it has
    them. No sample and no metadata: it rides in every publish commit, so it stays small; the
    catalog (:mod:`.check_results`) keeps the whole result and reads this back only for a
    version whose catalog rows are missing.

    >>> from types import SimpleNamespace as R
    >>> encode_checks([R(name="not_null_id", check="not_null", engine="builtin",
    ...     severity="error", passed=False, message="id: 1 of 3 rows are null",
    ...     observed=1 / 3, threshold="== 0", failing_rows=1)])   # doctest: +NORMALIZE_WHITESPACE
    '{"not_null_id": {"check": "not_null", "engine": "builtin", "failing_rows": 1,
      "message": "id: 1 of 3 rows are null", "observed": 0.3333333333333333,
      "passed": false, "severity": "error", "threshold": "== 0"}}'
    """
    summary: dict[str, dict[str, Any]] = {}
    for r in results:
        entry: dict[str, Any] = {
            "passed": r.passed,
            "severity": r.severity,
            "message": r.message,
            "check": r.check,
            "engine": r.engine,
        }
        values = (finite(r.observed), r.threshold, r.failing_rows)
        entry.update({k: v for k, v in zip(_CHECK_NUMBERS, values, strict=True) if v is not None})
        summary[r.name] = entry
    return json.dumps(summary, sort_keys=True)


def decode_checks(text: str | None) -> dict[str, dict[str, Any]]:
    """A :data:`CHECKS_KEY` value as {result name: its entry}; ``{}`` when absent or unreadable.

    >>> decode_checks('{"not_null_id": {"passed": true, "severity": "error", "message": "ok"}}')
    {'not_null_id': {'passed': True, 'severity': 'error', 'message': 'ok'}}
    """
    try:
        summary = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(summary, dict):
        return {}
    return {str(name): entry for name, entry in summary.items() if isinstance(entry, dict)}
