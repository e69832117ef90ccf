"""Version operations: rollback, release rollback, vacuum, diff, describe, list.

Rollback is a Delta restore preceded by a preflight that every file of the target still
exists, so a rollback that cannot complete changes nothing (DESIGN.md > Decision 5). Release
rollbacks run under a journal in the catalog and resume after a crash. Vacuum never deletes
files that a tagged or released version references, and logs what it removed.

>>> rollback(lake, "rides", to="golden", reason="bad load")            # doctest: +SKIP
RollbackResult(dataset='rides', from_version=9, target_version=3, new_version=10, ...)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from thermocline.catalog.catalog import Catalog, Event, JournalStep, Tag, current_user
from thermocline.catalog.errors import DatasetNotFoundError, MissingFilesError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import (
    COMMIT_REASON_KEY,
    COMMIT_USER_KEY,
    history,
    open_table,
    resolve_version,
)

__all__ = [
    "DatasetSummary",
    "Description",
    "Diff",
    "PartitionChange",
    "ReleaseRollbackResult",
    "RollbackResult",
    "VacuumResult",
    "describe",
    "diff",
    "list_datasets",
    "missing_files",
    "release_rollback",
    "rollback",
    "vacuum",
]

_JOURNAL_KEY = "thermocline.journal"
_MISSING_SHOWN = 20


# --- rollback --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackResult:
    dataset: str
    from_version: int
    target_version: int
    new_version: int | None  # None: a dry run, or already at the target
    files_added: int = 0
    files_removed: int = 0


def rollback(
    lake: Lake,
    dataset: str,
    to: int | str | datetime,
    *,
    dry_run: bool = False,
    reason: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> RollbackResult:
    """Restore ``dataset`` to the version ``to`` names (number, tag or time) as a new version.

    The preflight makes sure every file of the target exists, else raises
    :class:`MissingFilesError` listing those that do not, and nothing changes. A rollback is
    itself a version, so rolling back a rollback works the same way.
    """
    table = open_table(lake, dataset)
    current = table.version()
    target = resolve_version(lake, dataset, to, table=table)
    if dry_run or target == current:
        return _plan(lake, dataset, table, target)
    # The target's files are the current ones it keeps plus the ones it adds back. Here we check
    # the current ones; delta-rs's restore checks the ones it adds back before it commits. So the
    # target version is loaded once (by restore), which matters on tables with long logs.
    stored = _stored_files(lake, dataset)
    if any(a["path"] not in stored for a in _add_actions(table)):
        _plan(lake, dataset, table, target)  # raises if a file the target needs is gone
    custom = {
        COMMIT_USER_KEY: current_user(),
        "thermocline.rollback_to": str(target),
        **dict(metadata or {}),
    }
    if reason:
        custom[COMMIT_REASON_KEY] = reason
    try:
        metrics = table.restore(target, commit_properties=CommitProperties(custom_metadata=custom))
    except DeltaError as error:
        if "missing file" not in str(error).lower():
            raise
        _plan(lake, dataset, table, target)  # names every missing file; nothing was committed
        raise
    table.update_incremental()
    result = RollbackResult(
        dataset,
        current,
        target,
        table.version(),
        files_added=metrics.get("numRestoredFile", 0),
        files_removed=metrics.get("numRemovedFile", 0),
    )
    Catalog(lake).record(
        Event(
            "rollback",
            dataset,
            result.new_version,
            reason,
            {"from": current, "to": target, **dict(metadata or {})},
        )
    )
    return result


def _plan(lake: Lake, dataset: str, table: DeltaTable, target: int) -> RollbackResult:
    """What rolling back to ``target`` would change; raises if any of its files is gone."""
    target_files = {a["path"] for a in _add_actions(open_table(lake, dataset, target))}
    current_files = {a["path"] for a in _add_actions(table)}
    missing = missing_files(lake, dataset, target_files)
    if missing:
        shown = "\n  ".join(missing[:_MISSING_SHOWN])
        more = (
            f"\n  ... and {len(missing) - _MISSING_SHOWN} more"
            if len(missing) > _MISSING_SHOWN
            else ""
        )
        raise MissingFilesError(
            f"cannot roll {dataset} back to version {target}: {len(missing)} of its files are "
            f"gone (vacuumed or deleted); nothing was changed. Pick a newer version or restore "
            f"these files:\n  {shown}{more}"
        )
    return RollbackResult(
        dataset,
        table.version(),
        target,
        None,
        files_added=len(target_files - current_files),
        files_removed=len(current_files - target_files),
    )


def missing_files(lake: Lake, dataset: str, files: Iterable[str]) -> list[str]:
    """Which of ``files`` (paths under the table root) are not in storage."""
    present = _stored_files(lake, dataset)
    return sorted(path for path in files if path not in present)


def _stored_files(lake: Lake, dataset: str) -> set[str]:
    """Every file under the table root: one recursive listing, cheap on S3 and on disk alike."""
    listing = lake.table_filesystem(dataset).get_file_info(
        pafs.FileSelector("", recursive=True, allow_not_found=True)
    )
    return {info.path for info in listing if info.type == pafs.FileType.File}


# --- release rollback ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseRollbackResult:
    release: str
    journal_id: str
    rolled_back: list[RollbackResult]
    resumed: bool


def release_rollback(
    lake: Lake,
    name: str,
    *,
    reason: str | None = None,
    on_restored: Callable[[RollbackResult], None] | None = None,
) -> ReleaseRollbackResult:
    """Restore every dataset of release ``name`` to its version, under a journal.

    The journal (in the catalog) lists the planned datasets and each one restored. Run again
    after a crash, it resumes the open journal: a dataset whose restore committed (its last
    commit carries the journal id) is not restored twice. ``on_restored`` is called after each
    dataset, e.g. to report progress.
    """
    catalog = Catalog(lake)
    release = catalog.release(name)
    steps = catalog.journal(name)
    resumed = bool(steps) and not any(s.step == "finished" for s in steps)
    if resumed:
        journal_id = steps[0].journal_id
    else:
        journal_id = uuid.uuid4().hex
        steps = [
            JournalStep(journal_id, name, d, v, "planned", None)
            for d, v in sorted(release.versions.items())
        ]
        catalog.write_journal(steps)
    done = {s.dataset for s in steps if s.step == "restored"}
    results = []
    for step in (s for s in steps if s.step == "planned" and s.dataset not in done):
        result = _restored_by_journal(lake, step) or rollback(
            lake,
            step.dataset,
            step.target_version,
            reason=reason or f"release rollback {name}",
            metadata={_JOURNAL_KEY: journal_id, "thermocline.release": name},
        )
        catalog.write_journal(
            [
                JournalStep(
                    journal_id,
                    name,
                    step.dataset,
                    step.target_version,
                    "restored",
                    result.new_version,
                )
            ]
        )
        results.append(result)
        if on_restored is not None:
            on_restored(result)
    catalog.write_journal([JournalStep(journal_id, name, "", 0, "finished", None)])
    catalog.record(
        Event(
            "release_rollback",
            None,
            None,
            reason,
            {"release": name, "journal": journal_id, "resumed": resumed},
        )
    )
    return ReleaseRollbackResult(name, journal_id, results, resumed)


def _restored_by_journal(lake: Lake, step: JournalStep) -> RollbackResult | None:
    """The restore this journal already committed for ``step`` (crash before the journal
    write), found by the journal id in the table's newest commit."""
    newest = open_table(lake, step.dataset).history(1)[0]
    if newest.get(_JOURNAL_KEY) != step.journal_id:
        return None
    version = int(newest["version"])
    return RollbackResult(step.dataset, version - 1, step.target_version, version)


# --- vacuum ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VacuumResult:
    dataset: str
    removed: list[str]
    kept_versions: list[int]
    dry_run: bool


def vacuum(
    lake: Lake,
    dataset: str,
    *,
    retention_hours: float = 168,
    dry_run: bool = False,
    reason: str | None = None,
) -> VacuumResult:
    """Delete files no version within ``retention_hours`` needs, except those of tagged or
    released versions; the removed files are logged as a ``vacuum`` event (the ledger).

    Unreferenced files younger than the retention are kept: a writer may have staged them a
    moment ago and not published yet. Zero retention is for tests and emergencies.
    """
    table = open_table(lake, dataset)
    kept = sorted(Catalog(lake).protected_versions(dataset))
    custom = {COMMIT_USER_KEY: current_user(), **({COMMIT_REASON_KEY: reason} if reason else {})}
    stored = _stored_files(lake, dataset)
    listed = table.vacuum(
        retention_hours=int(retention_hours),
        dry_run=dry_run,
        enforce_retention_duration=False,
        full=True,  # also unreferenced files, such as those a crash left staged
        keep_versions=kept or None,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    # delta-rs lists old tombstones again after their files are gone: report real removals.
    removed = sorted(path for path in listed if path in stored)
    if not dry_run:
        ledger = {"files": removed, "retention_hours": retention_hours, "kept_versions": kept}
        Catalog(lake).record(Event("vacuum", dataset, table.version(), reason, ledger))
    return VacuumResult(dataset, removed, kept, dry_run)


# --- diff ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionChange:
    partition: str
    rows_added: int
    rows_removed: int
    files_added: int
    files_removed: int


@dataclass(frozen=True)
class Diff:
    dataset: str
    from_version: int
    to_version: int
    columns_added: list[str]
    columns_removed: list[str]
    columns_changed: list[str]  # "name: old type -> new type"
    partitions: list[PartitionChange]
    files_from: int
    files_to: int
    rows_added_sample: list[dict[str, Any]] = field(default_factory=list)
    rows_removed_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_added(self) -> int:
        return sum(p.rows_added for p in self.partitions)

    @property
    def rows_removed(self) -> int:
        return sum(p.rows_removed for p in self.partitions)


def diff(
    lake: Lake,
    dataset: str,
    a: int | str | datetime,
    b: int | str | datetime,
    *,
    sample_rows: int = 0,
) -> Diff:
    """What changed from version ``a`` to ``b``: schema, and rows and files per partition.

    Rows are counted per file from the log's statistics: a rewritten file counts as its rows
    removed and added again. ``sample_rows`` > 0 reads that many rows of each side's files.
    """
    version_a = resolve_version(lake, dataset, a)
    version_b = resolve_version(lake, dataset, b)
    table_a, table_b = (open_table(lake, dataset, v) for v in (version_a, version_b))
    schema_a, schema_b = (t.schema().to_arrow() for t in (table_a, table_b))
    fields_a = {f.name: str(f.type) for f in pa.schema(schema_a)}
    fields_b = {f.name: str(f.type) for f in pa.schema(schema_b)}
    files_a = {x["path"]: x for x in _add_actions(table_a)}
    files_b = {x["path"]: x for x in _add_actions(table_b)}
    added = [files_b[p] for p in files_b.keys() - files_a.keys()]
    removed = [files_a[p] for p in files_a.keys() - files_b.keys()]
    return Diff(
        dataset,
        version_a,
        version_b,
        columns_added=sorted(fields_b.keys() - fields_a.keys()),
        columns_removed=sorted(fields_a.keys() - fields_b.keys()),
        columns_changed=sorted(
            f"{n}: {fields_a[n]} -> {fields_b[n]}"
            for n in fields_a.keys() & fields_b.keys()
            if fields_a[n] != fields_b[n]
        ),
        partitions=_partition_changes(added, removed),
        files_from=len(files_a),
        files_to=len(files_b),
        rows_added_sample=_sample(lake, dataset, added, sample_rows),
        rows_removed_sample=_sample(lake, dataset, removed, sample_rows),
    )


def _partition_changes(
    added: list[dict[str, Any]], removed: list[dict[str, Any]]
) -> list[PartitionChange]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for action in added:
        entry = totals[_partition_label(action)]
        entry[0] += action["num_records"] or 0
        entry[2] += 1
    for action in removed:
        entry = totals[_partition_label(action)]
        entry[1] += action["num_records"] or 0
        entry[3] += 1
    return [PartitionChange(k, *v) for k, v in sorted(totals.items())]


def _partition_label(action: Mapping[str, Any]) -> str:
    values = action.get("partition_values") or {}
    return "/".join(f"{k}={v}" for k, v in sorted(values.items())) or "(table)"


def _sample(
    lake: Lake, dataset: str, actions: list[dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    filesystem = lake.table_filesystem(dataset)
    for action in sorted(actions, key=lambda a: a["path"]):
        if len(rows) >= limit:
            break
        try:
            part = pq.read_table(action["path"], filesystem=filesystem)
        except (FileNotFoundError, OSError):
            continue  # vacuumed: a sample is best effort, the counts above are exact
        for row in part.slice(0, limit - len(rows)).to_pylist():
            rows.append({**(action.get("partition_values") or {}), **row})
    return rows


# --- describe and list -----------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    dataset: str
    uri: str
    version: int
    schema: list[tuple[str, str]]
    partition_by: list[str]
    partitions: int
    files: int
    size_bytes: int
    rows: int
    last_modified: datetime | None
    tags: list[Tag]
    properties: Mapping[str, str]


def describe(lake: Lake, dataset: str) -> Description:
    """Schema, partitioning, size, file and row counts, current version and tags."""
    table = open_table(lake, dataset)
    actions = _add_actions(table)
    metadata = table.metadata()
    newest = history(lake, dataset, limit=1)
    return Description(
        dataset=dataset,
        uri=lake.table_uri(dataset),
        version=table.version(),
        schema=[(f.name, str(f.type)) for f in pa.schema(table.schema().to_arrow())],
        partition_by=list(metadata.partition_columns),
        partitions=len({_partition_label(a) for a in actions}),
        files=len(actions),
        size_bytes=sum(a["size_bytes"] for a in actions),
        rows=sum(a["num_records"] or 0 for a in actions),
        last_modified=newest[0].timestamp if newest else None,
        tags=Catalog(lake).tags(dataset),
        properties=dict(metadata.configuration),
    )


@dataclass(frozen=True)
class DatasetSummary:
    dataset: str
    exists: bool
    version: int | None
    files: int
    size_bytes: int
    rows: int


def list_datasets(lake: Lake, names: Iterable[str]) -> list[DatasetSummary]:
    """A line per dataset of ``names`` and of the catalog's registry, in name order."""
    summaries = []
    for name in sorted(set(names) | set(Catalog(lake).registered())):
        try:
            table = open_table(lake, name)
        except DatasetNotFoundError:
            summaries.append(DatasetSummary(name, False, None, 0, 0, 0))
            continue
        actions = _add_actions(table)
        summaries.append(
            DatasetSummary(
                name,
                True,
                table.version(),
                len(actions),
                sum(a["size_bytes"] for a in actions),
                sum(a["num_records"] or 0 for a in actions),
            )
        )
    return summaries


# --- log helpers -----------------------------------------------------------------------------


def _add_actions(table: DeltaTable) -> list[dict[str, Any]]:
    """The live files of a table version: path, size, rows and partition values."""
    actions = pa.table(table.get_add_actions(flatten=False))
    partitions = (
        actions["partition"].to_pylist()
        if "partition" in actions.column_names
        else [None] * actions.num_rows
    )
    return [
        {**row, "partition_values": values}
        for row, values in zip(
            actions.select(["path", "size_bytes", "num_records"]).to_pylist(),
            partitions,
            strict=True,
        )
    ]
