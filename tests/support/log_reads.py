"""Count which files of a local Delta table's log are opened, by anyone: delta-rs (Rust), pyarrow
or Python. A storage-level counter (Linux inotify on the ``_delta_log`` folder), so a test can
show that an operation reads a bounded number of commit files whatever the table's history,
without wrapping the reader it measures.

>>> with LogReads(table_root) as reads:        # doctest: +SKIP
...     describe(catalog, "rides")
>>> reads.commits()                              # doctest: +SKIP
['00000000000000004999.json']
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path
from types import TracebackType

__all__ = ["LogReads"]

_IN_OPEN = 0x00000020
_IN_NONBLOCK = 0o4000
_IN_Q_OVERFLOW = 0x00004000
_EVENT = struct.Struct("iIII")


class LogReads:
    """The files of ``<table_root>/_delta_log`` opened while the ``with`` block ran, in order."""

    def __init__(self, table_root: str | os.PathLike[str]) -> None:
        self.folder = Path(table_root, "_delta_log")
        self.opened: list[str] = []
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = -1

    def __enter__(self) -> LogReads:
        self._fd = self._libc.inotify_init1(_IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        watch = self._libc.inotify_add_watch(self._fd, str(self.folder).encode(), _IN_OPEN)
        if watch < 0:
            raise OSError(ctypes.get_errno(), f"cannot watch {self.folder}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self._drain()
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0").decode()
                offset += length
                if mask & _IN_Q_OVERFLOW:
                    raise RuntimeError("inotify queue overflowed: the count would be wrong")
                if name:
                    self.opened.append(name)

    def commits(self) -> list[str]:
        """The commit files (``NNN.json``) opened, in order, with repeats."""
        return [n for n in self.opened if n.endswith(".json") and n[:-5].isdigit()]
