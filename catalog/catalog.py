"""The in-lake catalog: tags, releases, the dataset registry, the event log, release-rollback
journals (:mod:`.journal`), column classifications (PII, :mod:`.classifications`), check
results per version (:mod:`.check_results`) and training-run lineage.

It lives in ``<lake>/_catalog/`` as Delta tables, so any process that can read the lake can
resolve names and versions with no database server (DESIGN.md > Decision 4).

>>> catalog = Catalog(lake)                                     # doctest: +SKIP
>>> catalog.set_tag("golden", "rides", 3, reason="eval set")    # doctest: +SKIP
>>> catalog.tag("rides", "golden").version                      # doctest: +SKIP
3

Names are per dataset: a tag is ``dataset@tag``, so ``rides@prod`` and ``events@prod`` are two
tags. Tags written while tags were global (``_catalog/tags``) still read, each as a tag of the
dataset it pointed at last; new moves go to ``_catalog/dataset_tags``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from thermocline.catalog.check_results import CheckResults
from thermocline.catalog.classifications import Classifications
from thermocline.catalog.errors import (
    InputError,
    InvalidTagNameError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StaleTagError,
    TagNotFoundError,
)
from thermocline.catalog.journal import RollbackJournal
from thermocline.catalog.lake import Lake
from thermocline.catalog.pinned_files import PinnedFiles
from thermocline.catalog.store import CatalogTable
from thermocline.catalog.tier_inventory import TierInventory
from thermocline.catalog.training_runs import TrainingRuns

__all__ = [
    "ERASURE",
    "TRAINING_RUN",
    "Catalog",
    "Event",
    "Release",
    "Tag",
    "check_tag_name",
    "current_user",
    "lake_of",
    "looks_like_time",
]

TRAINING_RUN = "training_run"  # the event kind that links a training run to dataset@version
ERASURE = "erasure"  # the event kind of an erasure by key: which versions it made unreadable

_TIME = pa.timestamp("us", tz="UTC")
_LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
_EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("at", _TIME),
        ("kind", pa.string()),
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("user", pa.string()),
        ("reason", pa.string()),
        ("details", pa.string()),
    ]
)
_TAGS = pa.schema(
    [
        ("tag", pa.string()),
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("seq", pa.int64()),
        ("at", _TIME),
        ("user", pa.string()),
        ("reason", pa.string()),
    ]
)
_RELEASES = pa.schema(
    [
        ("release", pa.string()),
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("at", _TIME),
        ("user", pa.string()),
        ("reason", pa.string()),
    ]
)
_REGISTRY = pa.schema(
    [
        ("dataset", pa.string()),
        ("spec_hash", pa.string()),
        ("spec", pa.string()),
        ("at", _TIME),
        ("user", pa.string()),
    ]
)


def lake_of(catalog: object) -> Lake:
    """The lake of ``catalog``, checked: functions that touch the catalog take the
    :class:`Catalog` (which carries its lake), and a :class:`Lake` passed in its place gets
    this error rather than an ``AttributeError`` deep inside."""
    if isinstance(catalog, Catalog):
        return catalog.lake
    raise InputError(
        f"expected a Catalog, got {type(catalog).__name__}; pass Catalog(lake) "
        "(thermocline.catalog.catalog.Catalog), built once and handed to every call"
    )


def looks_like_time(text: str) -> bool:
    """Whether ``text`` starts like an ISO 8601 date (``2026-11-01...``): a reference to a
    version that reads so is a time, never a tag."""
    return bool(_LOOKS_LIKE_TIME.match(text))


def check_tag_name(name: str) -> str:
    """``name`` if it can name a tag, else :class:`InvalidTagNameError`.

    ``dataset@7`` and ``dataset@2026-11-01`` name a version and a time, so a tag named ``7`` or
    ``2026-11-01`` could never be read back; ``@`` and blanks would split ``dataset@tag`` wrong.
    """
    if not name or name.isdigit() or looks_like_time(name):
        raise InvalidTagNameError(
            f"tag name {name!r} reads as a version number or a time (DATASET@{name} would "
            f"mean that); pick a name that starts with a letter, e.g. prod or v{name or 1}"
        )
    if "@" in name or any(c.isspace() for c in name):
        raise InvalidTagNameError(
            f"tag name {name!r} may not contain '@' or blanks; pick a name such as prod"
        )
    return name


def current_user() -> str:
    """Who is acting, for the event log: the login name."""
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


def _now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class Event:
    """One line of the event log: who did what to which dataset version, when and why."""

    kind: str
    dataset: str | None
    version: int | None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    user: str = field(default_factory=current_user)
    at: datetime = field(default_factory=_now)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Tag:
    name: str
    dataset: str
    version: int
    seq: int
    at: datetime
    user: str
    reason: str | None


@dataclass(frozen=True)
class Release:
    name: str
    versions: Mapping[str, int]
    at: datetime
    user: str
    reason: str | None


class Catalog:
    """The catalog of one lake. Cheap to build; every call reads the lake afresh."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._events = CatalogTable(lake, "events", _EVENTS)
        self._tags = CatalogTable(lake, "dataset_tags", _TAGS)
        self._global_tags = CatalogTable(lake, "tags", _TAGS)  # before tags were per dataset
        self._releases = CatalogTable(lake, "releases", _RELEASES)
        self._registry = CatalogTable(lake, "registry", _REGISTRY)
        self.journal = RollbackJournal(lake)  # release rollbacks: plan and steps taken
        self.pii = Classifications(lake)  # PII classes of columns, with reviews
        self.checks = CheckResults(lake)  # check results per version or quarantined batch
        self.tiers = TierInventory(lake)  # where each data file is: tier, class, since
        self.runs = TrainingRuns(lake)  # training reads: run id -> dataset@version, how
        self.pinned_files = PinnedFiles(lake)  # pinned versions' files, past log retention

    # --- events ---------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Append ``event`` to the log (a blind append: concurrent ones never conflict)."""
        self._events.append([_event_row(event)])

    def events(self, dataset: str | None = None, kinds: Iterable[str] | None = None) -> list[Event]:
        """Events, oldest first, optionally of one dataset and of some kinds."""
        wanted = set(kinds) if kinds is not None else None
        rows = self._events.read().sort_by("at").to_pylist()
        return [
            Event(
                kind=row["kind"],
                dataset=row["dataset"],
                version=row["version"],
                reason=row["reason"],
                details=json.loads(row["details"] or "{}"),
                user=row["user"],
                at=row["at"],
                event_id=row["event_id"],
            )
            for row in rows
            if (dataset is None or row["dataset"] == dataset)
            and (wanted is None or row["kind"] in wanted)
        ]

    # --- tags -----------------------------------------------------------------------------

    def set_tag(
        self,
        name: str,
        dataset: str,
        version: int,
        *,
        expected_seq: int | None = None,
        reason: str | None = None,
    ) -> Tag:
        """Point ``dataset``'s tag ``name`` at ``version`` (compare-and-swap) and log the move.

        Tags of other datasets with the same name do not move. With ``expected_seq`` the move
        happens only if the tag is still at that sequence number (0 for a tag that does not
        exist yet), else :class:`StaleTagError`. Names that read as versions or times are
        refused (:func:`check_tag_name`).
        """
        check_tag_name(name)
        legacy = self._legacy_tags().get((dataset, name))
        base = legacy["seq"] if legacy is not None else 0
        key = f"tag:{dataset}@{name}"

        def attempt(snapshot: DeltaTable) -> Tag:
            seq = _sequence(snapshot, key) or base
            if expected_seq is not None and seq != expected_seq:
                raise StaleTagError(
                    f"tag {dataset}@{name} moved since you read it (now at move {seq}, you "
                    f"expected {expected_seq}); read it again and retry"
                )
            tag = Tag(name, dataset, version, seq + 1, _now(), current_user(), reason)
            row = {
                "tag": name,
                "dataset": dataset,
                "version": version,
                "seq": tag.seq,
                "at": tag.at,
                "user": tag.user,
                "reason": reason,
            }
            self._tags.append([row], snapshot, (key, tag.seq))
            return tag

        tag = self._tags.compare_and_swap(attempt)
        self.record(Event("tag", dataset, version, reason, {"tag": name, "seq": tag.seq}))
        return tag

    def tags(self, dataset: str | None = None) -> list[Tag]:
        """Current tags (the latest move of each ``dataset@tag``), optionally of one dataset,
        by dataset and name."""
        latest = self._legacy_tags()
        for row in self._tags.read().to_pylist():
            key = (row["dataset"], row["tag"])
            if key not in latest or row["seq"] > latest[key]["seq"]:
                latest[key] = row
        found = [_tag(row) for key, row in sorted(latest.items())]
        return [t for t in found if dataset in (None, t.dataset)]

    def tag(self, dataset: str, name: str) -> Tag:
        """``dataset``'s tag ``name``, or :class:`TagNotFoundError` listing its tags."""
        tags = self.tags(dataset)
        for tag in tags:
            if tag.name == name:
                return tag
        known = ", ".join(t.name for t in tags) or "none yet"
        elsewhere = sorted({t.dataset for t in self.tags() if t.name == name})
        hint = f" ({name} is a tag of {', '.join(elsewhere)})" if elsewhere else ""
        raise TagNotFoundError(
            f"unknown tag {name!r} of {dataset}; tags of {dataset}: {known}{hint}. Create one "
            f"with `thermocline tag {dataset}@VERSION {name}`"
        )

    def tag_history(self, dataset: str, name: str) -> list[Tag]:
        """Every move of ``dataset``'s tag ``name``, in order."""
        rows = [
            r
            for table in (self._global_tags, self._tags)
            for r in table.read().to_pylist()
            if (r["dataset"], r["tag"]) == (dataset, name)
        ]
        return [_tag(row) for row in sorted(rows, key=lambda r: r["seq"])]

    def _legacy_tags(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Tags from when names were global, by (dataset, name): the latest move of each name,
        as a tag of the dataset it pointed at (the table is never written any more)."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self._global_tags.read().to_pylist():
            if row["tag"] not in latest or row["seq"] > latest[row["tag"]]["seq"]:
                latest[row["tag"]] = row
        return {(row["dataset"], name): row for name, row in latest.items()}

    # --- releases -------------------------------------------------------------------------

    def create_release(
        self, name: str, versions: Mapping[str, int], reason: str | None = None
    ) -> Release:
        """Record release ``name`` = ``{dataset: version}``; a release never changes."""
        if not versions:
            raise ReleaseNotFoundError(f"release {name!r} needs at least one DATASET@VERSION")

        def attempt(snapshot: DeltaTable) -> Release:
            if _sequence(snapshot, f"release:{name}") > 0:
                raise ReleaseExistsError(
                    f"release {name!r} exists already and releases never change; pick another name"
                )
            release = Release(name, dict(versions), _now(), current_user(), reason)
            rows = [
                {
                    "release": name,
                    "dataset": d,
                    "version": v,
                    "at": release.at,
                    "user": release.user,
                    "reason": reason,
                }
                for d, v in sorted(versions.items())
            ]
            self._releases.append(rows, snapshot, (f"release:{name}", 1))
            return release

        release = self._releases.compare_and_swap(attempt)
        self.record(
            Event("release", None, None, reason, {"release": name, "versions": dict(versions)})
        )
        return release

    def releases(self) -> list[Release]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in self._releases.read().to_pylist():
            grouped.setdefault(row["release"], []).append(row)
        return [
            Release(
                name,
                {r["dataset"]: r["version"] for r in rows},
                rows[0]["at"],
                rows[0]["user"],
                rows[0]["reason"],
            )
            for name, rows in sorted(grouped.items())
        ]

    def release(self, name: str) -> Release:
        for release in self.releases():
            if release.name == name:
                return release
        known = ", ".join(r.name for r in self.releases()) or "none yet"
        raise ReleaseNotFoundError(
            f"unknown release {name!r}; releases: {known}. Create one with "
            "`thermocline release create NAME DATASET@VERSION...`"
        )

    def protected_versions(self, dataset: str, *, restore_points: bool = True) -> set[int]:
        """Versions of ``dataset`` that a tag, a release or (unless ``restore_points`` is
        False) a restore point pins: vacuum keeps their files."""
        return set(self.pins(dataset, restore_points=restore_points))

    def pins(self, dataset: str, *, restore_points: bool = True) -> dict[int, list[str]]:
        """What pins each protected version of ``dataset``: ``tag NAME``, ``release NAME`` and
        ``restore point`` (``history.restore_points``; unless ``restore_points`` is False), by
        version (vacuum keeps their files; tiering archives those only a pin still needs)."""
        pins: dict[int, list[str]] = {}
        for tag in self.tags(dataset):
            pins.setdefault(tag.version, []).append(f"tag {tag.name}")
        for release in self.releases():
            if dataset in release.versions:
                pins.setdefault(release.versions[dataset], []).append(f"release {release.name}")
        if restore_points:
            for version in sorted(self.pinned_files.restore_points(dataset)):
                pins.setdefault(version, []).append("restore point")
        return pins

    # --- registry -------------------------------------------------------------------------

    def register(self, dataset: str, spec: Mapping[str, Any]) -> bool:
        """Snapshot ``spec`` for ``dataset`` when it differs from the last one; True if new."""
        text = json.dumps(spec, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()

        def attempt(snapshot: DeltaTable) -> bool:
            rows = [r for r in self._registry.read(snapshot).to_pylist() if r["dataset"] == dataset]
            if rows and max(rows, key=lambda r: r["at"])["spec_hash"] == digest:
                return False
            row = {
                "dataset": dataset,
                "spec_hash": digest,
                "spec": text,
                "at": _now(),
                "user": current_user(),
            }
            seq = _sequence(snapshot, f"registry:{dataset}") + 1
            self._registry.append([row], snapshot, (f"registry:{dataset}", seq))
            return True

        return self._registry.compare_and_swap(attempt)

    def registered(self) -> dict[str, dict[str, Any]]:
        """The latest spec snapshot of every registered dataset."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self._registry.read().sort_by("at").to_pylist():
            latest[row["dataset"]] = json.loads(row["spec"])
        return latest


def _sequence(snapshot: DeltaTable, app_id: str) -> int:
    """How many times ``app_id`` has moved in ``snapshot`` (0 when never)."""
    return snapshot.transaction_version(app_id) or 0


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "at": event.at,
        "kind": event.kind,
        "dataset": event.dataset,
        "version": event.version,
        "user": event.user,
        "reason": event.reason,
        "details": json.dumps(dict(event.details), sort_keys=True, default=str),
    }


def _tag(row: dict[str, Any]) -> Tag:
    return Tag(
        row["tag"],
        row["dataset"],
        row["version"],
        row["seq"],
        row["at"],
        row["user"],
        row["reason"],
    )
