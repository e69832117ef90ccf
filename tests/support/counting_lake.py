"""A lake whose native filesystem counts what is read through it: a wrapper around the real
filesystem (local or S3), for tests that check how much a reader reads, and which files.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from thermocline.catalog.lake import Lake

__all__ = ["CountingLake"]


class CountingLake(Lake):
    """A lake whose native filesystem counts the bytes read through it."""

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        return pafs.PyFileSystem(_Counting(super().filesystem))

    @property
    def bytes_read(self) -> int:
        handler: _Counting = self.filesystem.handler
        return handler.bytes_read

    @property
    def opened(self) -> list[str]:
        """The paths opened for reading, in order (the Delta log's files and data files)."""
        handler: _Counting = self.filesystem.handler
        return handler.opened


class _Counting(pafs.FileSystemHandler):
    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner, self.bytes_read = inner, 0
        self.opened: list[str] = []

    def open_input_file(self, path: str) -> pa.NativeFile:
        self.opened.append(path)
        return pa.PythonFile(_CountingFile(self, self.inner.open_input_file(path)), mode="r")

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(selector)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def _unsupported(self, *args: Any) -> None:
        raise NotImplementedError("read-only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _unsupported
    delete_file = move = copy_file = open_output_stream = open_append_stream = _unsupported


class _CountingFile:
    def __init__(self, owner: _Counting, inner: pa.NativeFile) -> None:
        self.owner, self.inner = owner, inner

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.owner.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def size(self) -> int:
        return self.inner.size()

    def close(self) -> None:
        self.inner.close()

    @property
    def closed(self) -> bool:
        return self.inner.closed
