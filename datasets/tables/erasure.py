"""Erasure by key (right to be forgotten): delete a person's rows from every dataset that holds
the key column, remove the older data files that still hold them, and record which versions
can no longer be read.

For each dataset: a delta-rs ``DELETE`` commits a new version without the subject's rows
(delta-rs checks it against concurrent commits; a conflict is retried from the new snapshot,
so a concurrent writer's rows are never lost). Then every data file under the table root that
some version referenced, that the latest version no longer does, and that holds the subject is
removed at once, within the vacuum retention too. An ``erasure`` event records who, when, why,
how many rows, and every version that referenced a removed file: reading, tagging, releasing or
rolling back to one of those refuses, naming the erasure
(:func:`~thermocline.datasets.tables.versions.require_not_erased`). The event is written before
the files go, so a crash in between leaves readers refused and a rerun finishes the removal.

The value is personal data: it is never printed, logged or recorded. A ``hash`` column (the
dataset's ``pii:`` policy) holds HMAC hex, so the value is hashed with the project key first;
the event keeps a keyed fingerprint of the subject (:func:`.erasure_plan.fingerprint`).

Quarantined batches of the dataset lose the subject's rows too (files rewritten, samples
scrubbed), and so do its dead letters whose raw payload holds the value
(:mod:`.erasure_dead_letters`; sealed ones are opened with the key). The test-only
fault point ``erasure:after-event`` (:mod:`.faults`) stops a run between the event and the
removal of the files.

>>> erase(catalog, project, "rider_email", "ana@example.com", dry_run=True)   # doctest: +SKIP
>>> erase(catalog, project, "rider_id", "42", datasets=["rides"], reason="t7")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from deltalake import DeltaTable

from thermocline.catalog.catalog import ERASURE, Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import ERASURE_KEY, REASON_KEY, USER_KEY
from thermocline.catalog.config import Project
from thermocline.catalog.errors import (
    ArchivedFilesError,
    ErasureRefusedError,
)
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.ingest.pii import optional_hash_key
from thermocline.datasets.tables.erasure_dead_letters import (
    dead_letter_hits,
    erase_dead_letters,
)
from thermocline.datasets.tables.erasure_plan import (
    LogCommit,
    broken_versions,
    fingerprint,
    holding_versions,
    referenced,
    sql_predicate,
)
from thermocline.datasets.tables.erasure_scan import (
    count_matches,
    delete_retrying,
    files_holding,
    read_log,
)
from thermocline.datasets.tables.erasure_targets import Target, erasure_targets
from thermocline.datasets.tables.faults import fault_point
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.quarantine import list_quarantined, scrub_quarantined
from thermocline.datasets.tables.versions import (
    list_missing,
    live_files,
    open_table,
    restore_command,
    stored_files,
)

__all__ = ["DatasetErasure", "ErasureResult", "erase"]


@dataclass(frozen=True)
class DatasetErasure:
    """What erasing the subject does (a dry run) or did to one dataset.

    ``files_rewritten``: live files that hold the subject (the delete replaces them);
    ``files_removed``: every stored data file that holds the subject once the delete is in
    (those, plus older ones that only past versions reference); ``broken_versions``: inclusive
    ranges of the versions that reference one of them; ``tags`` and ``releases`` point there.
    """

    dataset: str
    column: str
    hashed: bool
    from_version: int
    rows: int
    files_rewritten: list[str]
    files_removed: list[str]
    broken_versions: tuple[tuple[int, int], ...]
    tags: list[str]
    releases: list[str]
    quarantine_rows: int = 0
    dead_letters: int = 0  # dead letters whose raw payload holds the subject (erased with it)
    dead_letters_unsearched: int = 0  # sealed ones that could not be opened (no key)
    new_version: int | None = None


@dataclass(frozen=True)
class ErasureResult:
    erasure_id: str
    column: str
    subject: str | None  # keyed fingerprint of the subject, never the value
    dry_run: bool
    datasets: list[DatasetErasure] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.datasets)


def erase(
    catalog: Catalog,
    project: Project,
    column: str,
    value: str,
    *,
    datasets: Sequence[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    reason: str | None = None,
) -> ErasureResult:
    """Erase every row whose ``column`` is ``value`` from ``datasets`` (default: every dataset
    of the project and the catalog whose latest schema has ``column``).

    A dry run changes nothing and says, per dataset, what would go and which versions, tags
    and releases it would break. Breaking a version that a tag or release points at needs
    ``force`` (else :class:`ErasureRefusedError` naming them, and nothing changes).
    """
    key = optional_hash_key(project)
    targets = erasure_targets(catalog, project, column, value, datasets, key)
    erasure_id = uuid.uuid4().hex
    result = ErasureResult(erasure_id, column, fingerprint(key, column, value), dry_run)
    plans = [_plan(catalog, t, key) for t in targets]
    pinned = [
        f"{p.dataset}: {', '.join(p.tags + p.releases)}" for p in plans if p.tags or p.releases
    ]
    if dry_run:
        return ErasureResult(**{**result.__dict__, "datasets": plans})
    if pinned and not force:
        raise ErasureRefusedError(
            "erasing would make versions that tags or releases point at unreadable ("
            + "; ".join(pinned)
            + "); nothing was changed. Run again with --force to erase through them",
            field="--force",
            fix="run again with --force to erase through them",
        )
    done = [_apply(catalog, t, erasure_id, result.subject, reason, force, key) for t in targets]
    return ErasureResult(**{**result.__dict__, "datasets": done})


# --- planning ----------------------------------------------------------------------------


def _plan(catalog: Catalog, target: Target, key: bytes | None) -> DatasetErasure:
    lake = lake_of(catalog)
    table = open_table(lake, target.dataset)
    commits = read_log(lake, target.dataset, table)
    live = {a["path"] for a in live_files(table)}
    past = _pinned_past_log(catalog, target.dataset)
    files = {**_listed_files(past), **referenced(commits)}
    _require_unarchived(catalog, target, commits, files)
    holders = _holders(lake, target, files)
    source = table.to_pyarrow_dataset(filesystem=lake.table_filesystem(target.dataset))
    rows = count_matches(source, target.column, target.match)
    broken = _with_past(broken_versions(commits, holders), _hit(past, holders))
    dead = dead_letter_hits(lake, target.dataset, target.clear, key)
    return DatasetErasure(
        target.dataset,
        target.column,
        target.hashed,
        table.version(),
        rows,
        sorted(live & holders),
        sorted(holders),
        broken,
        *_pins(catalog, target.dataset, broken),
        quarantine_rows=_quarantine(catalog, target, scrub=False),
        dead_letters=dead.records,
        dead_letters_unsearched=dead.unsearched,
    )


def _require_unarchived(
    catalog: Catalog,
    target: Target,
    commits: Sequence[LogCommit],
    files: Mapping[str, Mapping[str, str | None]],
) -> None:
    """Refuse, before anything changes, an erasure that would have to read archived files
    (an archive class answers reads only after a restore); name the restores that fix it."""
    archived = [
        p for p in catalog.tiers.archived(target.dataset) if target.column not in files.get(p, {})
    ]
    if archived:
        commands = [restore_command(target.dataset, v) for v in holding_versions(commits, archived)]
        raise ArchivedFilesError(
            f"cannot erase from {target.dataset}: {len(archived)} file(s) that may hold the "
            f"subject are archived and must be read first: {list_missing(archived)}; nothing was "
            f"changed. Run `{'`, `'.join(commands)}`, then the erasure again",
            fix=f"run `{commands[0]}`" + (" and the others named" if len(commands) > 1 else ""),
        )


def _pins(
    catalog: Catalog, dataset: str, broken: Sequence[tuple[int, int]]
) -> tuple[list[str], list[str]]:
    """The tags and releases that point at a version in ``broken``."""

    def hit(version: int) -> bool:
        return any(a <= version <= b for a, b in broken)

    tags = [
        f"tag {dataset}@{t.name} (version {t.version})"
        for t in catalog.tags(dataset)
        if hit(t.version)
    ]
    releases = [
        f"release {r.name} ({dataset}@{r.versions[dataset]})"
        for r in catalog.releases()
        if dataset in r.versions and hit(r.versions[dataset])
    ]
    return tags, releases


def _pinned_past_log(catalog: Catalog, dataset: str) -> dict[int, PinnedVersion]:
    """The recorded file lists of pinned versions (tags, releases, restore points) that the
    log no longer reaches: their files are the subject's too, though no commit names them."""
    first = readable_from(lake_of(catalog), dataset)
    past = {v for v in catalog.protected_versions(dataset) if v < first}
    return catalog.pinned_files.find_many(dataset, past)


def _listed_files(past: Mapping[int, PinnedVersion]) -> dict[str, Mapping[str, str | None]]:
    return {e["path"]: e.get("partition_values") or {} for p in past.values() for e in p.files}


def _hit(past: Mapping[int, PinnedVersion], holders: set[str]) -> set[int]:
    """The versions of ``past`` whose files include one of ``holders``."""
    return {v for v, p in past.items() if any(e["path"] in holders for e in p.files)}


def _with_past(broken: Sequence[tuple[int, int]], hit: set[int]) -> tuple[tuple[int, int], ...]:
    """``broken`` ranges and each pinned version past the log that held the subject."""
    return tuple(sorted([*broken, *((v, v) for v in hit)]))


def _holders(lake: Lake, target: Target, files: Mapping[str, Mapping[str, str | None]]) -> set[str]:
    stored = stored_files(lake, target.dataset)
    return files_holding(lake, target.dataset, target.column, target.match, files, stored)


def _quarantine(catalog: Catalog, target: Target, *, scrub: bool) -> int:
    """Rows of the subject in the dataset's quarantined batches (removed when ``scrub``)."""
    total = 0
    for record in list_quarantined(catalog, target.dataset):
        if record.state == "quarantined":
            total += scrub_quarantined(
                catalog, record, target.column, target.clear, dry_run=not scrub
            )
    return total


def _metadata(erasure_id: str, target: Target, reason: str | None) -> dict[str, str]:
    """The erasure's commit metadata: who, which erasure, why (never the value)."""
    why = f"erasure by {target.column}" + (f": {reason}" if reason else "")
    return {USER_KEY: current_user(), ERASURE_KEY: erasure_id, REASON_KEY: why}


# --- applying ----------------------------------------------------------------------------


def _apply(
    catalog: Catalog,
    target: Target,
    erasure_id: str,
    subject: str | None,
    reason: str | None,
    forced: bool,
    key: bytes | None,
) -> DatasetErasure:
    lake = lake_of(catalog)
    dataset = target.dataset
    table, rows, before = _delete(lake, target, erasure_id, reason)
    commits = read_log(lake, dataset, table)
    live = {a["path"] for a in live_files(table)}
    past = _pinned_past_log(catalog, dataset)
    everything = {**_listed_files(past), **referenced(commits)}
    files = {p: v for p, v in everything.items() if p not in live}
    holders = _holders(lake, target, files)
    hit = _hit(past, holders)
    broken = _with_past(broken_versions(commits, holders), hit)
    tags, releases = _pins(catalog, dataset, broken)
    # Restore points are the system's, not a person's: one that held the subject goes.
    catalog.pinned_files.forget_restore_points(
        dataset, hit - catalog.protected_versions(dataset, restore_points=False)
    )
    quarantined = _quarantine(catalog, target, scrub=True)
    dead = erase_dead_letters(
        lake, dataset, target.clear, key, _metadata(erasure_id, target, reason)
    )
    details = {
        "erasure_id": erasure_id,
        "column": target.column,
        "hashed": target.hashed,
        "subject": subject,
        "rows": rows,
        "from_version": before,
        "files_removed": len(holders),
        "broken_versions": [list(r) for r in broken],
        "tags": tags,
        "releases": releases,
        "forced": forced,
        "quarantine_rows": quarantined,
        "dead_letters": dead.records,
        "dead_letters_unsearched": dead.unsearched,
        "dead_letter_files_removed": len(dead.files_removed),
        "dead_letter_broken_versions": [list(r) for r in dead.broken_versions],
    }
    version = table.version() if table.version() != before else None
    catalog.record(Event(ERASURE, dataset, version, reason, details))
    fault_point("erasure:after-event")
    fs = lake.table_filesystem(dataset)
    for path in sorted(holders):  # after the event: a crash here leaves readers refused
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(path)
    catalog.tiers.forget(dataset, holders, run_id=f"erasure:{erasure_id}")  # whatever the tier
    return DatasetErasure(
        dataset,
        target.column,
        target.hashed,
        before,
        rows,
        sorted(set(_removed_by(commits, version)) & holders) if version is not None else [],
        sorted(holders),
        broken,
        tags,
        releases,
        quarantine_rows=quarantined,
        dead_letters=dead.records,
        dead_letters_unsearched=dead.unsearched,
        new_version=version,
    )


def _delete(
    lake: Lake, target: Target, erasure_id: str, reason: str | None
) -> tuple[DeltaTable, int, int]:
    """Delete the subject's rows in a new version; returns the table after it, the rows
    deleted and the version before."""
    table = open_table(lake, target.dataset)
    predicate = sql_predicate(target.column, target.match)
    metadata = _metadata(erasure_id, target, reason)
    rows, before = delete_retrying(table, predicate, metadata, target.dataset)
    return table, rows, before


def _removed_by(commits: Sequence[LogCommit], version: int) -> frozenset[str]:
    for commit in commits:
        if commit.version == version:
            return commit.removes
    return frozenset()
