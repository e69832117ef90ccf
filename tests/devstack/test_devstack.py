"""The dev stack's process handling, with real processes, and the running stack's status."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.versions import read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.pipelines import devstack
from thermocline.pipelines.devstack.processes import running_pid, spawn, stop


def test_spawn_track_and_stop_a_process_by_pid(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    pid_file = tmp_path / "sleep.pid"
    pid = spawn([sleep, "600"], pid_file=pid_file, log_file=tmp_path / "sleep.log")
    assert running_pid(pid_file) == pid
    assert os.getsid(pid) == pid, "services run in their own session, away from our signals"

    assert stop(pid_file, timeout=5) == pid
    assert not pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert stop(pid_file) is None, "stopping twice is a no-op"


def test_a_reused_pid_is_not_mistaken_for_the_service(tmp_path: Path) -> None:
    """A PID file that names a live process of another program is stale: down must not kill it."""
    pid_file = tmp_path / "radosgw.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # this pytest process, not a radosgw
    assert running_pid(pid_file) is None
    pid_file.write_text("not a pid\n")
    assert running_pid(pid_file) is None


@pytest.mark.s3
@pytest.mark.kafka
def test_up_is_idempotent_and_status_tells_what_runs(dev_stack: devstack.StackInfo) -> None:
    again = devstack.up(dev_stack.state_dir)
    assert again.s3 is not None
    assert dev_stack.s3 is not None
    assert again.s3.pids == dev_stack.s3.pids, "a second up leaves running services alone"
    assert again.kafka is not None
    assert dev_stack.kafka is not None
    assert again.kafka.pid == dev_stack.kafka.pid

    status = devstack.status(dev_stack.state_dir).to_dict()
    assert status["s3"]["running"] is True
    assert status["s3"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert status["kafka"]["running"] is True
    assert status["kafka"]["bootstrap_servers"].startswith("127.0.0.1:")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.s3
def test_moto_fallback_serves_delta_tables(tmp_path: Path) -> None:
    """The fallback S3 server, started on purpose beside the main stack, holds a Delta table."""
    state_dir = tmp_path / "dev"
    info = devstack.up(state_dir, kafka=False, s3_kind="moto", s3_port=free_port())
    try:
        assert info.s3 is not None
        assert (info.s3.kind, info.s3.running) == ("moto", True)
        lake = Lake.open(f"s3://{info.s3.bucket}/fallback", info.s3_storage_options())
        write(Catalog(lake), "t", pa.table({"id": [1, 2, 3]}))
        assert read_dataset(Catalog(lake), "t").to_table()["id"].to_pylist() == [1, 2, 3]
    finally:
        stopped = devstack.down(state_dir)
    assert [s.split(" ")[0] for s in stopped] == ["moto_server"]
    assert devstack.status(state_dir).s3 is None, "down forgets what it stopped"
