"""Training reads in the catalog (issue #17): a real :class:`TableDataset` over a local lake
records its run when iteration starts, once per run and dataset version, on rank 0, with the
version, columns, filter, seed, world size and the git commit of the working directory; the
notebook API (:mod:`thermocline.datasets.lineage`) reads it back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from thermocline.catalog.catalog import TRAINING_RUN, Catalog
from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.lineage import training_runs
from thermocline.datasets.tables.writes import write
from thermocline.datasets.training import TableDataset, TableLoader
from thermocline.datasets.training.runs import code_version

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def rides(ids: range) -> pa.Table:
    values = np.array(ids, dtype=np.int64)
    return pa.table({"id": values, "fare": values * 1.5, "city": [f"c{i % 3}" for i in ids]})


@pytest.fixture
def catalog(local_lake: Lake) -> Catalog:
    """``rides`` v0 (ids 0..19) and v1 (20..29 appended)."""
    catalog = Catalog(local_lake)
    write(catalog, "rides", rides(range(20)))
    write(catalog, "rides", rides(range(20, 30)))
    return catalog


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A git checkout with one commit as the working directory; its commit."""
    folder = tmp_path / "code"
    folder.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "model"], cwd=folder, check=True)
    monkeypatch.chdir(folder)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
    )
    return head.stdout.strip()


def test_a_read_records_its_run_when_iteration_starts(catalog: Catalog, checkout: str) -> None:
    dataset = TableDataset(
        "rides",
        catalog=catalog,
        version=0,
        columns=["id", "fare"],
        filter=[("id", ">=", 4)],
        batch_size=4,
        shuffle=True,
        seed=7,
        rank=0,
        world_size=2,
        run="model-1",
    )
    assert training_runs(catalog) == []  # a plan looked at, not read, trained nothing
    first = next(iter(dataset))
    assert first["id"].shape == (4,)
    [run] = training_runs(catalog, "rides")
    assert (run.run_id, run.ref, run.columns) == ("model-1", "rides@0", ("id", "fare"))
    assert run.filter == "(id >= 4)"
    assert (run.seed, run.world_size, run.shuffle, run.batch_size) == (7, 2, True, 4)
    assert run.rows == 16  # ids 4..19 of version 0
    assert run.code_version == checkout
    assert run.fingerprint == dataset.plan.fingerprint
    [event] = catalog.events("rides", kinds=[TRAINING_RUN])  # the event log's entry, kept
    assert (event.version, event.details["run_id"], event.details["seed"]) == (0, "model-1", 7)

    list(dataset)  # the rest of the epoch and the next one: the same read
    list(dataset)
    resumed = TableDataset(
        "rides",
        catalog=catalog,
        version=0,
        columns=["id", "fare"],
        filter=[("id", ">=", 4)],
        seed=7,
        world_size=2,
        run="model-1",
    )
    next(iter(resumed))  # a restarted process of the same run
    assert [r.run_id for r in training_runs(catalog)] == ["model-1"]
    assert len(catalog.events("rides", kinds=[TRAINING_RUN])) == 1


def test_one_row_per_run_and_version_and_only_rank_0_records(catalog: Catalog) -> None:
    for rank in (1, 0):
        next(iter(TableDataset("rides", catalog=catalog, rank=rank, world_size=2, run="r")))
    next(iter(TableDataset("rides", catalog=catalog, version=0, run="r")))
    next(iter(TableDataset("rides", catalog=catalog, run="other", record_run=False)))
    found = training_runs(catalog, "rides", run="r")
    assert [(r.ref, r.world_size) for r in found] == [("rides@0", 1), ("rides@1", 2)]
    assert [r.run_id for r in training_runs(catalog)] == ["r", "r"]
    assert training_runs(catalog, "elsewhere") == []


def test_a_loader_with_worker_processes_records_once_in_the_main_one(catalog: Catalog) -> None:
    dataset = TableDataset("rides", catalog=catalog, columns=["id"], batch_size=8, run="w")
    assert sum(1 for _ in TableLoader(dataset, num_workers=2)) == 4  # 30 rows, 8 a batch
    [run] = training_runs(catalog)
    assert (run.run_id, run.ref, run.columns) == ("w", "rides@1", ("id",))


def test_the_run_id_comes_from_the_caller_torchrun_or_is_generated(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    made = TableDataset("rides", catalog=catalog, record_run=False)
    assert len(made.run_id) == 32  # a fresh uuid4 hex
    assert made.run_id != TableDataset("rides", catalog=catalog, record_run=False).run_id
    assert TableDataset("rides", catalog=catalog, run_id="old", record_run=False).run_id == "old"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "elastic-9")
    assert TableDataset("rides", catalog=catalog, record_run=False).run_id == "elastic-9"
    assert TableDataset("rides", catalog=catalog, run="mine", record_run=False).run_id == "mine"
    with pytest.raises(InputError, match="name two runs"):
        TableDataset("rides", catalog=catalog, run="a", run_id="b")


def test_code_version_is_none_outside_a_checkout_or_without_git(
    tmp_path: Path, checkout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert code_version() == checkout
    bare = tmp_path / "no-git"
    bare.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no checkout above it either
    assert code_version(bare) is None
    monkeypatch.setenv("PATH", str(bare))  # no git program at all
    assert code_version() is None


def test_the_notebook_api_wants_the_catalog(local_lake: Lake) -> None:
    with pytest.raises(InputError, match="expected a Catalog"):
        training_runs(local_lake)  # type: ignore[arg-type]
