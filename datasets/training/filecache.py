"""A size-bounded local copy of remote data files: the hot tier next to the GPU.

Delta data files never change once written (a new version writes new files), so a file is
cached by its table URI and path alone and never goes stale. Copies land under a temporary name
and are renamed into place, so processes on one machine (ranks, DataLoader workers) can share a
cache folder; the least recently used files are deleted when the folder grows past its bound.

>>> cache = FileCache("/nvme/thermocline-cache", max_bytes=200 * 2**30)    # doctest: +SKIP
>>> cache.local_path(lake.filesystem, "rides/part-0.parquet", size, uri)  # doctest: +SKIP
'/nvme/thermocline-cache/6f0c...-part-0.parquet'
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pyarrow.fs as pafs

__all__ = ["FileCache"]

_CHUNK = 8 * 2**20


class FileCache:
    """Whole-file copies under ``folder``, at most ``max_bytes`` in all (LRU by access time)."""

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)

    def local_path(self, filesystem: pafs.FileSystem, path: str, size: int, key: str) -> str | None:
        """A local copy of ``path`` on ``filesystem`` (fetched now if missing), or None when the
        file alone is larger than the bound and should be read remotely. ``key`` names the file
        uniquely across lakes, e.g. its full URI."""
        if size > self.max_bytes:
            return None
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        target = self.folder / f"{digest}-{Path(path).name}"
        if target.exists():
            os.utime(target)  # the access that keeps it off the eviction list
            return str(target)
        self._evict(self.max_bytes - size)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        with filesystem.open_input_stream(path) as source, partial.open("wb") as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)
        partial.replace(target)
        return str(target)

    def size(self) -> int:
        """Bytes the cached copies hold now."""
        return sum(entry.stat().st_size for entry in self._entries())

    def _entries(self) -> list[Path]:
        return [p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")]

    def _evict(self, keep_at_most: int) -> None:
        """Delete the least recently used copies until at most ``keep_at_most`` bytes remain."""
        entries = []
        for entry in self._entries():
            try:
                stat = entry.stat()
            except FileNotFoundError:  # another process evicted it a moment ago
                continue
            entries.append((stat.st_mtime, stat.st_size, entry))
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries):
            if total <= keep_at_most:
                break
            entry.unlink(missing_ok=True)
            total -= size
