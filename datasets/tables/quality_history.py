"""How a dataset's versions were judged: the check results of one version, of a quarantined
batch, or of the newest N versions, as ``thermocline checks`` shows them.

Results come from the catalog (:mod:`thermocline.catalog.check_results`); nothing here reads a
data file, so a version's results stay readable after a rollback past it and after vacuum
removed its files. A version whose catalog rows are missing (a crash between its publish and
the catalog append) falls back on the summary its commit carries (``CHECKS_KEY``). A version
that judged nothing itself is explained: a restore shows the results of the version it
restored ("restore of version 3"), a positions-only commit those of the batch it quarantined,
and any other commit (a compaction, a vacuum) says so and names the last judged version.

>>> found = version_checks(catalog, "rides", "golden")            # doctest: +SKIP
>>> found.version, found.note, [r.status for r in found.results]  # doctest: +SKIP
(12, 'restore of version 9', ['pass', 'warn'])

Cost: one read of the version's commit file and one catalog read pruned to the version's rows
(:class:`~thermocline.catalog.check_results.CheckResults` says what those cost); a history of N
versions reads the catalog rows of the newest N judged versions and the newest commits of the
log down to the oldest of them (at most ``4 N + 20``), never the whole log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.check_results import RecordedCheck, summary_checks
from thermocline.catalog.commits import (
    CHECKS_KEY,
    QUARANTINE_KEY,
    ROLLBACK_TO_KEY,
    decode_checks,
    operation_of,
)
from thermocline.catalog.errors import InputError, TagNotFoundError
from thermocline.datasets.tables.quarantine import find_quarantined, quarantine_id_of
from thermocline.datasets.tables.version_index import commit_actions
from thermocline.datasets.tables.versions import open_table, resolve_version

__all__ = ["VersionChecks", "checks_history", "quarantine_checks", "version_checks"]

_LATEST = "latest"
_LOG_SLACK = 20  # commits beyond 4 N a history looks at: compactions, vacuums, restores


@dataclass(frozen=True)
class VersionChecks:
    """The results that judged one version of a dataset (or one quarantined batch).

    ``version`` is the version asked about; ``judged_version`` the one whose batch the results
    judged (another for a restore, None for a quarantined batch); ``note`` says why they differ
    or where the results came from; ``results`` is empty when nothing was judged.
    """

    dataset: str
    version: int | None
    judged_version: int | None
    judged_at: datetime | None
    operation: str | None = None
    quarantine_id: str | None = None
    note: str = ""
    results: list[RecordedCheck] = field(default_factory=list)


def version_checks(
    catalog: Catalog, dataset: str, at: int | str | datetime | None = None
) -> VersionChecks:
    """The results of ``dataset`` at ``at`` (a version, tag or time, or ``latest``; default
    the latest). Unknown datasets, versions and tags raise their one-line input errors."""
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    version = _resolve(catalog, dataset, at, table)
    found = _judged(catalog, dataset, version)
    if found.results or found.operation == "RESTORE" or found.quarantine_id is not None:
        return found
    newest = catalog.checks.history(dataset, versions=1)
    if newest and found.note:
        (last,) = newest
        return replace(found, note=f"{found.note}; the last judged version is {last}")
    return found


def checks_history(catalog: Catalog, dataset: str, versions: int) -> list[VersionChecks]:
    """The results of the newest ``versions`` judged versions of ``dataset``, newest first:
    its catalog rows, and the commit summaries of publishes whose rows are missing. A batch that
    was quarantined is the version that published its positions (its results from that
    commit's summary, ``quarantine_id`` set): a history without what failed would show only
    passes. Versions that judged nothing (restores, compactions) are not columns of a history;
    rolled-back versions are (their results stand)."""
    if versions < 1:
        raise InputError(f"--history needs at least 1 version, not {versions}")
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    stored = catalog.checks.history(dataset, versions=versions)
    latest = table.version()
    window = 4 * versions + _LOG_SLACK
    if len(stored) >= versions:
        window = min(window, latest - min(stored) + 1)
    found = {
        v: VersionChecks(dataset, v, v, rows[0].judged_at if rows else None, results=rows)
        for v, rows in stored.items()
    }
    for entry in table.history(min(window, latest + 1)):
        version = int(entry["version"])
        if version in found:
            found[version] = replace(found[version], operation=_operation(entry))
            continue
        if not decode_checks(entry.get(CHECKS_KEY)):
            continue
        when = _timestamp(entry)
        rows = summary_checks(dataset, entry.get(CHECKS_KEY), version=version, judged_at=when)
        quarantined = entry.get(QUARANTINE_KEY)
        if quarantined:  # the results of the batch it held (its commit's summary, if need be)
            held = quarantine_id_of(str(quarantined))
            note = f"positions only: its batch was quarantined as {held[:12]}"
            rows = catalog.checks.for_quarantine(held) or rows
            found[version] = VersionChecks(
                dataset, version, None, when, _operation(entry), held, note, rows
            )
            continue
        found[version] = VersionChecks(
            dataset, version, version, when, _operation(entry), note=_FROM_COMMIT, results=rows
        )
    return [found[v] for v in sorted(found, reverse=True)[:versions]]


def quarantine_checks(catalog: Catalog, quarantine_id: str) -> VersionChecks:
    """The results that judged the batch quarantined as ``quarantine_id`` (or a prefix of it,
    as ``thermocline quarantine list`` shows it). A discarded batch's results stay readable by
    its full id; an unknown id raises an :class:`InputError` listing the quarantined batches."""
    rows = catalog.checks.for_quarantine(quarantine_id) if quarantine_id else []
    if not rows:
        record = find_quarantined(catalog, quarantine_id)
        rows = catalog.checks.for_quarantine(record.id)
        if not rows:
            return VersionChecks(
                record.dataset,
                None,
                None,
                datetime.fromtimestamp(record.at, tz=UTC),
                quarantine_id=record.id,
                note=f"no check results recorded; quarantined for: {'; '.join(record.reasons)}",
            )
    first = rows[0]
    return VersionChecks(
        first.dataset, None, None, first.judged_at, quarantine_id=first.quarantine_id, results=rows
    )


_FROM_COMMIT = "from the commit's check summary (its catalog rows are missing)"


def _resolve(
    catalog: Catalog, dataset: str, at: int | str | datetime | None, table: DeltaTable
) -> int:
    """``at`` as a version; ``latest`` is the latest version unless a tag is named so."""
    if at == _LATEST:
        try:
            return catalog.tag(dataset, _LATEST).version
        except TagNotFoundError:
            at = None
    # Results are read from the log and the catalog only: an erased version's stay readable.
    return resolve_version(catalog, dataset, at, table, readable=False)


def _judged(catalog: Catalog, dataset: str, version: int) -> VersionChecks:
    """The results of ``version``: its catalog rows, else what its commit says judged it."""
    rows = catalog.checks.for_version(dataset, version)
    info = _commit_info(catalog, dataset, version)
    operation = _operation(info) if info is not None else None
    if rows:
        return VersionChecks(
            dataset, version, version, rows[0].judged_at, operation, None, "", rows
        )
    if info is None:
        note = "no check results recorded, and its commit is gone from the log"
        return VersionChecks(dataset, version, None, None, None, None, note)
    when = _timestamp(info)
    if operation == "RESTORE":
        target = _restored(info)
        if target is not None and target < version:
            inner = _judged(catalog, dataset, target)
            note = f"restore of version {target}" + (f"; {inner.note}" if inner.note else "")
            return replace(inner, version=version, operation=operation, note=note)
    quarantined = info.get(QUARANTINE_KEY)
    if quarantined:
        quarantine_id = quarantine_id_of(str(quarantined))
        kept = catalog.checks.for_quarantine(quarantine_id) or summary_checks(
            dataset,
            info.get(CHECKS_KEY),
            version=None,
            quarantine_id=quarantine_id,
            judged_at=when,
        )
        note = f"positions only: its batch was quarantined as {quarantine_id[:12]}"
        return VersionChecks(dataset, version, None, when, operation, quarantine_id, note, kept)
    if CHECKS_KEY in info:
        rows = summary_checks(dataset, info.get(CHECKS_KEY), version=version, judged_at=when)
        note = _FROM_COMMIT if rows else "its batch had no checks to run"
        return VersionChecks(dataset, version, version, when, operation, None, note, rows)
    note = f"a {operation or 'commit'} that judged no batch"
    return VersionChecks(dataset, version, None, when, operation, None, note)


def _commit_info(catalog: Catalog, dataset: str, version: int) -> dict[str, Any] | None:
    """The commit info of ``version`` from its commit file (one small read), or None when log
    retention removed it."""
    actions = commit_actions(lake_of(catalog), dataset, version)
    if actions is None:
        return None
    infos = [a["commitInfo"] for a in actions if "commitInfo" in a]
    return dict(infos[0]) if infos else {}


def _operation(info: Mapping[str, Any]) -> str | None:
    return operation_of(info) or None


def _restored(info: Mapping[str, Any]) -> int | None:
    """The version a RESTORE commit went back to (ours record it; delta-rs's parameters too)."""
    target = info.get(ROLLBACK_TO_KEY) or (info.get("operationParameters") or {}).get("version")
    try:
        return int(target) if target is not None else None
    except (TypeError, ValueError):
        return None


def _timestamp(info: Mapping[str, Any]) -> datetime:
    """When the commit was made (every commit Delta writes carries its time)."""
    stamp = info.get("timestamp")
    return datetime.fromtimestamp((stamp if isinstance(stamp, int | float) else 0) / 1000, tz=UTC)
