"""Releases as one plan: preflight, dry run, journal, and recovery by --resume or --abort from a
crash (SIGKILL) or a failure at every step of the plan; on both lakes where it is cheap."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import (
    NoRollbackInProgressError,
    ReleasePreflightError,
    RollbackInProgressError,
)
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.faults import FAULT_ENV, InjectedFaultError
from thermocline.datasets.tables.maintenance import vacuum
from thermocline.datasets.tables.releases import create_release, release_rollback
from thermocline.datasets.tables.versions import history, live_files, open_table, read_dataset
from thermocline.datasets.tables.writes import write

DATASETS = ("a", "b", "c")
RELEASE = {"a": 0, "b": 1, "c": 0}
BEFORE = {d: list(range(40)) for d in DATASETS}  # 4 batches of 10 ids, versions 0..3
RELEASED = {"a": list(range(10)), "b": list(range(20)), "c": list(range(10))}


def ids(lake: Lake, dataset: str) -> list[int]:
    return sorted(read_dataset(Catalog(lake), dataset).to_table(columns=["id"])["id"].to_pylist())


def contents(lake: Lake) -> dict[str, list[int]]:
    return {d: ids(lake, d) for d in DATASETS}


def restores(lake: Lake, dataset: str) -> int:
    return sum(c.operation == "RESTORE" for c in history(lake, dataset))


def append(lake: Lake, dataset: str, batches: range) -> None:
    for batch in batches:
        write(
            Catalog(lake), dataset, pa.table({"id": pa.array(range(batch * 10, batch * 10 + 10))})
        )


def released_lake(lake: Lake) -> Catalog:
    """Datasets a, b, c at version 3; release r1 = a@0, b@1, c@0."""
    for dataset in DATASETS:
        append(lake, dataset, range(2))
    create_release(Catalog(lake), "r1", RELEASE)
    for dataset in DATASETS:
        append(lake, dataset, range(2, 4))
    assert contents(lake) == BEFORE
    return Catalog(lake)


def test_release_rollback_preflights_every_dataset_before_changing_any(lake: Lake) -> None:
    catalog = released_lake(lake)
    (gone,) = [f["path"] for f in live_files(open_table(lake, "c", 0))]
    lake.table_filesystem("c").delete_file(gone)  # removed behind vacuum's back
    lake.filesystem.delete_dir("b")  # the dataset was deleted

    with pytest.raises(ReleasePreflightError) as refused:
        release_rollback(catalog, "r1")
    message = str(refused.value)
    assert message.startswith("cannot roll back release r1: b@1: the dataset has no table")
    assert f"c@0: 1 of its 1 file(s) are gone (vacuumed or deleted): {gone}" in message
    assert "Nothing was changed" in message
    assert refused.value.missing == {"c": [gone]}
    assert open_table(lake, "a").version() == 3, "a was not touched"
    assert ids(lake, "a") == BEFORE["a"]
    assert catalog.journal.unfinished() == []
    with pytest.raises(ReleasePreflightError):
        release_rollback(catalog, "r1", dry_run=True)


def test_dry_run_prints_the_plan_and_changes_nothing(lake: Lake) -> None:
    catalog = released_lake(lake)
    plan = release_rollback(catalog, "r1", dry_run=True)
    assert [
        (s.dataset, s.from_version, s.target_version, s.files_checked) for s in plan.actions
    ] == [
        ("a", 3, 0, 1),
        ("b", 3, 1, 2),
        ("c", 3, 0, 1),
    ]
    assert (plan.dry_run, plan.journal_id, plan.rolled_back) == (True, None, [])
    assert {d: open_table(lake, d).version() for d in DATASETS} == {d: 3 for d in DATASETS}
    assert catalog.journal.steps("r1") == []


def test_release_over_a_vacuumed_version_is_refused_with_its_missing_files(lake: Lake) -> None:
    catalog = Catalog(lake)
    write(catalog, "d", pa.table({"id": pa.array([0])}))
    (first,) = [f["path"] for f in live_files(open_table(lake, "d"))]
    write(catalog, "d", pa.table({"id": pa.array([1])}), mode="overwrite")
    assert vacuum(catalog, "d", retention_hours=0).removed == [first]

    with pytest.raises(ReleasePreflightError) as refused:
        create_release(catalog, "r1", {"d": 0})
    assert f"d@0: 1 of its 1 file(s) are gone (vacuumed or deleted): {first}" in str(refused.value)
    assert str(refused.value).startswith("cannot create release r1: ")
    assert catalog.releases() == []
    assert create_release(catalog, "r1", {"d": 1}).versions == {"d": 1}


def test_a_failed_release_rollback_is_resumed_or_aborted(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = released_lake(lake)
    create_release(catalog, "r2", {"a": 1})

    monkeypatch.setenv(FAULT_ENV, "release-rollback:after-restore:2=raise")
    with pytest.raises(InjectedFaultError):
        release_rollback(catalog, "r1")
    monkeypatch.delenv(FAULT_ENV)
    assert contents(lake) == {"a": RELEASED["a"], "b": RELEASED["b"], "c": BEFORE["c"]}
    for name in ("r1", "r2"):
        with pytest.raises(RollbackInProgressError, match=r"r1 --resume.*r1 --abort"):
            release_rollback(catalog, name)
    with pytest.raises(NoRollbackInProgressError, match="unfinished one is of release r1"):
        release_rollback(catalog, "r2", resume=True)

    dry = release_rollback(catalog, "r1", abort=True, dry_run=True)
    assert [(s.dataset, s.target_version) for s in dry.actions] == [("a", 3), ("b", 3)]
    aborted = release_rollback(catalog, "r1", abort=True)
    assert aborted.aborted
    assert contents(lake) == BEFORE
    assert open_table(lake, "c").version() == 3, "c was never touched"

    monkeypatch.setenv(FAULT_ENV, "release-rollback:after-journal:1=raise")
    with pytest.raises(InjectedFaultError):
        release_rollback(catalog, "r1")
    monkeypatch.delenv(FAULT_ENV)
    resumed = release_rollback(catalog, "r1", resume=True)
    assert [r.dataset for r in resumed.rolled_back] == ["b", "c"]
    assert contents(lake) == RELEASED
    assert [restores(lake, d) for d in DATASETS] == [3, 3, 1], "restore, undo, restore; c once"
    with pytest.raises(NoRollbackInProgressError):
        release_rollback(catalog, "r1", abort=True)


def test_an_abort_that_fails_part_way_is_aborted_again(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = released_lake(local_lake)
    monkeypatch.setenv(
        FAULT_ENV, "release-rollback:after-journal:3=raise,release-abort:after-restore:2=raise"
    )
    with pytest.raises(InjectedFaultError):
        release_rollback(catalog, "r1")
    with pytest.raises(InjectedFaultError):
        release_rollback(catalog, "r1", abort=True)
    monkeypatch.delenv(FAULT_ENV)
    assert contents(local_lake) == {"a": BEFORE["a"], "b": BEFORE["b"], "c": RELEASED["c"]}
    again = release_rollback(catalog, "r1", abort=True)
    assert [r.dataset for r in again.rolled_back] == ["c"], "a and b were put back already"
    assert contents(local_lake) == BEFORE
    assert [restores(local_lake, d) for d in DATASETS] == [2, 2, 2]


# --- a real `thermocline release rollback` killed at every step of its plan -----------------

STEPS = [
    ("release-rollback:after-plan", 0),
    ("release-rollback:after-restore:1", 1),
    ("release-rollback:after-journal:1", 1),
    ("release-rollback:after-restore:2", 2),
    ("release-rollback:after-journal:2", 2),
    ("release-rollback:after-restore:3", 3),
    ("release-rollback:after-journal:3", 3),
]


@pytest.fixture(scope="module")
def released_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("released")
    (folder / "thermocline.yaml").write_text("lake:\n  uri: ./lake\n")
    released_lake(Lake.open(folder / "lake"))
    return folder


@pytest.fixture
def project(released_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    monkeypatch.delenv(FAULT_ENV, raising=False)
    return Path(shutil.copytree(released_project, tmp_path / "project"))


def test_release_rollback_dry_run_through_the_command_line(project: Path) -> None:
    shown = thermocline("release", "rollback", "r1", "--dry-run", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "dry run: roll back release r1:",
        "  a: version 3 -> 0 (1 files checked)",
        "  b: version 3 -> 1 (2 files checked)",
        "  c: version 3 -> 0 (1 files checked)",
    ]
    assert contents(Lake.open(project / "lake")) == BEFORE


@pytest.mark.parametrize(("step", "restored"), STEPS, ids=[s for s, _ in STEPS])
def test_a_release_rollback_killed_at_any_step_resumes_or_aborts(
    project: Path, tmp_path: Path, step: str, restored: int
) -> None:
    console = Path(sys.executable).with_name("thermocline")
    killed = subprocess.run(
        [str(console), "release", "rollback", "r1", "--yes"],
        cwd=project,
        env={**os.environ, FAULT_ENV: step},
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    lake = Lake.open(project / "lake")
    crashed = {d: RELEASED[d] if n < restored else BEFORE[d] for n, d in enumerate(DATASETS)}
    assert contents(lake) == crashed
    other = Path(shutil.copytree(project, tmp_path / "to-abort"))

    refused = thermocline("release", "rollback", "r1", "--yes", cwd=project)
    assert refused.exit_code == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "the rollback of release r1 is unfinished" in line
    assert "`thermocline release rollback r1 --resume`" in line
    assert "`thermocline release rollback r1 --abort`" in line

    resumed = thermocline("release", "rollback", "r1", "--resume", "--yes", cwd=project)
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.stdout.startswith("resumed and rolled back release r1")
    assert contents(lake) == RELEASED
    assert [restores(lake, d) for d in DATASETS] == [1, 1, 1], "no dataset restored twice"
    assert Catalog(lake).journal.unfinished() == []

    aborted = thermocline("release", "rollback", "r1", "--abort", "--yes", cwd=other)
    assert aborted.exit_code == 0, aborted.stderr
    other_lake = Lake.open(other / "lake")
    assert contents(other_lake) == BEFORE
    expected = [2 if n < restored else 0 for n in range(3)]
    assert [restores(other_lake, d) for d in DATASETS] == expected, "untouched ones stay so"
    assert Catalog(other_lake).journal.unfinished() == []
