"""A size-bounded local cache of decoded row groups: the hot tier next to the GPU.

The loader reads (file, row group) units. With a cache folder, each unit's projected columns
(and the columns its filter reads), decoded and before the filter, are kept as an uncompressed
Arrow IPC file and memory-mapped on the next read: no GET, no Parquet decoding. One entry serves
any filter over those columns; the filter is applied to the cached table (:func:`select`).
Delta data files never change once written, so an entry is named by table URI, file path, row
group and column set alone and never goes stale. Entries land under a temporary name and are
renamed into place, so processes on one machine (ranks, DataLoader workers) share a folder and a
writer that dies mid-write leaves only a temporary file, never read (and deleted once stale).
The least recently used entries are deleted when the folder grows past its bound; a unit larger
than the whole bound is not cached.

>>> cache = UnitCache("/nvme/thermocline-cache", max_bytes=200 * 2**30)   # doctest: +SKIP
>>> name = entry_name("s3://b/lake/rides", "part-0.parquet", 3, ("fare", "distance"))
>>> cache.get(name) is None or cache.put(name, table)                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.errors import InputError

__all__ = ["UnitCache", "cached_columns", "entry_name", "select"]

_SUFFIX = ".arrow"
_STALE_PART_SECONDS = 3600.0  # a temporary file this old belongs to a writer that died


def cached_columns(
    schema: pa.Schema, columns: Sequence[str], filter_reads: Sequence[str]
) -> tuple[str, ...]:
    """The columns a unit's entry holds: those yielded and those the filter reads, in the
    table's order (so the same set always names the same entry)."""
    wanted = set(columns) | set(filter_reads)
    return tuple(name for name in schema.names if name in wanted)


def entry_name(table_uri: str, path: str, row_group: int, columns: Sequence[str]) -> str:
    """The file name of one unit's entry: a digest of what identifies its content.

    >>> entry_name("s3://b/lake/rides", "a.parquet", 0, ["x"]) == entry_name(
    ...     "s3://b/lake/rides", "a.parquet", 0, ["x"])
    True
    >>> entry_name("s3://b/lake/rides", "a.parquet", 0, ["x"]) == entry_name(
    ...     "s3://b/lake/rides", "a.parquet", 1, ["x"])
    False
    """
    key = json.dumps([table_uri.rstrip("/"), path, row_group, list(columns)])
    return hashlib.sha256(key.encode()).hexdigest()[:32] + _SUFFIX


def select(table: pa.Table, columns: Sequence[str], filter: pc.Expression | None) -> pa.Table:
    """A cached unit as the Parquet read would have given it: filtered, then projected.

    >>> t = pa.table({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    >>> select(t, ["b"], pc.field("a") > 1).to_pydict()
    {'b': [5.0, 6.0]}
    """
    if filter is not None:
        table = table.filter(filter)
    return table.select(list(columns))


class UnitCache:
    """Decoded units as Arrow IPC files under ``folder``, at most ``max_bytes`` in all (least
    recently used deleted first)."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise InputError(
                f"the cache bound must be a positive number of bytes, not {max_bytes}; pass "
                "cache_bytes=... (e.g. 200 * 2**30)",
                field="cache_bytes",
            )
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> pa.Table | None:
        """The entry ``name`` memory-mapped (no copy), or None when it is not here."""
        target = self.folder / name
        try:
            source = pa.memory_map(str(target), "r")
        except FileNotFoundError:
            return None
        try:
            table = pa.ipc.open_file(source).read_all()
        except (pa.ArrowInvalid, OSError):  # damaged under its final name (disk trouble)
            target.unlink(missing_ok=True)
            return None
        # The access that keeps it off the eviction list; if another process evicted it a
        # moment ago, the mapping stays valid.
        with contextlib.suppress(FileNotFoundError):
            _touch(target)
        return table

    def put(self, name: str, table: pa.Table) -> bool:
        """Keep ``table`` as entry ``name``; False (nothing kept) when it alone is larger than
        the bound, or another writer (a thread, a process) evicted it at once."""
        if table.nbytes > self.max_bytes:
            return False
        self._evict(self.max_bytes - table.nbytes)
        target = self.folder / name
        partial = self.folder / f".{name}.{uuid.uuid4().hex}.part"
        try:
            with (
                pa.OSFile(str(partial), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        try:
            _touch(target)
            size = target.stat().st_size
        except FileNotFoundError:  # another writer evicted it at once, to make room for its own
            return False
        if size > self.max_bytes:
            target.unlink(missing_ok=True)
            return False
        self._evict(self.max_bytes)  # the estimate was short by the IPC framing
        return True

    def size(self) -> int:
        """Bytes the entries hold now."""
        return sum(size for _, size, _ in self._entries())

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of each entry; stale temporary files are deleted."""
        found = []
        now = time.time()
        for entry in self.folder.iterdir():
            try:
                stat = entry.stat()
            except FileNotFoundError:  # another process evicted or renamed it a moment ago
                continue
            if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                found.append((stat.st_mtime, stat.st_size, entry))
            elif entry.name.endswith(".part") and now - stat.st_mtime > _STALE_PART_SECONDS:
                entry.unlink(missing_ok=True)
        return found

    def _evict(self, keep_at_most: int) -> None:
        """Delete the least recently used entries until at most ``keep_at_most`` bytes remain."""
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries):
            if total <= keep_at_most:
                break
            entry.unlink(missing_ok=True)
            total -= size


def _touch(path: Path) -> None:
    """Mark ``path`` used now, to the nanosecond (the file system's own clock ticks coarsely,
    which would tie entries used a moment apart)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))
