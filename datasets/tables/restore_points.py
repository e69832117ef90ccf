"""Restore points: past the log retention, one version every ``every`` stays readable and
rollback-able for ``keep`` (``history.restore_points``; DESIGN.md > Decision 14).

A Kafka table publishing once a second keeps only 15 minutes of every version in its Delta log
(a day of them made every open on a local lake ~0.1 s slower: :mod:`thermocline.catalog.config.
history`). What people ask of the day before is a time ("the table at 3 a.m.", "before last
night's bad batch"), so log retention records a restore point first: the latest version's file
list in the catalog (:class:`~thermocline.catalog.pinned_files.PinnedFiles`, as for a tag),
with its commit time, when the newest point is ``every`` or more older than it. Everything
that reads a pin reads a restore point the same way: time travel, rollback, the loader, lineage
(maintenance records its provenance while the log still reaches it), and vacuum keeps its files.

- :func:`take_restore_point` and :func:`expire_restore_points` run inside
  :func:`~.retention.apply_retention`, before the log is trimmed.
- A time past the log names the newest restore point committed at or before it
  (:meth:`PinnedFiles.restore_point_at <thermocline.catalog.pinned_files.PinnedFiles.
  restore_point_at>`, asked by :func:`~.versions.resolve_version`, which logs the choice).

>>> take_restore_point(catalog, "clicks", open_table(lake, "clicks"), every_s=900)  # doctest: +SKIP
71840
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.datasets.tables.lineage_facts import LineageFacts
from thermocline.datasets.tables.pins import file_list
from thermocline.datasets.tables.version_index import commit_timestamp

__all__ = ["EXPIRE_BATCH_S", "expire_restore_points", "take_restore_point"]

EXPIRE_BATCH_S = 3600.0
"""Expired restore points are forgotten once the oldest is this far past ``keep``."""


def take_restore_point(
    catalog: Catalog, dataset: str, table: DeltaTable, *, every_s: float
) -> int | None:
    """Record ``table``'s latest version as a restore point of ``dataset`` when the newest one
    was committed ``every_s`` or more before it (or there is none); returns the version
    recorded, or None. One commit file read and one catalog read when nothing is due."""
    lake = lake_of(catalog)
    version = table.version()
    stamp = commit_timestamp(lake, dataset, version)
    if stamp is None:  # cannot happen for the latest version; nothing to time it by
        return None
    committed = datetime.fromtimestamp(stamp / 1000, UTC)
    points = catalog.pinned_files.restore_points(dataset)
    if points.get(version) == committed:
        return None  # a point already (one at another time is a deleted table's: not ours)
    points.pop(version, None)
    newest = max(points.values(), default=None)
    if newest is not None and committed - newest < timedelta(seconds=every_s):
        return None
    # With its lineage provenance now, in the same row: one catalog commit a point, not two.
    found = LineageFacts(catalog).provenance(dataset, version)
    provenance = None if found is None else found.to_json()
    listed = file_list(lake, dataset, version, provenance, table=table)
    catalog.pinned_files.record(dataclasses.replace(listed, restore_point_at=committed))
    return version


def expire_restore_points(
    catalog: Catalog, dataset: str, *, keep_s: float, now: datetime | None = None
) -> list[int]:
    """Forget ``dataset``'s restore points committed more than ``keep_s`` before ``now``,
    except versions a tag or release also pins (their file list stays); returns those
    forgotten (none when the delete lost a race: the next turn tries again). Vacuum may then
    remove files only they needed.

    Points are forgotten in batches, once the oldest is :data:`EXPIRE_BATCH_S` past ``keep``:
    each forgetting is a delete commit in the catalog, and one a turn would be 96 a day."""
    now = now or datetime.now(tz=UTC)
    cutoff = now - timedelta(seconds=keep_s)
    points = catalog.pinned_files.restore_points(dataset)
    if min(points.values(), default=cutoff) > cutoff - timedelta(seconds=EXPIRE_BATCH_S):
        return []  # nothing expired yet, or not for long enough to be worth a commit
    tagged = catalog.protected_versions(dataset, restore_points=False)
    expired = {version for version, at in points.items() if at < cutoff and version not in tagged}
    lists = catalog.pinned_files.find_many(dataset, expired)
    if not catalog.pinned_files.forget_restore_points(dataset, expired):
        return []  # lost a race: the next turn forgets them
    # A tag or release made meanwhile (``catalog.set_tag`` records no list of its own) keeps
    # the version readable: its list goes back, as the pin's own row.
    pinned_now = catalog.protected_versions(dataset, restore_points=False) & expired
    for version in sorted(pinned_now & lists.keys()):
        catalog.pinned_files.record(dataclasses.replace(lists[version], restore_point_at=None))
    return sorted(expired - pinned_now)
