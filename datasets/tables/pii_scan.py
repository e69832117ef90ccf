"""Scan a published table for personal data: classify a bounded sample of every column of one
version and record the findings in the catalog (``thermocline pii scan``, the Dagster asset).

Works on any table, also one loaded before PII policies existed: such columns are recorded
with ``action = None`` (PII in clear). A column that was ingested under a policy is recorded
with the action applied, read from what the data shows and what was recorded before:

- values that look like HMAC-SHA256 hex (or masked, ``****1234``) are ``hash`` (``mask``) when
  the newest recorded row of the column or the dataset's policy says so (a column of SHA-256
  digests that no policy names is just not PII);
- otherwise the newest recorded action (at publish, by ingest) of the column, if it is
  ``allow`` or ``generalize`` (values cannot contradict those), or ``allow`` from the policy;
- otherwise None: the column holds what came in.

A transformed column keeps its class (from the recorded row, else its name): a hashed
``rider_email`` is still an email column, only not in clear.

The sample is bounded: at most ``sample_rows`` rows, read as the first rows of row groups
chosen at random (weighted by rows) over up to 32 files, so a scan of a big table reads a few
row groups and never the whole table; a table with fewer rows is read whole.

>>> scan = scan_dataset(catalog, "rides", policy=spec.pii)          # doctest: +SKIP
>>> scan.version, scan.current["rider_email"].pii_class             # doctest: +SKIP
(3, 'email')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from thermocline.catalog.catalog import Catalog, current_user
from thermocline.catalog.classifications import NOT_PII, Classification
from thermocline.catalog.config import PiiColumnRule, PiiPolicy
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.versions import (
    live_files,
    open_table,
    read_dataset,
    resolve_version,
)
from thermocline.quality.pii.classify import ColumnFinding, classify_columns
from thermocline.quality.pii.detectors import DETECTORS, hint_matches

__all__ = ["PiiScan", "is_mixed", "not_allowed", "sample_table", "scan_dataset"]

_MAX_FILES = 32  # files a sample reads from (a row group or more each)
_LOOKS = 0.9  # share of values that must look hashed (masked) to call the column so
_HMAC = r"^[0-9a-f]{64}$"
_TRUSTED = ("allow", "generalize")  # recorded actions the values cannot contradict
_NAME_ONLY_CONFIDENCE = 0.5


@dataclass(frozen=True)
class PiiScan:
    """What one scan read and recorded.

    ``recorded`` holds the scan rows as written (one per column, in column order);
    ``current`` the scanned columns' classifications afterwards, a person's review applied.
    """

    dataset: str
    version: int
    rows_read: int
    rows_total: int
    recorded: list[Classification]
    current: dict[str, Classification]


def scan_dataset(
    catalog: Catalog,
    dataset: str,
    *,
    policy: PiiPolicy | None = None,
    at: int | str | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
    user: str | None = None,
) -> PiiScan:
    """Classify every column of ``dataset`` at ``at`` (version, tag or time; default the
    latest) from a bounded sample and record one scan row per column.

    ``policy`` is the dataset's ``pii:`` block (None for a dataset the project file does not
    declare); ``sample_rows`` defaults to its ``sample_rows``.
    """
    policy = policy or PiiPolicy()
    size = sample_rows if sample_rows is not None else policy.sample_rows
    if size < 1:
        raise InputError(f"sample must be at least 1 row, not {size}", field="--sample")
    version = resolve_version(catalog, dataset, at)
    data = read_dataset(catalog, dataset, version)
    rows = {
        f["path"]: int(f["num_records"] or 0)
        for f in live_files(open_table(catalog.lake, dataset, version))
    }
    sample = sample_table(data, rows, size, seed=seed)
    prior = _recorded_actions(catalog, dataset, version)
    now, user = datetime.now(tz=UTC), user or current_user()
    columns = [
        (name, sample.column(name) if name in sample.column_names else pa.array([], pa.null()))
        for name in data.schema.names
    ]
    # One call for the table: each detector's pattern is compiled once, not once per column.
    findings = classify_columns(columns, sample_rows=size, seed=seed)
    recorded = []
    for (name, values), found in zip(columns, findings, strict=True):
        judged = _judge(dataset, version, found, values, policy.rule(name), prior.get(name))
        recorded.append(replace(judged, at=now, user=user))
    catalog.pii.record(recorded, user=user)
    after = catalog.pii.current(dataset)
    return PiiScan(
        dataset,
        version,
        sample.num_rows,
        sum(rows.values()),
        recorded,
        {c.column: after.get(c.column, c) for c in recorded},
    )


def sample_table(
    data: pads.Dataset, rows_by_path: Mapping[str, int], rows: int, *, seed: int = 0
) -> pa.Table:
    """Up to about ``rows`` rows of ``data`` spread over its files, nested columns left out.

    The whole table when it holds no more than ``rows`` (by the Delta log's counts); else the
    first rows of row groups chosen at random, weighted by rows, from up to 32 files: a few
    row groups are read, never the whole table.
    """
    columns = [f.name for f in data.schema if _flat(f.type)]
    fragments = list(data.get_fragments())
    counts = np.array([rows_by_path.get(f.path, 0) for f in fragments], dtype=np.float64)
    if not fragments or counts.sum() <= rows:
        return data.to_table(columns=columns)
    rng = np.random.default_rng(seed)
    weights = counts + 1  # a file the log gives no count for may still be chosen
    chosen = rng.choice(
        len(fragments),
        size=min(_MAX_FILES, len(fragments)),
        replace=False,
        p=weights / weights.sum(),
    )
    quota = math.ceil(rows / len(chosen))
    parts = [_head_of_row_groups(fragments[i], data.schema, columns, quota, rng) for i in chosen]
    return pa.concat_tables(parts).slice(0, rows)


def is_mixed(found: Classification) -> bool:
    """PII in some sampled rows only (free text with an occasional email), judged by the same
    rule the classifier uses; a person's confirmation (nothing sampled) is not mixed."""
    finding = ColumnFinding(
        found.column,
        found.pii_class if found.is_pii else NOT_PII,
        found.confidence,
        found.detector,
        found.sampled,
        found.matched,
    )
    return found.sampled > 0 and finding.mixed


def _head_of_row_groups(
    fragment: pads.Fragment,
    schema: pa.Schema,
    columns: Sequence[str],
    quota: int,
    rng: np.random.Generator,
) -> pa.Table:
    """The first rows of one file's row groups, taken in random order until ``quota``."""
    parts: list[pa.Table] = []
    groups = fragment.split_by_row_group()
    for index in rng.permutation(len(groups)):
        part = groups[index].scanner(schema=schema, columns=list(columns)).head(quota)
        parts.append(part)
        quota -= part.num_rows
        if quota <= 0:
            break
    if not parts:
        return schema.empty_table().select(list(columns))
    return pa.concat_tables(parts)


def _flat(type_: pa.DataType) -> bool:
    return not (
        pa.types.is_nested(type_)
        or pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
        or pa.types.is_fixed_size_binary(type_)
    )


def _recorded_actions(catalog: Catalog, dataset: str, version: int) -> dict[str, Classification]:
    """Per column, the newest scan row of a published version up to ``version`` that names an
    action (ingest records the policy it applied at publish)."""
    found: dict[str, Classification] = {}
    for row in catalog.pii.history(dataset):
        if (
            row.review == "detected"
            and row.action is not None
            and row.version is not None
            and row.version <= version
        ):
            found[row.column] = row
    return found


def _judge(
    dataset: str,
    version: int,
    found: ColumnFinding,
    values: pa.Array | pa.ChunkedArray,
    rule: PiiColumnRule | None,
    prior: Classification | None,
) -> Classification:
    """The scan row of one column: its finding plus the action the data shows was applied."""
    recorded = prior.action if prior is not None else None
    looks, looking = _looks_transformed(values)
    row = Classification(
        dataset,
        found.column,
        found.pii_class,
        found.confidence,
        found.detector,
        found.sampled,
        found.matched,
        version=version,
    )
    if looks is not None and looks in (recorded, rule.action if rule else None):
        action: str | None = looks
    elif recorded in _TRUSTED:
        action = recorded
    elif rule is not None and rule.action == "allow":
        action = "allow"
    else:
        action = None
    row = replace(row, action=action)
    if action in ("hash", "mask", "generalize") and not found.is_pii:
        row = _class_of_transformed(row, prior, looking if looks == action else found.matched)
    return row


def _class_of_transformed(
    row: Classification, prior: Classification | None, matched: int
) -> Classification:
    """A hashed (masked, generalized) column keeps the class it had: the recorded one, else
    the one its name suggests."""
    if prior is not None and prior.pii_class != NOT_PII:
        return replace(
            row,
            pii_class=prior.pii_class,
            confidence=prior.confidence,
            detector=prior.detector,
            matched=matched,
        )
    hinted = next((d.name for d in DETECTORS.values() if hint_matches(d, row.column)), None)
    if hinted is None:
        return row
    return replace(
        row,
        pii_class=hinted,
        confidence=_NAME_ONLY_CONFIDENCE,
        detector=f"name:{hinted}",
        matched=matched,
    )


def _looks_transformed(values: pa.Array | pa.ChunkedArray) -> tuple[str | None, int]:
    """``("hash" | "mask" | None, how many values look so)``: whether nearly every value of a
    string sample is HMAC-SHA256 hex or masked with leading ``*``."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None, 0
    present = pc.drop_null(values)
    if len(present) == 0:
        return None, 0
    for action, hits in (
        ("hash", pc.match_substring_regex(present, _HMAC)),
        ("mask", pc.starts_with(present, "*")),
    ):
        count = int(pc.sum(hits).as_py() or 0)
        if count >= _LOOKS * len(present):
            return action, count
    return None, 0


def not_allowed(
    current: Mapping[str, Classification], policy: PiiPolicy | None
) -> list[Classification]:
    """The columns that hold PII in clear although the policy does not allow it: in clear by
    their classification, and neither listed as ``allow`` nor covered by a ``default_action``
    of ``allow``. What the Dagster PII check fails on.

    >>> not_allowed(catalog.pii.current("rides"), spec.pii)      # doctest: +SKIP
    []
    """
    policy = policy or PiiPolicy()
    refused = []
    for found in current.values():
        rule = policy.rule(found.column)
        allowed = (rule.action if rule is not None else policy.default_action) == "allow"
        if found.in_clear and not allowed:
            refused.append(found)
    return refused
