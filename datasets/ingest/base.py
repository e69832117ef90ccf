"""What every batch source hands to the write-audit-publish run: a :class:`SourceBatch`
(the rows plus what the publishing commit must carry), and the table lookups each source
plans against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
from deltalake import DeltaTable

from thermocline.catalog.errors import (
    DatasetNotFoundError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import open_table
from thermocline.quality.results import SchemaChanges

__all__ = [
    "SourceBatch",
    "SourceFile",
    "arrow_schema",
    "open_or_none",
]


@dataclass(frozen=True)
class SourceFile:
    """One file of a file source: its URL (with protocol) and what identifies its content."""

    url: str
    size: int | None = None
    etag: str | None = None


@dataclass(frozen=True)
class SourceBatch:
    """What one source read produced, and what its publishing commit must carry.

    Pass ``commit_metadata`` as ``publish(metadata=...)``, ``app_transactions`` as
    ``publish(app_transactions=...)``, ``expected_positions`` as
    ``publish(expected_positions=...)``, ``mode`` as ``publish(mode=...)`` and ``description``
    as the commit reason. ``expected_positions`` are the positions the read planned against
    (None: none yet): a publish from a table that has moved since is refused, because another
    run may have consumed some of the same input. ``data`` already has the table's schema plus
    ``added_columns``. ``file_rows`` are the rows of ``data`` each of ``files`` gave, in order
    (``data`` is their concatenation), so a quarantine can keep each file's rows apart.
    ``schema_changes`` is what the batch changed in the table's schema (None for a table's
    first batch), for the ``schema_drift`` check: pass it to ``judge.context_for``.
    ``replace`` (with ``mode="overwrite"``, pass it as ``publish(replace=...)``) is what the
    commit replaces: the partitions the batch has rows in (``"touched"``), the whole table
    (``"all"``), or the listed values of the first partition column, emptied where the batch
    has no rows for them; a batch that replaces something publishes even without rows.
    """

    dataset: str
    data: pa.Table
    commit_metadata: dict[str, str]
    app_transactions: dict[str, int]
    description: str
    mode: Literal["append", "overwrite"] = "append"
    files: tuple[SourceFile, ...] = ()
    watermark: Any = None
    added_columns: tuple[str, ...] = ()
    expected_positions: dict[str, int | None] = field(default_factory=dict)
    file_rows: tuple[int, ...] = ()
    schema_changes: SchemaChanges | None = None
    replace: Literal["touched", "all"] | tuple[str | None, ...] = "touched"


def open_or_none(lake: Lake, dataset: str) -> DeltaTable | None:
    try:
        return open_table(lake, dataset)
    except DatasetNotFoundError:
        return None


def arrow_schema(table: DeltaTable) -> pa.Schema:
    """The table's schema as Arrow (Delta's view of it)."""
    return pa.schema(table.schema().to_arrow())
