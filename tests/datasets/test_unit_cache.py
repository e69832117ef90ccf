"""The loader's cache of decoded row groups (:mod:`thermocline.datasets.training.unitcache`)
on a real folder, with real processes: least recently used entries go first, two processes
filling one folder leave only whole entries, and a writer killed mid-write leaves nothing that
is read. (The loader reading through it: tests/datasets/test_training.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from thermocline.catalog.errors import InputError
from thermocline.datasets.training.unitcache import UnitCache, entry_name


def table_of(i: int, rows: int = 1000) -> pa.Table:
    return pa.table({"v": np.arange(rows, dtype=np.int64) * i, "s": [f"r{i}"] * rows})


def name_of(i: int) -> str:
    return entry_name("s3://bucket/lake/t", f"part-{i}.parquet", 0, ["v", "s"])


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    probe = UnitCache(tmp_path / "probe", 2**30)
    assert probe.put(name_of(0), table_of(0))
    one = probe.size()
    cache = UnitCache(tmp_path / "cache", 2 * one + one // 2)  # room for two entries
    assert cache.put(name_of(0), table_of(0))
    assert cache.put(name_of(1), table_of(1))
    assert cache.get(name_of(0)) == table_of(0)  # 0 is now the more recently used
    assert cache.put(name_of(2), table_of(2))
    assert cache.get(name_of(1)) is None, "1 was the least recently used"
    assert cache.get(name_of(0)) == table_of(0)
    assert cache.get(name_of(2)) == table_of(2)
    assert cache.size() <= cache.max_bytes


def test_an_entry_larger_than_the_bound_is_not_kept(tmp_path: Path) -> None:
    cache = UnitCache(tmp_path, 1000)
    assert not cache.put(name_of(0), table_of(0))
    assert cache.get(name_of(0)) is None
    assert cache.size() == 0
    with pytest.raises(InputError, match="cache bound must be a positive number"):
        UnitCache(tmp_path, 0)


FILL = """
import sys
import numpy as np, pyarrow as pa
from thermocline.datasets.training.unitcache import UnitCache, entry_name
cache = UnitCache(sys.argv[1], int(sys.argv[2]))
def table_of(i):
    return pa.table({"v": np.arange(100_000, dtype=np.int64) * i, "s": [f"r{i}"] * 100_000})
def name_of(i):
    return entry_name("s3://bucket/lake/t", f"part-{i}.parquet", 0, ["v", "s"])
for i in range(30):
    cache.put(name_of(i), table_of(i))
    for j in range(i + 1):
        found = cache.get(name_of(j))
        if found is not None and found != table_of(j):
            sys.exit(f"entry {j} read back wrong")
"""


def test_two_processes_filling_one_folder_leave_only_whole_entries(tmp_path: Path) -> None:
    one = table_of(1, 100_000).nbytes
    bound = 12 * one  # small enough that each process evicts the other's entries too
    fills = [
        subprocess.Popen([sys.executable, "-c", FILL, str(tmp_path), str(bound)]) for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in fills] == [0, 0]
    cache = UnitCache(tmp_path, bound)
    kept = [i for i in range(30) if cache.get(name_of(i)) is not None]
    assert kept
    assert len(kept) < 30
    for i in kept:
        got = cache.get(name_of(i))
        assert got == table_of(i, 100_000), i
    assert cache.size() <= bound
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


CRASH = """
import os, sys
import numpy as np, pyarrow as pa
from thermocline.datasets.training.unitcache import UnitCache

real = pa.ipc.new_file

class Dying:
    '''An IPC writer whose process dies after its first record batch reached the file.'''
    def __init__(self, sink, schema):
        self.sink, self.writer = sink, real(sink, schema)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write_table(self, table):
        self.writer.write_batch(table.to_batches(max_chunksize=1000)[0])
        self.sink.flush()
        os._exit(9)

pa.ipc.new_file = Dying
cache = UnitCache(sys.argv[1], 2**30)
cache.put(sys.argv[2], pa.table({"v": np.arange(100_000, dtype=np.int64)}))
"""


def test_a_writer_killed_mid_write_leaves_nothing_that_is_read(tmp_path: Path) -> None:
    name = name_of(7)
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path), name], timeout=120)
    assert crashed.returncode == 9
    [partial] = list(tmp_path.iterdir())
    assert partial.name.startswith(f".{name}.")
    assert partial.stat().st_size > 0
    cache = UnitCache(tmp_path, 2**30)
    assert cache.get(name) is None
    assert cache.size() == 0
    assert cache.put(name, table_of(7))
    assert cache.get(name) == table_of(7)
    assert partial.exists(), "a fresh temporary file may belong to a live writer: kept"
    hours_ago = time.time() - 2 * 3600
    os.utime(partial, (hours_ago, hours_ago))
    cache.size()
    assert not partial.exists(), "a stale one is deleted"


def test_a_damaged_entry_is_not_read_and_is_dropped(tmp_path: Path) -> None:
    cache = UnitCache(tmp_path, 2**30)
    assert cache.put(name_of(1), table_of(1))
    entry = tmp_path / name_of(1)
    entry.write_bytes(entry.read_bytes()[:100])  # disk trouble under the final name
    assert cache.get(name_of(1)) is None
    assert not entry.exists()
