"""up / down / status over one state dir, recorded in ``<state>/stack.json``.

``up`` is idempotent so that ``make test`` and the CLI can call it every time: a service
whose PID is alive and whose port answers is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from thermocline.catalog.errors import DevStackError

from . import ceph, moto, registry, tansu
from .info import KafkaInfo, Log, RegistryInfo, S3Choice, S3Info, S3Kind, StackInfo
from .processes import port_answers, running_pid, stop
from .s3 import http_answers

__all__ = [
    "DEFAULT_KAFKA_PORT",
    "DEFAULT_REGISTRY_PORT",
    "DEFAULT_S3_PORT",
    "default_state_dir",
    "down",
    "status",
    "up",
]

DEFAULT_S3_PORT = 7480  # RGW's own default
DEFAULT_KAFKA_PORT = 19092  # clear of a real Kafka on 9092
DEFAULT_REGISTRY_PORT = 18081  # clear of a real schema registry on 8081
# Every PID file `down` stops, in stopping order: RGW before the OSD before the mon.
_PROGRAMS = {
    "s3": (*reversed(ceph.DAEMONS), "moto_server"),
    "kafka": ("tansu",),
    "registry": ("registry",),
}
_S3_PROGRAMS: dict[S3Kind, tuple[str, ...]] = {"ceph": ceph.DAEMONS, "moto": ("moto_server",)}

_S3_CHOICES: tuple[S3Choice, ...] = ("auto", "ceph", "moto")


def _quiet(_: str) -> None:
    """The default progress callback: say nothing."""


def default_state_dir() -> Path:
    """``$THERMOCLINE_DEV_DIR``, else ``.thermocline/dev`` under the current directory."""
    configured = os.environ.get("THERMOCLINE_DEV_DIR")
    return Path(configured) if configured else Path.cwd() / ".thermocline" / "dev"


@contextlib.contextmanager
def _locked(state_dir: Path, log: Log) -> Iterator[None]:
    """Serialise up/down on one state dir, so two test runs do not start two clusters."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another `up` or `down` on {state_dir}...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _s3_status(state_dir: Path, info: S3Info) -> S3Info:
    pids = [running_pid(state_dir / "s3" / f"{p}.pid") for p in _S3_PROGRAMS[info.kind]]
    port = int(info.endpoint_url.rsplit(":", 1)[1])
    alive = tuple(pid for pid in pids if pid is not None)
    running = len(alive) == len(pids) and http_answers(port)
    return replace(info, pids=alive, running=running)


def _kafka_status(state_dir: Path, info: KafkaInfo) -> KafkaInfo:
    pid = running_pid(state_dir / "kafka" / "tansu.pid")
    port = int(info.bootstrap_servers.rsplit(":", 1)[1])
    return replace(info, pid=pid, running=pid is not None and port_answers(port))


def _registry_status(state_dir: Path, info: RegistryInfo) -> RegistryInfo:
    pid = running_pid(state_dir / "registry" / "registry.pid")
    port = int(info.url.rsplit(":", 1)[1])
    return replace(info, pid=pid, running=pid is not None and http_answers(port))


def status(state_dir: Path | None = None) -> StackInfo:
    """What runs where, checked now: a service counts as running when all its PIDs are alive
    and its port answers."""
    state_dir = (state_dir or default_state_dir()).absolute()
    try:
        recorded = json.loads((state_dir / "stack.json").read_text())
    except FileNotFoundError:
        return StackInfo(state_dir)
    except ValueError as exc:
        raise DevStackError(
            f"{state_dir / 'stack.json'} is not valid JSON ({exc}); "
            "run `thermocline dev down` and `thermocline dev up`"
        ) from exc
    s3 = recorded.get("s3")
    kafka = recorded.get("kafka")
    schemas = recorded.get("registry")
    return StackInfo(
        state_dir,
        s3=_s3_status(state_dir, S3Info.from_dict(s3)) if s3 else None,
        kafka=_kafka_status(state_dir, KafkaInfo.from_dict(kafka)) if kafka else None,
        registry=_registry_status(state_dir, RegistryInfo.from_dict(schemas)) if schemas else None,
    )


def _write(info: StackInfo) -> None:
    """Replace stack.json atomically, so a concurrent `status` never reads half a file."""
    path = info.state_dir / "stack.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=2) + "\n")
    tmp.replace(path)


def _stop_service(state_dir: Path, service: str) -> list[str]:
    """Stop every process recorded for ``service``; returns "program (pid N)" for each."""
    stopped = []
    for program in _PROGRAMS[service]:
        pid = stop(state_dir / service / f"{program}.pid")
        if pid is not None:
            stopped.append(f"{program} (pid {pid})")
    return stopped


def _check_port_free(port: int, what: str) -> None:
    if port_answers(port):
        raise DevStackError(
            f"port {port} on 127.0.0.1, needed for {what}, is taken by another program; "
            "stop it or choose another port"
        )


def _s3_choice(s3_kind: S3Choice | None) -> S3Choice:
    """``s3_kind``, else ``$THERMOCLINE_DEV_S3``, else "auto"."""
    choice = s3_kind or os.environ.get("THERMOCLINE_DEV_S3", "auto")
    for option in _S3_CHOICES:
        if choice == option:
            return option
    raise DevStackError(
        f"unknown S3 server {choice!r} (from THERMOCLINE_DEV_S3 or s3_kind); use auto, ceph or moto"
    )


def _choose_s3(requested: S3Choice, s3_dir: Path, log: Log) -> S3Kind:
    """Ceph when it is installed or we can install it; otherwise moto, said out loud."""
    if requested == "moto":
        log("using moto_server as the S3 server, as requested")
        return "moto"
    if ceph.installed():
        return "ceph"
    reason = "it is not installed and installing it needs root and apt-get"
    if ceph.installable():
        apt_log = s3_dir / "log" / "apt.log"
        try:
            ceph.install(apt_log, log)
            return "ceph"
        except DevStackError:
            if requested == "ceph":
                raise
            reason = f"installing it with apt failed (see {apt_log})"
    if requested == "ceph":
        raise DevStackError(f"cannot use Ceph as the S3 server: {reason}")
    message = (
        f"not using Ceph RGW as the S3 server because {reason}; falling back to "
        "moto_server, which keeps data in memory only and is less faithful to S3"
    )
    log(f"WARNING: {message}")
    warnings.warn(message, RuntimeWarning, stacklevel=4)
    return "moto"


def _up_s3(
    state_dir: Path, current: S3Info | None, requested: S3Choice, port: int, log: Log
) -> S3Info:
    if current is not None and current.running:
        if requested not in ("auto", current.kind):
            raise DevStackError(
                f"S3 already runs as {current.kind} at {current.endpoint_url}; "
                f"run `thermocline dev down` first to switch to {requested}"
            )
        log(f"S3 ({current.kind}) already running at {current.endpoint_url}")
        return current
    s3_dir = state_dir / "s3"
    _stop_service(state_dir, "s3")  # leftovers of a crashed or half-stopped server
    kind = _choose_s3(requested, s3_dir, log)
    _check_port_free(port, "the S3 server")
    info = ceph.start(s3_dir, port, log) if kind == "ceph" else moto.start(s3_dir, port)
    log(f"S3 ({info.kind}) ready at {info.endpoint_url}, bucket {info.bucket!r}")
    return info


def _up_kafka(state_dir: Path, current: KafkaInfo | None, port: int, log: Log) -> KafkaInfo:
    if current is not None and current.running:
        log(f"Kafka (tansu) already running at {current.bootstrap_servers}")
        return current
    _stop_service(state_dir, "kafka")
    _check_port_free(port, "the Kafka broker")
    info = tansu.start(state_dir / "kafka", port)
    log(f"Kafka (tansu) ready at {info.bootstrap_servers}")
    return info


def _up_registry(
    state_dir: Path, current: RegistryInfo | None, port: int, log: Log
) -> RegistryInfo:
    if current is not None and current.running:
        log(f"schema registry already running at {current.url}")
        return current
    _stop_service(state_dir, "registry")
    _check_port_free(port, "the schema registry")
    info = registry.start(state_dir / "registry", port, sys.executable)
    log(f"schema registry ready at {info.url}")
    return info


def up(
    state_dir: Path | None = None,
    *,
    s3: bool = True,
    kafka: bool = True,
    s3_kind: S3Choice | None = None,
    s3_port: int = DEFAULT_S3_PORT,
    kafka_port: int = DEFAULT_KAFKA_PORT,
    registry_port: int = DEFAULT_REGISTRY_PORT,
    log: Log = _quiet,
) -> StackInfo:
    """Start the selected services unless they already run; returns what runs.

    ``s3_kind`` picks the S3 server: "ceph", "moto" or "auto" (Ceph, installing it with
    apt when root, else moto with a warning). None reads ``$THERMOCLINE_DEV_S3``
    (default "auto"). Ports only apply to services that are not yet running.
    """
    state_dir = (state_dir or default_state_dir()).absolute()
    requested = _s3_choice(s3_kind)
    with _locked(state_dir, log):
        info = status(state_dir)
        if s3:  # recorded at once, so a failing Kafka start cannot hide a running S3
            info = replace(info, s3=_up_s3(state_dir, info.s3, requested, s3_port, log))
            _write(info)
        if kafka:
            info = replace(info, kafka=_up_kafka(state_dir, info.kafka, kafka_port, log))
            _write(info)
            schemas = _up_registry(state_dir, info.registry, registry_port, log)
            info = replace(info, registry=schemas)
            _write(info)
    return info


def down(state_dir: Path | None = None) -> list[str]:
    """Stop every service by its recorded PID; returns "program (pid N)" for each stopped."""
    state_dir = (state_dir or default_state_dir()).absolute()
    if not state_dir.is_dir():
        return []
    with _locked(state_dir, _quiet):
        stopped = [line for service in _PROGRAMS for line in _stop_service(state_dir, service)]
        (state_dir / "stack.json").unlink(missing_ok=True)
    return stopped
