"""Quarantine at ingest: keep a failed batch per source, count its input consumed, replay it.

A batch that fails an ERROR check (or cannot take the table's schema) is kept per source file
(:func:`quarantine_batch`), each with the checks that failed on its own rows and a sample, and
its source positions are published without its rows, in one commit that names the quarantine.
So every source record is in the table or in quarantine, once, and the next run reads on.
:func:`replay` re-runs the checks and publishes the rows, once: the commit carries the app
transaction ``quarantine:<id>``, so a second (or concurrent) replay publishes nothing more.
A batch kept in clear (the PII policy blocked it) gets the dataset's current policy on replay;
one kept after its policy is never transformed twice (a hash is not hashed again).

>>> replay(project, catalog, "7f3c0a").status                      # doctest: +SKIP
'published'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, Event, lake_of
from thermocline.catalog.commits import (
    CHECKS_KEY,
    ETAGS_KEY,
    FILES_KEY,
    INPUTS_KEY,
    KIND_KEY,
    PARTITION_KEY,
    QUARANTINE_KEY,
    REPLAYED_KEY,
    SIZES_KEY,
)
from thermocline.catalog.config import DatasetSpec, Project
from thermocline.catalog.errors import CommitConflictError, QuarantineError
from thermocline.datasets.ingest.base import SourceBatch, arrow_schema, open_or_none
from thermocline.datasets.ingest.evolution import evolve_schema
from thermocline.datasets.ingest.judge import context_for, judge
from thermocline.datasets.ingest.pii import PiiState, enforce, record_scan
from thermocline.datasets.ingest.schema_changes import evolved_changes
from thermocline.datasets.tables.keyed import plan_keys, publish_keyed
from thermocline.datasets.tables.quarantine import (
    QuarantinedBatch,
    QuarantinePart,
    find_quarantined,
    mark_replayed,
    quarantine_parts,
    read_quarantined,
    remove_quarantine,
)
from thermocline.datasets.tables.staging import discard, stage
from thermocline.datasets.tables.writes import publish
from thermocline.quality.pii.policy import transformed_schema
from thermocline.quality.results import CheckResult, SchemaChanges, blocking, check_summary

__all__ = [
    "ReplayOutcome",
    "kafka_parts",
    "quarantine_batch",
    "quarantine_kafka",
    "replay",
    "replay_app_id",
]

# What a replay re-states.
_CARRIED = (KIND_KEY, FILES_KEY, SIZES_KEY, ETAGS_KEY, PARTITION_KEY, INPUTS_KEY)


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay did: ``published`` as ``version``, or ``already_replayed`` (as
    ``version``) and nothing more published."""

    id: str
    dataset: str
    status: Literal["published", "already_replayed"]
    rows: int = 0
    version: int | None = None
    checks: list[CheckResult] = field(default_factory=list)


def replay_app_id(quarantine_id: str) -> str:
    """The app transaction a replay of quarantine ``quarantine_id`` commits (once)."""
    return f"quarantine:{quarantine_id}"


def quarantine_batch(
    catalog: Catalog,
    spec: DatasetSpec,
    batch: SourceBatch,
    reasons: list[str],
    judge_part: Callable[[pa.Table], list[CheckResult]] | None,
    *,
    pii: PiiState = "clear",
    redact: Mapping[str, str] | None = None,
    schema: pa.Schema | None = None,
) -> str:
    """Quarantine ``batch`` per source file and publish its source positions without its rows;
    return the quarantine folder. ``judge_part`` gives the results of a file's own rows
    (:func:`.judge.part_judge`); None: no checks to split (a schema conflict, a PII block).
    ``pii``: the rows are after the PII policy (``applied``) or as they came (``clear``: a
    replay applies the policy); ``redact``: columns the samples must not show (column: class);
    ``schema``: the table's schema to create it with when it does not exist yet (default: the
    declared one).

    The quarantine is written first and the positions commit names it: a run that loses the
    race for those positions takes its quarantine back and raises :class:`CommitConflictError`.
    """
    lake = lake_of(catalog)
    dataset = batch.dataset
    partition_by = spec.partition_by or None
    parts = []
    for name, position, rows in _per_source(batch):
        failed = blocking(judge_part(rows)) if judge_part else []
        staged = stage(lake, dataset, rows, partition_by=partition_by)
        parts.append(QuarantinePart(name, staged, rows, failed, position))
    carried = {k: v for k, v in batch.commit_metadata.items() if k in _CARRIED}
    folder = quarantine_parts(
        catalog,
        dataset,
        parts,
        reasons,
        kind=batch.commit_metadata.get(KIND_KEY, "files"),
        description=batch.description,
        pii=pii,
        redact=redact,
        # The positions its commit sets: a partition replay is a compare-and-swap on them.
        # What the batch changed in the schema (its rows are kept conformed, so a replay
        # cannot see a removed column in them).
        publish={
            "mode": batch.mode,
            "replace": batch.replace if isinstance(batch.replace, str) else list(batch.replace),
            "metadata": carried,
            "positions": batch.app_transactions,
            "expected": batch.expected_positions,
            "schema_changes": None
            if batch.schema_changes is None
            else asdict(batch.schema_changes),
        },
    )
    if batch.commit_metadata.get(KIND_KEY) == "derived":
        # No positions-only commit: a derived table's positions say which input versions its
        # rows were computed from, and these rows are not in it. The next run computes the same
        # thing again; a replay publishes these rows if nothing was committed since.
        return folder
    table = open_or_none(lake, dataset)
    if table is not None:
        schema = arrow_schema(table)
    elif schema is None:
        schema = spec.arrow_schema()
    nothing = (schema or batch.data.schema).empty_table()  # no new columns from rejected rows
    empty = stage(lake, dataset, nothing, partition_by=partition_by)
    try:
        publish(
            catalog,
            empty,
            reason=f"quarantined {batch.data.num_rows} rows, positions only: {batch.description}",
            app_transactions=batch.app_transactions,
            expected_positions=batch.expected_positions,
            metadata={**batch.commit_metadata, QUARANTINE_KEY: folder},
            record_event=False,
        )
    except CommitConflictError:
        discard(lake, empty)
        remove_quarantine(catalog, folder)
        raise
    return folder


def quarantine_kafka(
    catalog: Catalog,
    spec: DatasetSpec,
    dataset: str,
    topic: str,
    rows: pa.Table,
    positions: Sequence[tuple[int, int]],
    reasons: list[str],
    judge_part: Callable[[pa.Table], list[CheckResult]] | None,
    *,
    pii: PiiState = "applied",
    redact: Mapping[str, str] | None = None,
) -> str:
    """Quarantine a Kafka micro-batch per partition and return the folder: each part keeps its
    rows, first and last offsets, the checks that failed on its own rows (``judge_part``, see
    :func:`.judge.part_judge`; None when the rows were not judged) and a sample.
    ``positions`` are each row's (partition, offset). The caller publishes the batch's
    positions naming the folder (and takes the folder back if that publish loses its race)."""
    lake = lake_of(catalog)
    parts = []
    for partition, indices, first, last in kafka_parts(positions, rows.num_rows):
        part = rows.take(indices) if partition is not None else rows
        failed = blocking(judge_part(part)) if judge_part is not None and pii != "clear" else []
        staged = stage(lake, dataset, part, partition_by=spec.partition_by or None)
        name = f"{topic}:{partition}" if partition is not None else topic
        position = {"partition": partition, "first_offset": first, "last_offset": last}
        parts.append(QuarantinePart(name, staged, part, failed, position))
    last_offsets = {p.source: p.position["last_offset"] for p in parts}
    return quarantine_parts(
        catalog,
        dataset,
        parts,
        reasons,
        kind="kafka",
        description=f"kafka {topic}: {rows.num_rows} records",
        source={"kafka_last_offsets": last_offsets},
        pii=pii,
        redact=redact,
    )


def kafka_parts(
    positions: Sequence[tuple[int, int]], rows: int
) -> list[tuple[int | None, list[int], int | None, int | None]]:
    """Split a micro-batch's rows by partition: (partition, row indices, first offset, last
    offset) in partition order. Rows that cannot be matched to positions stay one part.

    >>> kafka_parts([(1, 7), (0, 3), (1, 8)], 3)
    [(0, [1], 3, 3), (1, [0, 2], 7, 8)]
    """
    if len(positions) != rows or rows == 0:
        return [(None, list(range(rows)), None, None)]
    by_partition: dict[int, list[int]] = {}
    for index, (partition, _) in enumerate(positions):
        by_partition.setdefault(partition, []).append(index)
    return [
        (p, indices, positions[indices[0]][1], positions[indices[-1]][1])
        for p, indices in sorted(by_partition.items())
    ]


def replay(
    project: Project, catalog: Catalog, quarantine_id: str, *, now: datetime | None = None
) -> ReplayOutcome:
    """Re-run the checks on a quarantined batch and publish it, exactly once.

    Its positions were published when it was quarantined, so the replay commit carries only its
    own app transaction (``quarantine:<id>``) and re-states the source files for lineage.
    Raises :class:`QuarantineError` when checks still fail (nothing published; fix the data or
    the checks, or discard it) and :class:`CommitConflictError` when a concurrent replay won.
    """
    lake = lake_of(catalog)
    record = find_quarantined(catalog, quarantine_id)
    app = replay_app_id(record.id)
    table = open_or_none(lake, record.dataset)
    if table is not None and table.transaction_version(app) is not None:
        version = _replayed_version(table, record.id)
        if record.state != "replayed" and version is not None:
            mark_replayed(catalog, record, version)  # a crash after the publish: finish it
        return ReplayOutcome(record.id, record.dataset, "already_replayed", 0, version)
    derived = record.publish.get("metadata", {}).get(KIND_KEY) == "derived"
    if derived:
        _check_derived_unchanged(table, record)
    elif table is None or not _positions_published(table, record):
        raise QuarantineError(
            f"quarantine {record.id} of {record.dataset}: its source positions were never "
            "published (the run stopped between quarantining and publishing them), so the next "
            "run reads its input again; replaying it would load it twice. Discard it: "
            f"thermocline quarantine discard {record.id[:12]}"
        )
    spec = project.dataset(record.dataset)
    overwrite = record.publish.get("mode") == "overwrite"
    # A partition run replaces its partition with a recompute of the whole source: replayed
    # after anything else consumed that source, it would drop what was loaded since.
    positions: dict[str, int] = dict(record.publish.get("positions") or {})
    if (
        overwrite
        and not derived
        and table is not None  # (never None here: checked above, unless derived)
        and (not positions or any(table.transaction_version(a) != v for a, v in positions.items()))
    ):
        partition = record.publish.get("metadata", {}).get(PARTITION_KEY, "PARTITION")
        raise QuarantineError(
            f"quarantine {record.id[:12]} of {record.dataset} replaces partition {partition}, "
            "and the source was consumed again since: replaying it would drop rows loaded "
            f"since. Run the partition again (thermocline ingest batch {record.dataset} "
            f"--partition {partition}), then thermocline quarantine discard {record.id[:12]}"
        )
    current = arrow_schema(table) if table is not None else None  # a derived first run's
    kept = read_quarantined(catalog, record)
    evolved = evolve_schema(current, kept)
    data = evolved.data
    changes = _recorded_changes(record.publish.get("schema_changes")) or evolved_changes(
        current, [(kept.schema, evolved)], evolved.schema
    )
    policy = None
    if record.pii != "applied":  # blocked, or kept before the policy ran: apply it now
        policy = enforce(project, catalog, record.dataset, data)
        if policy.blocked:
            raise QuarantineError(
                f"quarantine {record.id[:12]} of {record.dataset} is still blocked: "
                f"{'; '.join(policy.reasons)}"
            )
        data = policy.table
    declared = spec.arrow_schema()
    if declared is not None and policy is not None:
        declared = transformed_schema(declared, policy.decisions)
    context = context_for(
        project,
        catalog,
        record.dataset,
        now=now or datetime.now(tz=UTC),
        schema=declared,
        schema_changes=changes,  # the table as it is now: what the replay would change
    )
    results = judge(project, record.dataset, data, context)
    reasons = [r.message for r in blocking(results)]
    keys = None
    if spec.primary_key and not overwrite:  # the same key rule as the run that quarantined it
        keys = plan_keys(lake, record.dataset, data, spec.primary_key, spec.on_duplicate)
        reasons += keys.reasons
    if reasons:
        raise QuarantineError(
            f"quarantine {record.id[:12]} of {record.dataset} still fails "
            f"{'; '.join(reasons)}: nothing published. Fix the checks in the "
            f"project file and replay, or drop it: thermocline quarantine discard {record.id[:12]}"
        )
    staged = stage(
        lake,
        record.dataset,
        keys.rows if keys is not None else data,
        partition_by=record.publish.get("partition_by"),
    )
    # Overwrite: move the positions on by one, so a run that read the source before this replay
    # loses its race (and a rival commit of them makes delta-rs reject this one). A derived
    # batch publishes the positions its run would have: the table is where that run planned.
    expected: dict[str, int | None] = {app: None}
    if derived:
        moved = positions
        expected.update(record.publish.get("expected") or {})
    elif overwrite:
        moved = {a: v + 1 for a, v in positions.items()}
        expected.update(positions)
    else:
        moved = {}
    replaced = record.publish.get("replace", "touched")
    try:
        version = publish_keyed(
            catalog,
            staged,
            keys,
            mode="overwrite" if overwrite else "append",
            reason=f"replay of quarantine {record.id[:12]}: {record.description}",
            app_transactions={app: 1, **moved},
            expected_positions=expected,
            metadata={
                **record.publish.get("metadata", {}),
                REPLAYED_KEY: record.id,
                CHECKS_KEY: check_summary(results),
            },
            replace=replaced if isinstance(replaced, str) else tuple(replaced),
        )
    except CommitConflictError:
        discard(lake, staged)
        raise
    catalog.checks.record(record.dataset, results, version=version, at=context.now)
    mark_replayed(catalog, record, version)
    if policy is not None:
        record_scan(catalog, policy.rows(version))
    catalog.record(Event("quarantine_replay", record.dataset, version, None, {"batch": record.id}))
    return ReplayOutcome(record.id, record.dataset, "published", data.num_rows, version, results)


def _recorded_changes(recorded: Mapping[str, Any] | None) -> SchemaChanges | None:
    """The schema changes a quarantine recorded of its batch (None: none recorded)."""
    if not recorded:
        return None
    return SchemaChanges(
        added=dict(recorded.get("added") or {}),
        removed=tuple(recorded.get("removed") or ()),
        retyped={k: (v[0], v[1]) for k, v in (recorded.get("retyped") or {}).items()},
    )


def _per_source(batch: SourceBatch) -> list[tuple[str, dict[str, object], pa.Table]]:
    """The batch's rows per source file (one part for all when they cannot be told apart)."""
    data = batch.data
    if not batch.files:
        return [("", {}, data)]
    partition = batch.commit_metadata.get(PARTITION_KEY)
    if len(batch.file_rows) != len(batch.files) or sum(batch.file_rows) != data.num_rows:
        return [(", ".join(f.url for f in batch.files), {"partition": partition}, data)]
    parts, start = [], 0
    for file, rows in zip(batch.files, batch.file_rows, strict=True):
        position: dict[str, object] = {"size": file.size, "etag": file.etag}
        if partition is not None:
            position["partition"] = partition
        parts.append((file.url, position, data.slice(start, rows)))
        start += rows
    return parts


def _check_derived_unchanged(table: DeltaTable | None, record: QuarantinedBatch) -> None:
    """A derived batch replays only onto the table its run planned against: a commit since
    (a later run, a partition run) means its rows may be stale, or already recomputed."""
    expected = dict(record.publish.get("expected") or {})
    have = {a: (table.transaction_version(a) if table is not None else None) for a in expected}
    if have != expected:
        raise QuarantineError(
            f"quarantine {record.id[:12]} of {record.dataset} was computed from input versions "
            f"the table has moved past (it recorded {expected}, it is at {have}): replaying it "
            f"could publish stale rows. Run it again (thermocline ingest batch {record.dataset}), "
            f"then thermocline quarantine discard {record.id[:12]}"
        )


def _positions_published(table: DeltaTable, record: QuarantinedBatch) -> bool:
    return any(entry.get(QUARANTINE_KEY) == record.path for entry in table.history())


def _replayed_version(table: DeltaTable, quarantine_id: str) -> int | None:
    for entry in table.history():
        if entry.get(REPLAYED_KEY) == quarantine_id:
            version: int = entry["version"]
            return version
    return None
