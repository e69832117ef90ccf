"""How far back a table's Delta log reaches, and reading a pinned version from beyond it.

Log retention (:mod:`.retention`) deletes commit files older than the retention and older than
the latest checkpoint, and the older checkpoints with them. What remains is readable from the
oldest checkpoint (or version 0 while ``00000000000000000000.json`` is still there): one
listing of ``_delta_log/``, which retention keeps short. A version older than that reads only
when a tag or release pinned it and its file list is in the catalog
(:class:`~thermocline.catalog.pinned_files.PinnedFiles`); then :func:`pinned_dataset` builds
the pyarrow dataset delta-rs would have built (the same fragments, partition values as
partition expressions, the version's schema). Any other version there is refused with
:class:`~thermocline.catalog.errors.ExpiredVersionError`, one line naming the retention and
the oldest readable version.

>>> readable_from(lake, "rides")                                          # doctest: +SKIP
4200
>>> pinned_dataset(lake, catalog.pinned_files.find("rides", 7)).count_rows()  # doctest: +SKIP
1000
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from thermocline.catalog.errors import ExpiredVersionError
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.version_index import oldest_commit

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from thermocline.catalog.catalog import Catalog

__all__ = [
    "pinned_dataset",
    "pinned_past_retention",
    "readable_from",
    "retention_text",
]

_LOG_FILE = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")
_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.I)
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def readable_from(lake: Lake, dataset: str) -> int:
    """The oldest version of ``dataset`` its Delta log can still load: 0 while the first commit
    file exists, else the oldest commit file left, which log cleanup leaves at the checkpoint
    it keeps. A bisection up to the last checkpoint (``_delta_log/_last_checkpoint``): a few
    lookups, where a listing of ``_delta_log/`` would read one entry per version."""
    fs = lake.table_filesystem(dataset)
    if fs.get_file_info("_delta_log/00000000000000000000.json").type != pafs.FileType.NotFound:
        return 0
    try:
        with fs.open_input_stream("_delta_log/_last_checkpoint") as stream:
            last = int(json.loads(stream.read())["version"])
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return _readable_from_listing(fs)
    return oldest_commit(lake, dataset, last)


def _readable_from_listing(fs: pafs.FileSystem) -> int:
    """:func:`readable_from` for a log without a ``_last_checkpoint`` hint: one listing."""
    listing = fs.get_file_info(pafs.FileSelector("_delta_log", allow_not_found=True))
    commits: set[int] = set()
    checkpoints: set[int] = set()
    for info in listing:
        match = _LOG_FILE.match(info.base_name)
        if match:
            (commits if match.group(2) == "json" else checkpoints).add(int(match.group(1)))
    if 0 in commits or not (commits or checkpoints):
        return 0
    return min(checkpoints) if checkpoints else min(commits)


def retention_text(table: DeltaTable) -> str:
    """The table's log retention as a duration (``7d``), from ``delta.logRetentionDuration``;
    Delta's default (30 days) when the property is unset."""
    value = table.metadata().configuration.get("delta.logRetentionDuration")
    match = _INTERVAL.match(value or "interval 30 days")
    if match is None:
        return str(value)
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return next(
        f"{seconds // size}{unit}" for unit, size in _UNITS if seconds % size == 0 or size == 1
    )


def pinned_past_retention(
    catalog: Catalog,
    dataset: str,
    version: int,
    table: DeltaTable | None = None,
    *,
    via: str | None = None,
) -> PinnedVersion | None:
    """The recorded files of ``version`` when log retention removed its commits and a pin kept
    them; None when the log still reaches ``version``. Raises :class:`ExpiredVersionError` when
    retention removed it and nothing pinned it. ``table``, the dataset's latest version when the
    caller has it open, spares a lookup; the log is opened only to name the retention."""
    if table is not None and version >= table.version():
        return None
    oldest = readable_from(catalog.lake, dataset)
    if version >= oldest:
        return None
    pinned = catalog.pinned_files.find(dataset, version)
    if pinned is not None:
        return pinned
    if table is None:  # only this refusal needs the table: its retention property
        from thermocline.datasets.tables.versions import open_table  # it imports this module

        table = open_table(catalog.lake, dataset)
    named = f"{dataset} version {version}" + (f" ({via})" if via else "")
    raise ExpiredVersionError(
        f"cannot read {named}: log retention ({retention_text(table)}, history.log_retention) "
        f"removed it; the oldest readable version is {oldest}; tag or release a version to keep "
        "it readable past retention",
        fix=f"read version {oldest} or newer",
    )


def pinned_dataset(lake: Lake, pinned: PinnedVersion) -> pads.Dataset:
    """A pyarrow dataset over ``pinned``'s files: what ``to_pyarrow_dataset`` gave for that
    version (partition columns come from each file's partition values, as in a Delta read)."""
    filesystem = lake.table_filesystem(pinned.dataset)
    parquet = pads.ParquetFileFormat()
    fragments = [
        parquet.make_fragment(
            entry["path"],
            filesystem=filesystem,
            partition_expression=_partition_expression(
                pinned.schema, entry.get("partition_values") or {}
            ),
        )
        for entry in pinned.files
    ]
    return pads.FileSystemDataset(fragments, pinned.schema, parquet, filesystem)


def _partition_expression(schema: pa.Schema, values: dict[str, str | None]) -> pc.Expression:
    expression = pc.scalar(True)
    for column, text in values.items():
        field = pc.field(column)
        kind = schema.field(column).type
        expression &= field.is_null() if text is None else field == _typed(text, kind)
    return expression


def _typed(text: str, kind: pa.DataType) -> pa.Scalar:
    """A partition value as the column's type (Delta writes timestamps without a zone: UTC)."""
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return pa.scalar(text).cast(pa.timestamp(kind.unit)).cast(kind)
    return pa.scalar(text).cast(kind)
