"""Reads respect the tiers: a read that needs an archived file fails before reading anything
(DESIGN.md > Decision 6).

Warm and cold files (instant-retrieval classes) read as they are. An archived file needs a
restore that takes hours on AWS, and a read that touched it would fail half-way or stall, so
every path that reads or restores a version (time travel, rollback, release rollback, the
loader, ``diff`` with rows) asks first: :func:`require_readable` with the version's table
open, :func:`~thermocline.datasets.tables.versions.require_not_archived` (or
``resolve_version(..., tiers=True)``) by version number. One read of the dataset's rows in the
catalog's tier inventory, no data file opened.

>>> require_readable(catalog, "rides", open_table(lake, "rides", 3))   # doctest: +SKIP
Traceback (most recent call last):
ArchivedFilesError: cannot read rides version 3: 2 of its 9 file(s) are archived ...
"""

from __future__ import annotations

from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.datasets.tables.versions import archived_of, require_not_archived, restore_command

__all__ = ["archived_files", "require_readable", "restore_command"]


def archived_files(catalog: Catalog, dataset: str, table: DeltaTable) -> list[str]:
    """The files of ``table``'s version that are (or may be, mid-move) archived, sorted."""
    return archived_of(catalog, dataset, table.version(), table=table)


def require_readable(
    catalog: Catalog, dataset: str, table: DeltaTable, *, via: str | None = None
) -> None:
    """Raise :class:`~thermocline.catalog.errors.ArchivedFilesError` when ``table``'s version
    needs an archived file, naming the files and the restore command; ``via`` says what led to
    the version (``tag golden``, ``release r1``, ``rollback``). The check itself is
    :func:`~thermocline.datasets.tables.versions.require_not_archived`, which
    :func:`~thermocline.datasets.tables.versions.read_dataset` and the other readers call by
    version number (this module imports ``versions``, so the logic lives there)."""
    require_not_archived(catalog, dataset, table.version(), via=via, table=table)
