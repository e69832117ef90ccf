"""A version's live files, replayed from its checkpoint and the commits after it.

Why: deltalake 1.6.6 opens a table at an explicit version (``DeltaTable(uri, version=V)``)
without its ``_last_checkpoint`` hint. On a local lake that stats every log entry three times
and reads each commit after the checkpoint five times (strace): with ~1,000 retained entries
an open at a version took 36-64 ms, where the latest version opens in 5-8 ms. So time travel
to a version the log still reaches (``read_dataset(at=...)``) on a local lake takes the
version's file list from here instead: the newest checkpoint at or before it (found by looking
for the names just before it: a few ``stat`` calls, no listing) and the commits after it, then
reads it as a pinned list (:func:`~.log_reach.pinned_dataset`). On S3, delta-rs's listing
starts at the version, so the version is opened there as before.

Only what this project's writer (delta-rs) writes is replayed: classic single-file
checkpoints; ``add``, ``remove``, ``metaData`` and ``protocol`` actions; no deletion vectors,
no column mapping. Anything else, or any file missing on the way, gives None and the caller
opens the version through delta-rs, which is slower but reads every table.

:func:`replay` is the pure part (actions in, file list out); :func:`version_files` the IO.

>>> replay([{"metaData": {"schemaString": "{}", "partitionColumns": [], "configuration": {}}},
...         {"add": {"path": "a", "size": 1, "modificationTime": 0, "partitionValues": {}}}],
...        [[{"add": {"path": "b", "size": 2, "modificationTime": 0, "partitionValues": {}}},
...          {"remove": {"path": "a"}}]]).files
{'b': {'path': 'b', 'size': 2, 'modificationTime': 0, 'partitionValues': {}}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import Schema

from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.version_index import commit_actions

__all__ = ["CHECKPOINT_SEARCH", "Replayed", "replay", "version_files"]

CHECKPOINT_SEARCH = 1_000
"""How many versions back to look for a checkpoint (a ``stat`` each) before leaving the read
to delta-rs: ten times the default ``checkpoint_interval``."""

_READER_FEATURES_READ = {"timestampNtz"}  # reader features whose files read as plain Parquet


@dataclass
class Replayed:
    """The state a replay reached: live ``add`` actions by path and the latest ``metaData``;
    ``supported`` False once an action needs more than plain Parquet reads."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    supported: bool = True

    def apply(self, action: Mapping[str, Any]) -> None:
        if (add := action.get("add")) is not None:
            if add.get("deletionVector"):
                self.supported = False
            self.files[add["path"]] = add
        elif (remove := action.get("remove")) is not None:
            self.files.pop(remove["path"], None)
        elif (metadata := action.get("metaData")) is not None:
            self.metadata = metadata
            mode = (metadata.get("configuration") or {}).get("delta.columnMapping.mode")
            self.supported &= mode in (None, "none")
        elif (protocol := action.get("protocol")) is not None:
            features = set(protocol.get("readerFeatures") or ())
            self.supported &= protocol.get("minReaderVersion", 1) <= 1 or (
                features <= _READER_FEATURES_READ
            )


def replay(
    checkpoint: Iterable[Mapping[str, Any]] | None,
    commits: Iterable[Iterable[Mapping[str, Any]]],
) -> Replayed:
    """The live files after the ``checkpoint``'s actions (None: replay from version 0) and then
    each commit's actions in order: an ``add`` makes its path live, a ``remove`` drops it."""
    state = Replayed()
    for action in checkpoint or ():
        state.apply(action)
    for actions in commits:
        for action in actions:
            state.apply(action)
    return state


def version_files(lake: Lake, dataset: str, version: int) -> PinnedVersion | None:
    """``dataset@version``'s file list, schema and partitioning, replayed from its log (no
    table opened), as :class:`PinnedVersion` reads it; None when the log does not reach it
    as this module replays (a commit or the checkpoint gone, a feature it does not read)."""
    fs = lake.table_filesystem(dataset)
    try:
        start = _checkpoint_at_or_before(fs, version)
        checkpoint = None if start is None else _checkpoint_actions(fs, start)
        commits = []
        for number in range(0 if start is None else start + 1, version + 1):
            actions = commit_actions(lake, dataset, number)
            if actions is None:
                return None
            commits.append(actions)
    except FileNotFoundError:  # log cleanup removed a file between the lookup and the read
        return None
    state = replay(checkpoint, commits)
    if not state.supported or state.metadata is None:
        return None
    schema = pa.schema(Schema.from_json(state.metadata["schemaString"]).to_arrow())
    files = tuple(
        {
            "path": unquote(add["path"]),  # as storage holds it (versions.storage_path)
            "size": int(add["size"]),
            "modification_time": int(add.get("modificationTime") or 0),
            "partition_values": dict(add.get("partitionValues") or {}),
            "stats": add.get("stats") or "{}",
        }
        for add in state.files.values()
    )
    partition_by = tuple(state.metadata.get("partitionColumns") or ())
    return PinnedVersion(dataset, version, schema, partition_by, files)


def _checkpoint_at_or_before(fs: pafs.FileSystem, version: int) -> int | None:
    """The newest classic checkpoint at or before ``version`` within
    :data:`CHECKPOINT_SEARCH` versions; None to replay from version 0 (or to find that the log
    no longer starts there: a commit is then missing)."""
    lowest = max(0, version - CHECKPOINT_SEARCH)
    names = [f"_delta_log/{v:020d}.checkpoint.parquet" for v in range(version, lowest - 1, -1)]
    step = 64  # a batch of stat calls at a time: the checkpoint is usually within the first
    for offset in range(0, len(names), step):
        for info in fs.get_file_info(names[offset : offset + step]):
            if info.type == pafs.FileType.File:
                return int(info.base_name.split(".")[0])
    return None


def _checkpoint_actions(fs: pafs.FileSystem, version: int) -> list[dict[str, Any]]:
    """The live-state actions of a classic checkpoint (one per row, under its action's
    column): its ``add``s, ``metaData`` and ``protocol``. Its ``remove`` rows are tombstones
    of files no longer live, so they are not read."""
    with fs.open_input_file(f"_delta_log/{version:020d}.checkpoint.parquet") as handle:
        present = pq.read_schema(handle).names
        kinds = [kind for kind in ("add", "metaData", "protocol") if kind in present]
        table = pq.read_table(handle, columns=kinds)
    actions: list[dict[str, Any]] = []
    for kind in kinds:
        for value in table.column(kind).to_pylist():
            if value is None:
                continue
            if kind == "add":
                value["partitionValues"] = _as_dict(value.get("partitionValues"))
            elif kind == "metaData":
                value["configuration"] = _as_dict(value.get("configuration"))
            actions.append({kind: value})
    return actions


def _as_dict(value: Any) -> dict[str, Any]:
    """A Parquet map column value (a list of key/value pairs) as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return dict(value)
