"""What a table's Delta log says about lineage, pure: which commits' rows a version holds, and
the source position each commit consumed.

The log is replayed once, oldest commit first (:class:`TableLog`). Every data file is traced to
the commits whose rows it holds (its *origin*):

- a file a publish adds (``WRITE``, ``CREATE TABLE``) holds that commit's rows;
- a file a rewrite adds (``OPTIMIZE`` and tier compaction, which change no data; ``DELETE``
  and erasure; ``MERGE``, which also adds the commit's own rows) holds the rows of the files
  the same commit removed. Approximation: a rewrite that bin-packs several groups in one commit
  is attributed to every file that commit removed, not to its own bin's;
- a file a ``RESTORE`` (rollback) adds again keeps the origin it had, so a rollback leads to the
  commits it restored, whatever happened in between.

The commits that make up version V are the origins of V's live files: a partition run's
overwrite removes only the files of its partition, so the other partitions keep their commits
(exact, not "every commit since the last overwrite"). Not covered: a commit that added no file
(every record quarantined or dead-lettered, positions only) holds no rows of V and is not part
of it, though its positions are shown when it is asked for; files whose adding commit is older
than the oldest commit file the log keeps (log retention) have no known origin and are counted
as unattributed.

Past log retention: before cleanup, maintenance records each pinned version's
:class:`Provenance` (what this replay says of it: the commits whose rows it holds, and each of
those commits' facts) with its file list in the catalog; a :class:`TableLog` given them answers
for those versions as the full log did.

Source positions per commit: the files of :data:`FILES_KEY` (with :data:`PARTITION_KEY` when a
partition run took one partition of each); per Kafka partition, the offsets after the previous
commit's app transaction ``kafka:<topic>:<partition>`` up to this one's (a rollback keeps app
transactions, so ranges never repeat); the SQL watermark range from the previous commit's
:data:`WATERMARK_KEY` to this one's; a derived commit's :data:`INPUTS_KEY` versions.

>>> log = TableLog("t", [
...     parse_commit(0, [{"commitInfo": {"operation": "WRITE"}}, {"add": {"path": "a"}},
...                      {"txn": {"appId": "kafka:rides:0", "version": 9}}]),
...     parse_commit(1, [{"commitInfo": {"operation": "WRITE"}}, {"add": {"path": "b"}},
...                      {"txn": {"appId": "kafka:rides:0", "version": 19}}]),
...     parse_commit(2, [{"commitInfo": {"operation": "RESTORE"}}, {"remove": {"path": "b"}}]),
... ])
>>> log.commits_of(1), log.commits_of(2)
([0, 1], [0])
>>> log.kafka_ranges(1)
[('rides', 0, 10, 19, False)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from thermocline.catalog.commits import (
    CHECKS_KEY,
    FILES_KEY,
    INPUTS_KEY,
    KIND_KEY,
    PARTITION_KEY,
    QUARANTINE_KEY,
    ROLLBACK_TO_KEY,
    ROWS_KEY,
    SIZES_KEY,
    WATERMARK_KEY,
    decode_watermark,
    json_list,
    operation_of,
)

__all__ = ["KeptCommit", "LogCommit", "Provenance", "TableLog", "parse_commit"]

_KAFKA_PREFIX = "kafka:"
# Operations whose added files hold the rows of the files they removed.
_REWRITES = frozenset({"OPTIMIZE", "DELETE", "UPDATE", "MERGE"})
# The commit-info keys lineage shows or derives from: what a kept commit keeps of its info.
_KEPT_KEYS = (
    "operation",
    KIND_KEY,
    ROWS_KEY,
    CHECKS_KEY,
    ROLLBACK_TO_KEY,
    QUARANTINE_KEY,
    FILES_KEY,
    SIZES_KEY,
    PARTITION_KEY,
    INPUTS_KEY,
)


@dataclass(frozen=True)
class LogCommit:
    """One commit file of the log: its commit info (with Thermocline's metadata keys), the
    data files it added and removed (paths as storage holds them) and its app transactions."""

    version: int
    info: Mapping[str, Any]
    adds: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    txns: Mapping[str, int] = field(default_factory=dict)
    data_change: bool = True

    @property
    def operation(self) -> str:
        return operation_of(self.info)  # a rollback from a pin's file list is a RESTORE too


def parse_commit(version: int, actions: Sequence[Mapping[str, Any]]) -> LogCommit:
    """A commit file's actions (its JSON lines, parsed) as a :class:`LogCommit`."""
    info: Mapping[str, Any] = {}
    adds: list[str] = []
    removes: list[str] = []
    txns: dict[str, int] = {}
    changes: list[bool] = []
    for action in actions:
        if "commitInfo" in action:
            info = action["commitInfo"] or {}
        elif "add" in action:
            adds.append(unquote(action["add"]["path"]))
            changes.append(bool(action["add"].get("dataChange", True)))
        elif "remove" in action:
            removes.append(unquote(action["remove"]["path"]))
            changes.append(bool(action["remove"].get("dataChange", True)))
        elif "txn" in action:
            txns[str(action["txn"]["appId"])] = int(action["txn"]["version"])
    return LogCommit(version, info, tuple(adds), tuple(removes), txns, any(changes) or not changes)


@dataclass(frozen=True)
class KeptCommit:
    """What lineage needs of one commit once log retention removed its file: its commit info
    (the keys lineage reads), the Kafka ranges and SQL watermark range the replay derived for
    it, and how many live files of its version had no known origin (``unattributed``)."""

    version: int
    info: Mapping[str, Any]
    kafka: tuple[tuple[str, int, int, int, bool], ...] = ()
    watermark: tuple[str | None, str | None] | None = None
    unattributed: int = 0


@dataclass(frozen=True)
class Provenance:
    """A version's lineage as the full log gave it: the commits whose rows it holds
    (``commits``, oldest first) and the kept facts of each of them and of the version itself.
    Plain JSON both ways (:meth:`to_json`, :meth:`from_json`), stored with a pinned version's
    file list (:class:`~thermocline.catalog.pinned_files.PinnedFiles`).

    >>> kept = Provenance(2, (0,), {0: KeptCommit(0, {"operation": "WRITE"}),
    ...                            2: KeptCommit(2, {"operation": "RESTORE"})})
    >>> Provenance.from_json(json.loads(json.dumps(kept.to_json()))) == kept
    True
    """

    version: int
    commits: tuple[int, ...]
    kept: Mapping[int, KeptCommit]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "commits": list(self.commits),
            "kept": {
                str(v): {
                    "info": dict(k.info),
                    "kafka": [list(r) for r in k.kafka],
                    "watermark": None if k.watermark is None else list(k.watermark),
                    "unattributed": k.unattributed,
                }
                for v, k in sorted(self.kept.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provenance:
        kept = {
            int(v): KeptCommit(
                int(v),
                dict(k["info"]),
                tuple((str(t), int(p), int(a), int(b), bool(s)) for t, p, a, b, s in k["kafka"]),
                None if k["watermark"] is None else (k["watermark"][0], k["watermark"][1]),
                int(k["unattributed"]),
            )
            for v, k in data["kept"].items()
        }
        return cls(int(data["version"]), tuple(int(c) for c in data["commits"]), kept)


class TableLog:
    """The lineage facts of one table's log, from one replay of its commits (oldest first).

    ``commits`` may start after version 0 when log retention removed older commit files;
    files added before them have no known origin. ``kept``: the recorded provenance of pinned
    versions older than the first commit (:class:`Provenance`); the log answers for them, and
    for the commits they hold, from what was recorded.
    """

    def __init__(
        self, dataset: str, commits: Sequence[LogCommit], kept: Sequence[Provenance] = ()
    ) -> None:
        self.dataset = dataset
        self._commits = {c.version: c for c in sorted(commits, key=lambda c: c.version)}
        first = min(self._commits, default=0)
        self._kept_commits = {p.version: p.commits for p in kept if p.version < first}
        self._kept = {
            v: k for p in kept if p.version < first for v, k in p.kept.items() if v < first
        }
        self.first = min(self._commits, default=0)
        self.latest = max(self._commits, default=-1)
        self._origins: dict[str, frozenset[int]] = {}
        self._spans: dict[str, list[list[int | None]]] = {}  # path -> [[added, removed], ...]
        self._gone: dict[str, int] = {}  # a file from before the first commit -> its removal
        self._kafka: dict[int, list[tuple[str, int, int, int, bool]]] = {}
        self._watermarks: dict[int, tuple[str | None, str | None]] = {}
        self._replay()

    @property
    def complete(self) -> bool:
        """Whether the log holds every commit from version 0 (no retention gap)."""
        return self.first == 0

    def commit(self, version: int) -> LogCommit | None:
        """The commit of ``version``: from the log, or only its info when it is kept."""
        found = self._commits.get(version)
        if found is None and version in self._kept:
            return LogCommit(version, self._kept[version].info)
        return found

    def versions(self) -> list[int]:
        """The versions the log or a kept provenance holds a commit of, oldest first."""
        return sorted({*self._commits, *self._kept})

    def kept(self, version: int) -> KeptCommit | None:
        """What was recorded of ``version``'s commit past retention; None when the log has it
        or nothing kept it."""
        return None if version in self._commits else self._kept.get(version)

    def traced(self, version: int) -> bool:
        """Whether the log can say which commits ``version`` holds: it replays that version,
        or a kept provenance of it does (a commit kept only as part of a later pinned version
        answers for its own commit, not for the version it made)."""
        return self.first <= version <= self.latest or version in self._kept_commits

    def provenance(self, version: int, unattributed: Mapping[int, int]) -> Provenance:
        """What lineage needs of ``version`` to answer once retention removes its commits:
        the commits whose rows it holds and, for each of them and itself, the kept facts
        (``unattributed``: each one's count of live files without a known origin)."""
        commits = tuple(self.commits_of(version))
        kept = {}
        for v in sorted({version, *commits}):
            info = self._info(v)
            kept[v] = self.kept(v) or KeptCommit(
                v,
                {key: info[key] for key in _KEPT_KEYS if info.get(key) is not None},
                tuple(self.kafka_ranges(v)),
                self.watermark(v),
                unattributed.get(v, 0),
            )
        return Provenance(version, commits, kept)

    def unattributed(self, base: Iterable[str], version: int) -> int:
        """How many files live at ``version`` have no known origin, given ``base``: the files
        live at the first commit the log keeps that it did not add (what a snapshot there
        lists). Those no kept commit removed by ``version`` count, and so do files re-added
        without an origin (a restore of one from before the log). No snapshot at ``version``
        is needed, so a lineage query opens the table once, not once a node."""
        count = sum(1 for p in base if (gone := self._gone.get(p)) is None or gone > version)
        for path, spans in self._spans.items():
            if path not in self._origins and any(
                a is not None and a <= version and (r is None or r > version) for a, r in spans
            ):
                count += 1
        return count

    def live_at(self, version: int) -> set[str]:
        """The data files of ``version``, by replaying adds and removes."""
        return {
            path
            for path, spans in self._spans.items()
            if any(a is not None and a <= version and (r is None or r > version) for a, r in spans)
        }

    def origins(self, paths: Sequence[str] | set[str]) -> tuple[set[int], int]:
        """The commits whose rows ``paths`` hold, and how many of them have no known origin."""
        commits: set[int] = set()
        unknown = 0
        for path in paths:
            origin = self._origins.get(path)
            if origin is None:
                unknown += 1
            else:
                commits |= origin
        return commits, unknown

    def commits_of(self, version: int) -> list[int]:
        """The commits whose rows ``version`` holds, oldest first (see the module docstring)."""
        if version in self._kept_commits:
            return list(self._kept_commits[version])
        return sorted(self.origins(self.live_at(version))[0])

    def holds(self, version: int, commit: int) -> bool:
        """Whether ``version`` still holds rows that ``commit`` added (for a version past
        retention, as its kept provenance says)."""
        if version in self._kept_commits:
            return commit in self._kept_commits[version]
        return any(commit in self._origins.get(path, frozenset()) for path in self.live_at(version))

    def files(self, version: int) -> list[tuple[str, int | None, str | None]]:
        """The source files ``version``'s commit consumed: (url, size, partition taken)."""
        info = self._info(version)
        urls = json_list(info.get(FILES_KEY))
        sizes = json_list(info.get(SIZES_KEY)) or [None] * len(urls)
        partition = info.get(PARTITION_KEY)
        return [
            (str(u), s, None if partition is None else str(partition))
            for u, s in zip(urls, sizes, strict=False)
        ]

    def kafka_ranges(self, version: int) -> list[tuple[str, int, int, int, bool]]:
        """(topic, partition, first, last, from_start) of each Kafka partition ``version``'s
        commit moved. ``from_start``: no earlier commit the log keeps held a position of that
        partition, so ``first`` is 0, the partition's beginning (when log retention removed
        older commits, the range may start later than that: see :attr:`complete`)."""
        kept = self.kept(version)
        return list(kept.kafka if kept is not None else self._kafka.get(version, []))

    def watermark(self, version: int) -> tuple[str | None, str | None] | None:
        """(after, upto) of a SQL commit, both None for a full read; None for other commits."""
        kept = self.kept(version)
        return kept.watermark if kept is not None else self._watermarks.get(version)

    def inputs(self, version: int) -> dict[str, int]:
        """A derived commit's input versions, {dataset: version} (:data:`INPUTS_KEY`)."""
        text = self._info(version).get(INPUTS_KEY)
        try:
            found = json.loads(text) if isinstance(text, str) else (text or {})
        except ValueError:
            return {}
        if not isinstance(found, dict):
            return {}
        return {str(k): int(v) for k, v in found.items() if isinstance(v, int | str)}

    def _info(self, version: int) -> Mapping[str, Any]:
        commit = self.commit(version)
        return commit.info if commit is not None else {}

    def _replay(self) -> None:
        last: dict[str, int] = {}
        watermark: str | None = None
        for version, commit in self._commits.items():
            inherited, _ = self.origins(commit.removes)
            if commit.operation == "RESTORE":
                pass  # re-added files keep the origin they had
            elif not commit.data_change or commit.operation in _REWRITES:
                own = {version} if commit.operation == "MERGE" else set()
                for path in commit.adds:
                    self._origins[path] = frozenset(inherited | own)
            else:
                for path in commit.adds:
                    self._origins.setdefault(path, frozenset({version}))
            for path in commit.removes:
                if path not in self._spans:
                    self._gone.setdefault(path, version)
                for span in self._spans.get(path, []):
                    if span[1] is None:
                        span[1] = version
            for path in commit.adds:
                spans = self._spans.setdefault(path, [])
                if not spans or spans[-1][1] is not None:
                    spans.append([version, None])
            ranges = []
            for app, offset in sorted(commit.txns.items()):
                if not app.startswith(_KAFKA_PREFIX):
                    continue
                topic, _, partition = app[len(_KAFKA_PREFIX) :].rpartition(":")
                before = last.get(app)
                first = 0 if before is None else before + 1
                ranges.append((topic, int(partition), first, offset, before is None))
                last[app] = offset
            if ranges:
                self._kafka[version] = ranges
            if commit.info.get(KIND_KEY) == "sql":
                text = commit.info.get(WATERMARK_KEY)
                upto = None if text is None else str(decode_watermark(str(text)))
                self._watermarks[version] = (watermark if upto is not None else None, upto)
                watermark = upto if upto is not None else watermark
