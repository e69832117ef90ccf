"""The in-lake catalog on both lakes: tags, releases, registry and events."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog, Event
from thermocline.catalog.errors import (
    InvalidTagNameError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    StaleTagError,
    TagNotFoundError,
)
from thermocline.catalog.lake import Lake
from thermocline.catalog.store import CatalogTable

# Each process's moves interleave with the other's all along (measured: 25 moves each alternate
# about 30 times, 50 about 75), so every alternation is a compare-and-swap race; more moves
# cost O(n^2) log replay and add no new kind of race.
MOVES = 25
MOVER = """
import json, sys
from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
lake = Lake.open(sys.argv[1], json.loads(sys.argv[2]))
catalog, who = Catalog(lake), sys.argv[3]
catalog.tags()  # opens the catalog tables, so both start moving at the go
print("ready", flush=True)
sys.stdin.readline()  # the go: both processes are ready, so their moves overlap
for move in range(int(sys.argv[4])):
    catalog.set_tag("shared", "d", move, reason=f"{who}-{move}")
"""


def test_two_processes_moving_one_tag_lose_and_duplicate_nothing(lake: Lake) -> None:
    options = json.dumps(dict(lake.storage_options))
    movers = [
        subprocess.Popen(
            [sys.executable, "-c", MOVER, lake.uri, options, who, str(MOVES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    for mover in movers:  # both have imported and opened the catalog...
        assert mover.stdout is not None
        assert mover.stdout.readline() == "ready\n"
    for mover in movers:  # ...then both go at once
        assert mover.stdin is not None
        mover.stdin.write("go\n")
        mover.stdin.flush()
    for mover in movers:
        _, errors = mover.communicate(timeout=600)
        assert mover.returncode == 0, errors

    catalog = Catalog(lake)
    moves = catalog.tag_history("d", "shared")
    assert [m.seq for m in moves] == list(range(1, 2 * MOVES + 1)), "one move per sequence number"
    reasons = Counter(m.reason for m in moves)
    expected = {f"{who}-{n}" for who in ("a", "b") for n in range(MOVES)}
    assert set(reasons) == expected
    assert set(reasons.values()) == {1}
    for who in ("a", "b"):  # each process's moves landed in its own order
        mine = [int(m.reason.split("-")[1]) for m in moves if m.reason.startswith(who)]
        assert mine == list(range(MOVES))
    movers_in_order = [m.reason.split("-")[0] for m in moves]
    alternations = sum(x != y for x, y in itertools.pairwise(movers_in_order))
    assert alternations >= 2, f"the two processes never raced: {movers_in_order}"

    logged = [e for e in catalog.events("d", kinds=["tag"]) if e.details["tag"] == "shared"]
    assert sorted(e.details["seq"] for e in logged) == list(range(1, 2 * MOVES + 1))
    assert {e.reason for e in logged} == expected
    assert catalog.tag("d", "shared").seq == 2 * MOVES


def test_tags_move_with_an_expected_sequence(lake: Lake) -> None:
    catalog = Catalog(lake)
    first = catalog.set_tag("golden", "d", 3, expected_seq=0, reason="first eval set")
    assert (first.version, first.seq) == (3, 1)
    with pytest.raises(StaleTagError, match="moved since you read it"):
        catalog.set_tag("golden", "d", 4, expected_seq=0)
    catalog.set_tag("golden", "d", 5, expected_seq=1)
    catalog.set_tag("other", "e", 1)
    assert [(t.name, t.version) for t in catalog.tags()] == [("golden", 5), ("other", 1)]
    assert [t.name for t in catalog.tags("e")] == ["other"]
    with pytest.raises(TagNotFoundError, match="unknown tag 'silver' of d; tags of d: golden"):
        catalog.tag("d", "silver")


def test_releases_are_created_once_and_protect_their_versions(lake: Lake) -> None:
    catalog = Catalog(lake)
    catalog.create_release("2026-11", {"a": 3, "b": 7}, reason="paper")
    with pytest.raises(ReleaseExistsError, match="exists already"):
        catalog.create_release("2026-11", {"a": 4})
    assert catalog.release("2026-11").versions == {"a": 3, "b": 7}
    with pytest.raises(ReleaseNotFoundError, match="unknown release 'nope'; releases: 2026-11"):
        catalog.release("nope")
    catalog.set_tag("t", "a", 5)
    assert catalog.protected_versions("a") == {3, 5}
    assert catalog.protected_versions("b") == {7}
    assert catalog.protected_versions("c") == set()
    assert catalog.pins("a") == {5: ["tag t"], 3: ["release 2026-11"]}
    kinds = [e.kind for e in catalog.events()]
    assert kinds == ["release", "tag"]
    catalog.create_release("2026-12", {"a": 5})
    assert catalog.pins("a") == {5: ["tag t", "release 2026-12"], 3: ["release 2026-11"]}


def test_registry_snapshots_a_spec_only_when_it_changes(lake: Lake) -> None:
    catalog = Catalog(lake)
    assert catalog.register("rides", {"partition_by": ["day"]})
    assert not catalog.register("rides", {"partition_by": ["day"]})
    assert catalog.register("rides", {"partition_by": ["day", "city"]})
    assert catalog.registered() == {"rides": {"partition_by": ["day", "city"]}}


def test_events_filter_by_dataset_and_kind(lake: Lake) -> None:
    catalog = Catalog(lake)
    catalog.record(Event("publish", "a", 0, "load", {"rows": 10}))
    catalog.record(Event("vacuum", "a", 1, None, {"files": ["x"]}))
    catalog.record(Event("publish", "b", 0))
    assert [e.kind for e in catalog.events("a")] == ["publish", "vacuum"]
    (vacuumed,) = catalog.events(kinds=["vacuum"])
    assert vacuumed.details == {"files": ["x"]}
    assert vacuumed.user


def test_tags_are_per_dataset(lake: Lake) -> None:
    """Tagging two datasets ``prod`` keeps both: a tag is ``dataset@tag`` (Decision 4)."""
    catalog = Catalog(lake)
    catalog.set_tag("prod", "rides", 3)
    catalog.set_tag("prod", "events", 7)
    assert catalog.tag("rides", "prod").version == 3
    assert catalog.tag("events", "prod").version == 7
    assert [(t.dataset, t.name, t.version) for t in catalog.tags()] == [
        ("events", "prod", 7),
        ("rides", "prod", 3),
    ]
    moved = catalog.set_tag("prod", "rides", 4, expected_seq=1)
    assert (moved.version, moved.seq) == (4, 2), "each dataset's tag counts its own moves"
    assert [m.version for m in catalog.tag_history("rides", "prod")] == [3, 4]
    assert [m.version for m in catalog.tag_history("events", "prod")] == [7]
    assert catalog.protected_versions("events") == {7}
    with pytest.raises(TagNotFoundError, match=r"unknown tag 'prod' of trips; tags of trips: none"):
        catalog.tag("trips", "prod")


@pytest.mark.parametrize("name", ["7", "007", "2026-11-01", "2026-11-01T10:00:00Z", "a@b", ""])
def test_tag_names_that_read_as_versions_or_times_are_refused(lake: Lake, name: str) -> None:
    with pytest.raises(InvalidTagNameError, match=f"tag name {name!r}"):
        Catalog(lake).set_tag(name, "rides", 1)
    assert Catalog(lake).tags() == []


LEGACY_TAGS = pa.schema(
    [
        ("tag", pa.string()),
        ("dataset", pa.string()),
        ("version", pa.int64()),
        ("seq", pa.int64()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("user", pa.string()),
        ("reason", pa.string()),
    ]
)


def test_tags_written_while_tags_were_global_still_read(local_lake: Lake) -> None:
    """A lake tagged before tags were per dataset: each old tag reads as a tag of the dataset
    it pointed at last (a move to another dataset moved it, as it did then)."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {"tag": "prod", "dataset": "a", "version": 1, "seq": 1, "at": at, "user": "u"},
        {"tag": "prod", "dataset": "b", "version": 2, "seq": 2, "at": at, "user": "u"},
        {"tag": "gold", "dataset": "a", "version": 5, "seq": 1, "at": at, "user": "u"},
    ]
    old = CatalogTable(local_lake, "tags", LEGACY_TAGS)
    old.append([{**r, "reason": None} for r in rows], None, None)
    catalog = Catalog(local_lake)
    assert [(t.dataset, t.name, t.version) for t in catalog.tags()] == [
        ("a", "gold", 5),
        ("b", "prod", 2),
    ]
    moved = catalog.set_tag("prod", "b", 3, expected_seq=2)
    assert moved.seq == 3
    catalog.set_tag("prod", "a", 4)
    assert catalog.tag("b", "prod").version == 3
    assert catalog.tag("a", "prod").version == 4
    assert [m.version for m in catalog.tag_history("b", "prod")] == [2, 3]
