"""What the history-aware checks compare a batch with, read from the lake: the row counts of
recent publishes, the table's schema, the reference column of a drift check at its version or
tag, the key column of a referential check. :func:`check_context` gathers what a dataset's
checks need into one :class:`~thermocline.quality.results.CheckContext`; the checks themselves
(in :mod:`thermocline.quality`) read nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import Check, RowCountCheck, VolumeCheck
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import history
from thermocline.quality.results import CheckContext, SchemaChanges

__all__ = ["check_context", "recent_row_counts"]

_RECENT_BATCHES = 10  # what row_count's max_change compares against when no volume check says


def check_context(
    catalog: Catalog,
    dataset: str,
    checks: Sequence[Check],
    *,
    now: datetime,
    schema: pa.Schema | None,
    schema_changes: SchemaChanges | None = None,
) -> CheckContext:
    """The context that ``checks`` of ``dataset`` need to judge a batch at ``now``."""
    lake = lake_of(catalog)
    window = max(
        [c.window for c in checks if isinstance(c, VolumeCheck)]
        + [_RECENT_BATCHES for c in checks if isinstance(c, RowCountCheck)]
        + [0]
    )
    return CheckContext(
        now=now,
        previous_row_counts=recent_row_counts(lake, dataset, window) if window else (),
        schema=schema,
        schema_changes=schema_changes,
    )


def recent_row_counts(lake: Lake, dataset: str, limit: int = _RECENT_BATCHES) -> list[int]:
    """Rows of the latest publishes, newest first (empty before the first)."""
    try:
        commits = history(lake, dataset, limit=limit * 2)
    except DatasetNotFoundError:
        return []
    counts = [c.rows_added for c in commits if c.rows_added and c.operation != "RESTORE"]
    return counts[:limit]
