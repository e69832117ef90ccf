"""Start and stop the Dagster UI (``dagster dev``: webserver and daemon) for a project.

``dagster dev`` started in the background from a non-interactive shell ignores SIGINT and
SIGTERM, so it is spawned in its own session with default signal handling and stopped by the
PID it was given. Its instance lives in ``.thermocline/dagster`` (DAGSTER_HOME) with the
repository's ``dagster.yaml``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from thermocline.catalog.config import Project
from thermocline.datasets.demo import DEMO_PII_KEY
from thermocline.pipelines.devstack.processes import (
    port_answers,
    running_pid,
    spawn,
    stop,
    wait_until,
)
from thermocline.pipelines.devstack.s3 import http_answers

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "DEFAULT_UI_PORT",
    "UiInfo",
    "dagster_home",
    "dagster_instance",
    "ui_down",
    "ui_status",
    "ui_up",
]

DEFAULT_UI_PORT = 3000
_STARTUP_SECONDS = 120.0
_SESSION_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class UiInfo:
    url: str
    pid: int | None
    dagster_home: Path
    log: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


def dagster_home(project: Project) -> Path:
    """The project's Dagster instance folder, with the repository's ``dagster.yaml`` in it."""
    home = project.root / ".thermocline" / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    instance_file = project.root / "dagster.yaml"
    if instance_file.is_file():
        shutil.copy(instance_file, home / "dagster.yaml")
    return home


@contextlib.contextmanager
def dagster_instance(project: Project) -> Iterator[dg.DagsterInstance]:
    """The project's Dagster instance (what ``thermocline ui`` shows), for runs and reports.

    The first open creates its SQLite storage, and two processes doing that at once break its
    schema migrations (alembic: "more than one head"; seen with two ingest services starting
    together), so opening is serialised by a lock file next to the storage.
    """
    import dagster as dg  # here: `ui up` and `ui down` need no dagster import

    home = dagster_home(project)
    with (home / ".open.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.from_config(str(home))
    with instance:
        yield instance


def ui_status(project: Project, port: int = DEFAULT_UI_PORT) -> UiInfo:
    home = project.root / ".thermocline" / "dagster"
    pid = running_pid(home / "dagster.pid")
    return UiInfo(f"http://127.0.0.1:{port}", pid, home, home / "dagster-dev.log")


def ui_up(project: Project, port: int = DEFAULT_UI_PORT) -> UiInfo:
    """Start ``dagster dev`` for ``project`` on 127.0.0.1:``port`` unless it already runs."""
    info = ui_status(project, port)
    if info.running and http_answers(port):
        return info
    dagster_home(project)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(info.dagster_home),
        "THERMOCLINE_PROJECT": str(project.path or project.root),
    }
    # The dev UI hashes like the demo does when no key is set (see demo_pii_key).
    if not env.get(project.pii.hash_key_env):
        env[project.pii.hash_key_env] = DEMO_PII_KEY
    dagster = str(Path(sys.executable).parent / "dagster")
    pid = spawn(
        [
            dagster,
            "dev",
            "-m",
            "thermocline.pipelines.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        pid_file=info.dagster_home / "dagster.pid",
        log_file=info.log,
        env=env,
    )
    wait_until(
        lambda: port_answers(port) and http_answers(port),
        what="dagster dev",
        pid=pid,
        log_file=info.log,
        timeout=_STARTUP_SECONDS,
        hint="Run `thermocline ui down` and try again.",
    )
    return ui_status(project, port)


def ui_down(project: Project) -> int | None:
    """Stop ``dagster dev`` and everything it started; return its PID, or None if not running.

    ``dagster dev`` stops its webserver and daemon itself, but its code servers outlive it for
    a few seconds. They are in the session ``spawn`` created, whose id is that PID: wait for
    it to empty, then signal what is left of it.
    """
    pid = stop(project.root / ".thermocline" / "dagster" / "dagster.pid", timeout=60)
    if pid is None:
        return None
    deadline = time.monotonic() + _SESSION_GRACE_SECONDS
    while _session_members(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _session_members(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return pid


def _session_members(session: int) -> list[int]:
    """Live processes whose session id is ``session`` (from /proc; zombies do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return members
