"""Small Delta tables under ``<lake>/_catalog/``: append rows, read them back, compare-and-swap.

Every catalog table is append-only. A pointer (a tag, a release, a registry entry) moves by
appending a row whose commit carries a Delta app transaction ``<kind>:<name>`` with the next
sequence number. delta-rs rejects a commit whose app transaction a concurrent commit already
advanced (``CommitFailedError``), which makes each move a compare-and-swap; the caller re-reads
and retries only on that error (DESIGN.md > Decision 4).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from thermocline.catalog.errors import CatalogConflictError
from thermocline.catalog.lake import Lake

__all__ = ["CATALOG_DIR", "CatalogTable"]

CATALOG_DIR = "_catalog"
_ATTEMPTS = 50
_T = TypeVar("_T")


@dataclass(frozen=True)
class CatalogTable:
    """One append-only catalog table, e.g. ``_catalog/tags``, with a fixed schema."""

    lake: Lake
    name: str
    schema: pa.Schema

    @property
    def path(self) -> str:
        return f"{CATALOG_DIR}/{self.name}"

    def open(self) -> DeltaTable:
        """The table at its latest version, created empty first if it does not exist yet.

        Creating it up front keeps every later commit a plain append on an existing table: a
        commit that creates the table skips the app-transaction conflict check.
        """
        existing = self.existing()
        if existing is not None:
            return existing
        uri, options = self.lake.table_uri(self.path), self.lake.delta_storage_options()
        try:
            return DeltaTable.create(uri, self.schema, mode="ignore", storage_options=options)
        except DeltaError:  # another process created it at the same moment
            return DeltaTable(uri, storage_options=options)

    def read(
        self,
        snapshot: DeltaTable | None = None,
        *,
        columns: Sequence[str] | None = None,
        where: pads.Expression | None = None,
    ) -> pa.Table:
        """Every row (of ``snapshot`` when given), through the lake's native filesystem; only
        ``columns`` and the rows ``where`` holds, when given.

        ``where`` prunes whole files before reading them: each file's min/max statistics from
        the Delta log bound its fragment, so a filter on a column that one append writes one
        value of (a dataset, a version) opens only the files that hold it. Reading never
        creates the table: a lake nobody tagged yet has no ``_catalog/tags``.
        """
        schema = (
            self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
        )
        snapshot = snapshot if snapshot is not None else self.existing()
        if snapshot is None:
            return schema.empty_table()
        dataset = snapshot.to_pyarrow_dataset(filesystem=self.lake.table_filesystem(self.path))
        read = dataset.to_table(
            columns=list(columns) if columns is not None else None, filter=where
        )
        return read.cast(schema)

    def existing(self) -> DeltaTable | None:
        """The table at its latest version, or None before anything was written to it."""
        try:
            return DeltaTable(
                self.lake.table_uri(self.path), storage_options=self.lake.delta_storage_options()
            )
        except TableNotFoundError:
            return None

    def append(
        self,
        rows: Sequence[Mapping[str, Any]],
        snapshot: DeltaTable | None = None,
        transaction: tuple[str, int] | None = None,
    ) -> None:
        """Append ``rows`` in one commit, read-based on ``snapshot``; with ``transaction``
        (app id, sequence) the commit fails if another one moved that app id since."""
        data = pa.Table.from_pylist([dict(row) for row in rows], schema=self.schema)
        properties = CommitProperties(
            app_transactions=[Transaction(*transaction)] if transaction else None,
            max_commit_retries=_ATTEMPTS,
        )
        write_deltalake(
            snapshot if snapshot is not None else self.open(),
            data,
            mode="append",
            storage_options=self.lake.delta_storage_options(),
            commit_properties=properties,
        )

    def compare_and_swap(self, attempt: Callable[[DeltaTable], _T]) -> _T:
        """Run ``attempt(snapshot)`` until its commit is not beaten by a concurrent one.

        ``attempt`` reads what it needs from the snapshot and appends with a transaction;
        a ``CommitFailedError`` means someone else moved first, so it runs again on a fresh
        snapshot (with a short random back-off so two writers do not collide forever).
        """
        for attempt_number in range(_ATTEMPTS):
            try:
                return attempt(self.open())
            except CommitFailedError:
                time.sleep(random.uniform(0, 0.02 * (attempt_number + 1)))  # noqa: S311
        raise CatalogConflictError(
            f"{self.path}: still conflicting after {_ATTEMPTS} attempts; "
            "another process keeps moving the same entry, try again"
        )
