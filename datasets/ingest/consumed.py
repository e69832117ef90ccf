"""What a file source has consumed into a table: per file, all of it or some of its partitions.

The record is the table's own history (DESIGN.md > Decision 3). A commit lists the URLs it
consumed under :data:`FILES_KEY` (sizes and ETags beside them) and counts them on the app
transaction ``files:<dataset>``. A plain run consumes whole files. A partition run
(:data:`PARTITION_KEY` set) recomputes one partition from every file and consumes only that
partition of each: (file, partition). A plain run later loads the rest of such a file, so after
any mix of plain and partition runs each source row is in the table once.

The counter is the cheap check (no history read while it is unset), the compare-and-swap of
every consuming publish (two runs that read against the same count cannot both publish), and
the integrity check (history that lists fewer files than it counts was cleaned up, and
re-reading would load files twice, so that is an error, never a silent re-read).

>>> Consumed(SourceFile("file:///l/a.csv"), frozenset({"2026-11-02"})).whole
False
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from deltalake import DeltaTable

from thermocline.catalog.commits import (
    ETAGS_KEY,
    FILES_KEY,
    PARTITION_KEY,
    REPLAY_KEY,
    SIZES_KEY,
    json_list,
)
from thermocline.catalog.errors import SourceHistoryError
from thermocline.datasets.ingest.base import SourceFile

__all__ = ["Consumed", "changed", "consumed_record", "files_app_id", "pending_files"]


@dataclass(frozen=True)
class Consumed:
    """One consumed file: ``partitions`` None when every row of it was loaded, else the
    partition keys (values of the first ``partition_by`` column) that partition runs took."""

    file: SourceFile
    partitions: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        return self.partitions is None

    def add(self, file: SourceFile, partition: str | None) -> Consumed:
        """This record after a commit that consumed ``file`` (one ``partition`` of it, or all)."""
        if partition is None or self.partitions is None:
            return Consumed(file, None)
        return Consumed(file, self.partitions | {partition})


def files_app_id(dataset: str) -> str:
    """App-transaction id counting the files consumed into ``dataset``."""
    return f"files:{dataset}"


def consumed_record(table: DeltaTable | None, dataset: str) -> dict[str, Consumed]:
    """URL -> what the table's commits consumed of it (oldest first; a replay undoes)."""
    if table is None:
        return {}
    counted = table.transaction_version(files_app_id(dataset))
    if counted is None:
        return {}  # no commit ever consumed a file: skip reading the history
    # history() reads every commit file (commitInfo is not in checkpoints): at 1,000 versions
    # about 50 ms on a local disk and 400 ms on the dev S3 server (2026-11), once per read.
    consumed: dict[str, Consumed] = {}
    listed = 0
    for entry in reversed(table.history()):
        for url in json_list(entry.get(REPLAY_KEY)):
            consumed.pop(url, None)
        urls = json_list(entry.get(FILES_KEY))
        sizes = json_list(entry.get(SIZES_KEY)) or [None] * len(urls)
        etags = json_list(entry.get(ETAGS_KEY)) or [None] * len(urls)
        partition = entry.get(PARTITION_KEY)
        for url, size, etag in zip(urls, sizes, etags, strict=False):
            file = SourceFile(url, size, etag)
            before = consumed.get(url)
            if before is None:
                taken = None if partition is None else frozenset({partition})
                consumed[url] = Consumed(file, taken)
            else:
                consumed[url] = before.add(file, partition)
        listed += len(urls)
    if listed < counted:
        raise SourceHistoryError(
            f"{dataset}: its commits list {listed} consumed file(s) but its source counter "
            f"({files_app_id(dataset)}) says {counted}: old commit files were cleaned from the "
            "Delta log (cleanup_metadata / delta.logRetentionDuration), so reading on could load "
            "files twice. Fix: move the files already loaded out of the source location, or "
            "narrow source.url to new files; and keep the log of file-sourced tables "
            "(delta.logRetentionDuration) longer than they keep source files."
        )
    return consumed


def changed(seen: SourceFile, now: SourceFile) -> bool:
    """True when ``now`` is not the file that was consumed as ``seen`` (size or ETag moved)."""
    if seen.size is not None and now.size is not None and seen.size != now.size:
        return True
    return seen.etag is not None and now.etag is not None and seen.etag != now.etag


def pending_files(
    listed: Iterable[SourceFile],
    consumed: Mapping[str, Consumed],
    on_changed: Callable[[Consumed, SourceFile], None] | None = None,
) -> list[SourceFile]:
    """The files of ``listed`` (in order, repeats dropped) that a plain run reads: never
    consumed, or only some partitions of them. A file changed since it was consumed is not
    read again: ``on_changed(seen, file)`` hears of it (ingest warns)."""
    pending = []
    for file in dict.fromkeys(listed):
        seen = consumed.get(file.url)
        if seen is None:
            pending.append(file)
        elif changed(seen.file, file):
            if on_changed is not None:
                on_changed(seen, file)
        elif not seen.whole:
            pending.append(file)
    return pending
