"""A table's history as a stream, newest first, read a page of commit files at a time.

``thermocline history`` shows the newest :data:`DEFAULT_PAGE` versions unless asked for more,
and ``--all`` on a table with 100,000 versions should print its first line at once and hold
one page in memory, not wait for delta-rs to read and return every commit (``history()`` reads
them all before it returns). So this reads ``_delta_log/%020d.json`` files directly, newest
first, :data:`PAGE` at a time with a few reads in flight (latency-bound on S3), and stops at
the first commit file log retention removed: the readable history starts after it.

>>> for commit in iter_history(lake, "rides", limit=5):   # doctest: +SKIP
...     print(commit.version, commit.operation)
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.version_index import commit_info
from thermocline.datasets.tables.versions import Commit, commit_of, latest_version

__all__ = ["DEFAULT_PAGE", "PAGE", "iter_history", "pages"]

DEFAULT_PAGE = 20
"""Versions ``thermocline history`` shows when neither ``--limit`` nor ``--all`` is given."""

PAGE = 256
_READERS = 8  # commit files read at once


def pages(latest: int, limit: int | None, page: int = PAGE) -> Iterator[range]:
    """The version ranges to read, newest first: ``limit`` versions (all when None) down from
    ``latest``, ``page`` at a time.

    >>> [list(r) for r in pages(6, None, page=3)]
    [[6, 5, 4], [3, 2, 1], [0]]
    >>> [list(r) for r in pages(6, 2, page=3)]
    [[6, 5]]
    """
    if page < 1:
        raise InputError(f"page must be at least 1, not {page}")
    stop = -1 if limit is None else max(latest - limit, -1)
    for top in range(latest, stop, -page):
        yield range(top, max(top - page, stop), -1)


def iter_history(
    lake: Lake, name: str, limit: int | None = None, *, latest: int | None = None
) -> Iterator[Commit]:
    """The commits of ``name``, newest first: the ``limit`` newest, or every one the log still
    keeps when ``limit`` is None, down from version ``latest`` (default: the latest, found
    without opening the table, :func:`latest_version`).

    Reads only the commit files it yields (one page ahead at most), so the newest 20 of a
    table with 100,000 versions cost the same as of one with 100.
    """
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    latest = latest_version(lake, name) if latest is None else latest
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        for versions in pages(latest, limit):
            for version, info in zip(
                versions, pool.map(lambda v: commit_info(lake, name, v), versions), strict=True
            ):
                if info is None:
                    return  # log retention removed this commit and every older one
                yield commit_of({**info, "version": version})
