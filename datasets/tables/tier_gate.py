"""Reads respect the tiers: a read that needs an archived file fails before reading anything
(DESIGN.md > Decision 6).

Warm and cold files (instant-retrieval classes) read as they are. An archived file needs a
restore that takes hours on AWS, and a read that touched it would fail half-way or stall, so
every path that reads or restores a version (time travel, rollback, release rollback, the
loader) asks :func:`require_readable` first: one read of the dataset's rows in the catalog's
tier inventory, no data file opened.

>>> require_readable(catalog, "rides", open_table(lake, "rides", 3))   # doctest: +SKIP
Traceback (most recent call last):
ArchivedFilesError: cannot read rides version 3: 2 of its 9 file(s) are archived ...
"""

from __future__ import annotations

from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import ArchivedFilesError
from thermocline.datasets.tables.versions import list_missing, live_files

__all__ = ["archived_files", "require_readable", "restore_command"]


def restore_command(dataset: str, version: int) -> str:
    """The command that makes ``dataset`` at ``version`` readable again."""
    return f"thermocline tier restore {dataset}@{version}"


def archived_files(catalog: Catalog, dataset: str, table: DeltaTable) -> list[str]:
    """The files of ``table``'s version that are (or may be, mid-move) archived, sorted."""
    return catalog.tiers.archived(dataset, (a["path"] for a in live_files(table)))


def require_readable(
    catalog: Catalog, dataset: str, table: DeltaTable, *, via: str | None = None
) -> None:
    """Raise :class:`ArchivedFilesError` when ``table``'s version needs an archived file,
    naming the files and the restore command; ``via`` says what led to the version (``tag
    golden``, ``release r1``, ``rollback``)."""
    archived = archived_files(catalog, dataset, table)
    if not archived:
        return
    version = table.version()
    total = len(table.file_uris())
    named = f"{dataset} version {version}" + (f" ({via})" if via else "")
    command = restore_command(dataset, version)
    raise ArchivedFilesError(
        f"cannot read {named}: {len(archived)} of its {total} file(s) are archived "
        f"(tiering moved them to an archive class; nothing was read): {list_missing(archived)}; "
        f"run `{command}` to make them readable",
        fix=f"run `{command}`",
    )
