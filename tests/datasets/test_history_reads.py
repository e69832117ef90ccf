"""Operations that need only the tail of a table's log read the same commit files at 300 and at
3,000 versions: counted at the storage level (inotify on ``_delta_log``), so delta-rs's own
reads count too. The full ``history()`` is the control: it reads every commit."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from log_reads import LogReads
from long_log import build_long_log

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.history_pages import iter_history
from thermocline.datasets.tables.inspection import describe, list_datasets
from thermocline.datasets.tables.rollback import rollback
from thermocline.datasets.tables.versions import history, open_table, resolve_version

SMALL, LARGE = 300, 3_000  # the same tail: 99 commits after the last checkpoint


def reads_of(tmp_path: Path, versions: int) -> dict[str, int]:
    lake = Lake.open(tmp_path / f"lake{versions}")
    root = Path(lake.table_uri("t"))
    times = build_long_log(root, versions)
    catalog = Catalog(lake)
    pinned = 100 * (versions // 200) + 7  # mid-history, as far past a checkpoint at both sizes
    catalog.set_tag("pinned", "t", pinned)
    moment = datetime.fromtimestamp(times[versions - 40] / 1000, tz=UTC).isoformat()
    operations: dict[str, Callable[[], object]] = {
        "describe": lambda: describe(catalog, "t"),
        "datasets list": lambda: list_datasets(catalog, ["t"]),
        "history page": lambda: list(iter_history(lake, "t", 20)),
        "open pinned": lambda: open_table(lake, "t", pinned),
        "time lookup": lambda: resolve_version(catalog, "t", moment),
        "rollback dry run to the tag": lambda: rollback(catalog, "t", "pinned", dry_run=True),
        "rollback to a recent version": lambda: rollback(catalog, "t", versions - 3),
        "full history (control)": lambda: history(lake, "t"),
    }
    counts = {}
    for name, operation in operations.items():
        with LogReads(root) as reads:
            operation()
        counts[name] = len(reads.commits())
    return counts


@pytest.fixture(scope="module")
def counts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, int]]:
    folder = tmp_path_factory.mktemp("history-reads")
    return {n: reads_of(folder, n) for n in (SMALL, LARGE)}


@pytest.mark.parametrize(
    "operation",
    [
        "describe",
        "datasets list",
        "history page",
        "open pinned",
        "rollback dry run to the tag",
        "rollback to a recent version",
    ],
)
def test_tail_operations_read_as_many_commit_files_at_any_history(
    counts: dict[int, dict[str, int]], operation: str
) -> None:
    assert counts[LARGE][operation] == counts[SMALL][operation], counts
    assert counts[LARGE][operation] < 500, "at most a few checkpoint intervals of commits"


def test_a_time_lookup_reads_a_logarithmic_number_of_commits(
    counts: dict[int, dict[str, int]],
) -> None:
    extra = counts[LARGE]["time lookup"] - counts[SMALL]["time lookup"]
    assert 0 <= extra <= 2 * math.ceil(math.log2(LARGE / SMALL)), counts
    # beyond opening the latest table (what `datasets list` reads): the probes, ~log2(3000)
    assert counts[LARGE]["time lookup"] - counts[LARGE]["datasets list"] < 40, counts


def test_the_control_reads_every_commit(counts: dict[int, dict[str, int]]) -> None:
    """The counter sees delta-rs's reads: a full history reads every commit file, so its count
    grows by the versions added."""
    control = {n: counts[n]["full history (control)"] for n in (SMALL, LARGE)}
    assert control[SMALL] >= SMALL
    assert control[LARGE] - control[SMALL] >= LARGE - SMALL, control
