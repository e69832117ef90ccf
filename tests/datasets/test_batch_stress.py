"""Batch exactly-once under concurrency (issue #13, item 1): a stress test with real processes.

Four ``thermocline ingest batch`` processes run over and over, side by side, while small CSV
files keep landing (220 in all). Runs whose listings overlap one that published first must
lose the race (exit 1, nothing published); the others publish. At the end every source row is
in the table exactly once, on the local lake and on the dev stack's S3 server (RGW).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import read_dataset

FILES = 220
ROWS_PER_FILE = 3
WORKERS = 4
LANDING_PAUSE_S = 0.07  # 220 files over ~15 s: each process gets to run several times
THERMOCLINE = str(Path(sys.executable).with_name("thermocline"))


def write_project(root: Path, lake: Lake) -> dict[str, str]:
    """A project whose lake is ``lake`` (S3 options through the environment); its env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}
    options = {k: f"${{STRESS_{k}}}" for k in lake.storage_options}
    env |= {f"STRESS_{k}": v for k, v in lake.storage_options.items()}
    (root / "thermocline.yaml").write_text(
        json.dumps(
            {
                "lake": {"uri": lake.uri, "storage_options": options},
                "datasets": {
                    "events": {
                        "source": {"kind": "files", "url": "landing/*.csv", "format": "csv"},
                        "schema": {"id": "int64", "file": "int64"},
                    }
                },
            }
        )
    )
    return env


def land_files(landing: Path, done: threading.Event) -> None:
    """Land FILES small files, a few at a time; each appears whole (written, then renamed:
    names starting with '.' are never listed)."""
    for n in range(FILES):
        rows = "".join(f"{n * ROWS_PER_FILE + r},{n}\n" for r in range(ROWS_PER_FILE))
        hidden = landing / f".f{n:04d}.csv"
        hidden.write_text("id,file\n" + rows)
        hidden.rename(landing / f"f{n:04d}.csv")
        time.sleep(LANDING_PAUSE_S)  # pacing the landing over the runs, not waiting for them
    done.set()


def run_ingest(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERMOCLINE, "ingest", "batch", "events"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("lake", ["local", pytest.param("s3", marks=pytest.mark.s3)], indirect=True)
def test_four_concurrent_batch_runs_while_files_land_load_each_row_once(
    tmp_path: Path, lake: Lake
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    env = write_project(tmp_path, lake)
    landed = threading.Event()
    outcomes: list[subprocess.CompletedProcess[str]] = []

    def worker() -> None:
        while True:
            finished = landed.is_set()
            outcomes.append(run_ingest(tmp_path, env))
            if finished:
                return  # one full run after the last file landed

    lander = threading.Thread(target=land_files, args=(landing, landed))
    workers = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in [lander, *workers]:
        thread.start()
    for thread in [lander, *workers]:
        thread.join()

    unexpected = [o for o in outcomes if o.returncode not in (0, 1)]
    assert not unexpected, unexpected[0].stderr
    lost = [o for o in outcomes if o.returncode == 1]
    for outcome in lost:
        assert "another run published this input first" in outcome.stderr or (
            "another writer" in outcome.stderr
        ), outcome.stderr
    published = [o for o in outcomes if "published" in o.stdout and o.returncode == 0]
    while run_ingest(tmp_path, env).returncode == 1:  # what the last losers left
        pass
    ids = read_dataset(Catalog(lake), "events").to_table(columns=["id"])["id"].to_pylist()
    twice = {i: n for i, n in Counter(ids).items() if n > 1}
    assert not twice, f"{len(twice)} rows loaded more than once, e.g. {list(twice)[:5]}"
    assert sorted(ids) == list(range(FILES * ROWS_PER_FILE)), "every row, once"
    assert len(published) >= 2, "several runs published"
    print(f"{len(outcomes)} runs: {len(published)} published, {len(lost)} lost the race")
