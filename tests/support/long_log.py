"""Build a local Delta table with thousands of versions in seconds, for tests of operations
that must not grow with history.

Two real ``write_deltalake`` appends make versions 0 and 1; every later version is a commit file
written directly in delta-rs's own shape (``commitInfo`` first, then one ``add`` of a hard link
to version 1's Parquet file, so each version adds three rows), one second apart, with delta-rs
writing a checkpoint every 100 versions as its writers do. The result is checked the way a
reader sees it: delta-rs opens it at the last version with every row.

>>> build_long_log(tmp_path / "lake" / "t", 3000)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

__all__ = ["ROWS_PER_VERSION", "build_long_log", "commit_times"]

ROWS_PER_VERSION = 3


def build_long_log(root: Path, versions: int, step_ms: int = 1000) -> list[int]:
    """A table of ``versions`` versions at ``root``; the commit time of each, in milliseconds."""
    if versions < 2:
        raise ValueError("build at least 2 versions")
    uri = str(root)
    for start in (0, ROWS_PER_VERSION):
        ids = pa.array(range(start, start + ROWS_PER_VERSION), pa.int64())
        write_deltalake(uri, pa.table({"id": ids}), mode="append")
    log = root / "_delta_log"
    begin = int(time.time() * 1000) - (versions + 10) * step_ms
    times = [begin + v * step_ms for v in range(versions)]
    for version in (0, 1):  # the real commits, moved back in time with the others
        path = log / f"{version:020d}.json"
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for action in actions:
            if "commitInfo" in action:
                action["commitInfo"]["timestamp"] = times[version]
        path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    second = [json.loads(line) for line in (log / f"{1:020d}.json").read_text().splitlines()]
    add = next(a["add"] for a in second if "add" in a)
    info = next(a["commitInfo"] for a in second if "commitInfo" in a)
    for version in range(2, versions):
        name = f"part-{version:08d}.parquet"
        os.link(root / add["path"], root / name)
        commit = {**info, "timestamp": times[version], "readVersion": version - 1}
        added = {**add, "path": name, "modificationTime": times[version]}
        (log / f"{version:020d}.json").write_text(
            json.dumps({"commitInfo": commit}) + "\n" + json.dumps({"add": added}) + "\n"
        )
        if version % 100 == 0:
            DeltaTable(uri, version=version).create_checkpoint()
    table = DeltaTable(uri)
    if table.version() != versions - 1 or len(table.file_uris()) != versions:
        raise RuntimeError(f"the built table at {uri} does not read back as {versions} versions")
    return times


def commit_times(root: Path) -> dict[int, int]:
    """Each version's commit time (ms) as delta-rs's full ``history()`` reports it: the scan
    that version-at-time lookups replace, as the reference answer."""
    return {int(e["version"]): int(e["timestamp"]) for e in DeltaTable(str(root)).history()}
