"""Ceph RADOS Gateway as the dev S3 server: one mon, one BlueStore OSD on a sparse file, RGW.

Real RGW, unlike moto, enforces conditional PUTs, honours storage classes and keeps data
across restarts, so code tested against it behaves as on a production S3. There is no mgr
(it is not needed for S3 and saves memory), so mgr-only commands such as `ceph pg stat`
hang. Config, keyrings and data live in ``<state>/s3/ceph``, logs in ``<state>/s3/log``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from thermocline.catalog.errors import DevStackError

from .info import Log, S3Info
from .processes import port_answers, run_tool, spawn, stop, wait_until
from .s3 import ACCESS_KEY, SECRET_KEY, STORAGE_CLASSES, ensure_bucket, http_answers, s3_info

__all__ = ["DAEMONS", "install", "installable", "installed", "start"]

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw")
DAEMONS = ("ceph-mon", "ceph-osd", "radosgw")  # start order; stop in reverse
MON_PORT = 16789  # preferred; the port is fixed in the mon map when the cluster is created
_TOOLS = ("ceph", "ceph-authtool", "monmaptool", *DAEMONS, "radosgw-admin")
_RGW = "client.rgw.thermocline"
_BLOCK_SIZE = 20 * 2**30  # a sparse file: only what is written takes disk space
_READY = "ready"  # written once a new cluster has served its first request
# Keys made at bootstrap and imported into the mon's auth database by `ceph-mon --mkfs`.
# cephx stays on: with `auth none`, radosgw fails (get_initial_auth_request returned -13).
_KEYS = {
    "client.admin": ("mon", "allow *", "osd", "allow *", "mgr", "allow *"),
    "osd.0": ("mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"),
    _RGW: ("mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw"),
}


def installed() -> bool:
    """Whether every Ceph program we need is on PATH."""
    return all(shutil.which(tool) for tool in _TOOLS)


def installable() -> bool:
    """Whether we may install Ceph ourselves: as root, with apt."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(log_file: Path, log: Log) -> None:
    """Install the Ceph packages with apt (about a minute, 270 MB)."""
    log(f"installing {' '.join(PACKAGES)} with apt (about a minute)...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120"]
    run_tool([*apt, "update"], log_file=log_file, timeout=600, env=env)
    install_cmd = [*apt, "install", "-y", "--no-install-recommends", *PACKAGES]
    run_tool(install_cmd, log_file=log_file, timeout=1200, env=env)
    if not installed():
        raise DevStackError(f"apt installed Ceph but some of {_TOOLS} are missing; see {log_file}")


def _free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else a port the OS picks."""
    if not port_answers(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _conf(cdir: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    """ceph.conf for a single-OSD cluster on 127.0.0.1 with cephx and no mgr."""
    return f"""\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
mon initial members = a
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
ms bind msgr1 = false
run dir = {cdir}/run
admin socket = {cdir}/run/$name.asok
# No PID files of Ceph's own: ours are <state>/s3/<program>.pid.
pid file =
keyring = {cdir}/keyrings/$name.keyring
debug rocksdb = 1/5
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# Dev-sized: commit mon changes 10x sooner (creating the cluster takes 7 s instead of 19 s),
# and keep running on a nearly full disk (the default stops the mon below 5% free).
paxos propose interval = 0.1
mon data avail crit = 1

[mon.a]
mon data = {cdir}/mon
keyring = {cdir}/mon/keyring

[osd.0]
osd data = {cdir}/osd
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# `bluestore block path` inside the OSD folder fails ("Too many levels of symbolic links").
bluestore block create = true
bluestore block size = {_BLOCK_SIZE}

[{_RGW}]
# Without tcp_nodelay every response with a body waits ~40 ms for the client's delayed ACK.
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
# Deleted objects, and the old copy of each storage-class change, are freed after this many
# seconds (default 2 hours): tiering benchmarks rewrite gigabytes on a 20 GiB OSD.
rgw gc obj min wait = 60
"""


class _Cluster:
    """One cluster's files under ``<state>/s3``, and running Ceph programs against it."""

    def __init__(self, s3_dir: Path, fsid: str, mon_port: int) -> None:
        self.s3_dir = s3_dir
        self.fsid = fsid
        self.mon_port = mon_port
        self.dir = s3_dir / "ceph"
        self.conf = self.dir / "ceph.conf"
        self.logs = s3_dir / "log"
        self.hint = (
            f"If it keeps failing, run `thermocline dev down` and delete {self.dir} "
            "to start over with an empty cluster."
        )

    def tool(self, *argv: str, timeout: float = 120) -> str:
        """Run a setup command, its output appended to ceph-setup.log; returns its stdout."""
        return run_tool(argv, log_file=self.logs / "ceph-setup.log", timeout=timeout)

    def daemon(self, program: str, *args: str, ready: Callable[[], bool]) -> int:
        """Start a daemon in the foreground (``-d`` logs to stderr, i.e. to its log file)."""
        log_file = self.logs / f"{program}.log"
        pid = spawn(
            [program, "-c", str(self.conf), *args, "-d"],
            pid_file=self.s3_dir / f"{program}.pid",
            log_file=log_file,
        )
        wait_until(ready, what=program, pid=pid, log_file=log_file, timeout=90, hint=self.hint)
        return pid

    def osd_up(self) -> bool:
        argv = ["ceph", "-c", str(self.conf), "--connect-timeout", "5", "osd", "stat", "-f", "json"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
            return bool(json.loads(done.stdout).get("num_up_osds") == 1)
        except (subprocess.SubprocessError, ValueError):
            return False

    def create_keys_and_mon(self) -> None:
        keyrings = self.dir / "keyrings"
        keyrings.mkdir()
        mon_keyring = str(keyrings / "mon..keyring")
        self.tool("ceph-authtool", "--create-keyring", mon_keyring, "--gen-key", "-n", "mon.",
                  "--cap", "mon", "allow *")  # fmt: skip
        for name, caps in _KEYS.items():
            keyring = str(keyrings / f"{name}.keyring")
            cap_args = [a for i in range(0, len(caps), 2) for a in ("--cap", *caps[i : i + 2])]
            self.tool("ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", name,
                      *cap_args)  # fmt: skip
            self.tool("ceph-authtool", mon_keyring, "--import-keyring", keyring)
        monmap = str(self.dir / "monmap")
        self.tool("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                  f"[v2:127.0.0.1:{self.mon_port}]", monmap)  # fmt: skip
        (self.dir / "mon").mkdir()
        self.tool("ceph-mon", "-c", str(self.conf), "-i", "a", "--mkfs", "--monmap", monmap,
                  "--keyring", mon_keyring)  # fmt: skip

    def create_osd(self) -> None:
        osd_uuid = str(uuid.uuid4())
        osd_id = self.tool("ceph", "-c", str(self.conf), "osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise DevStackError(f"the new OSD got id {osd_id!r}, not 0; {self.hint}")
        (self.dir / "osd").mkdir()
        self.tool("ceph-osd", "-c", str(self.conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)

    def configure_rgw(self) -> None:
        """Create the dev S3 user, then the STANDARD_IA, GLACIER and DEEP_ARCHIVE storage
        classes (tiering's warm, cold and archive: on RGW all read at once).

        The classes come after the first `user create`, which is what creates the default
        zone and zonegroup they belong to; each class gets its own data pool.
        """
        admin = ("radosgw-admin", "-c", str(self.conf))
        self.tool(*admin, "user", "create", "--uid", "thermocline",
                  "--display-name", "Thermocline dev",
                  "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY)  # fmt: skip
        for storage_class in STORAGE_CLASSES[1:]:
            pool = f"default.rgw.{storage_class.lower().replace('_', '-')}.data"
            placement = ("--placement-id", "default-placement", "--storage-class", storage_class)
            self.tool(*admin, "zonegroup", "placement", "add", "--rgw-zonegroup", "default",
                      *placement)  # fmt: skip
            self.tool(*admin, "zone", "placement", "add", "--rgw-zone", "default", *placement,
                      "--data-pool", pool)  # fmt: skip


def start(s3_dir: Path, port: int, log: Log) -> S3Info:
    """Start the cluster and RGW on 127.0.0.1:``port``, creating the cluster on first use.

    An existing cluster is reused with its data; one whose creation never finished is
    wiped and created again. On failure, the daemons started here are stopped.
    """
    cdir = s3_dir / "ceph"
    fresh = not (cdir / _READY).exists()
    if fresh and cdir.exists():
        log(f"the Ceph cluster in {cdir} was never fully set up; wiping it, starting over")
        shutil.rmtree(cdir)
    log(
        f"creating a Ceph cluster in {cdir} (about 10 s)..."
        if fresh
        else f"starting the Ceph cluster in {cdir}..."
    )
    (cdir / "run").mkdir(parents=True, exist_ok=True)
    identity = cdir / "cluster.json"  # fixed at creation: both are written into the mon map
    if fresh:
        identity.write_text(
            json.dumps({"fsid": str(uuid.uuid4()), "mon_port": _free_port(MON_PORT)})
        )
    cluster = _Cluster(s3_dir, **json.loads(identity.read_text()))
    if port_answers(cluster.mon_port):
        raise DevStackError(
            f"port {cluster.mon_port} on 127.0.0.1, which the Ceph monitor of {cdir} uses, "
            "is taken by another program; stop it"
        )
    cluster.conf.write_text(_conf(cdir, cluster.fsid, cluster.mon_port, port))
    try:
        if fresh:
            cluster.create_keys_and_mon()
        mon = cluster.daemon("ceph-mon", "-i", "a", ready=lambda: port_answers(cluster.mon_port))
        if fresh:
            cluster.create_osd()
        osd = cluster.daemon("ceph-osd", "-i", "0", ready=cluster.osd_up)
        if fresh:
            cluster.configure_rgw()
        rgw = cluster.daemon("radosgw", "-n", _RGW, ready=lambda: http_answers(port))
        info = s3_info("ceph", port, (mon, osd, rgw))
        ensure_bucket(info)
    except BaseException:
        for daemon in reversed(DAEMONS):
            stop(s3_dir / f"{daemon}.pid")
        raise
    (cdir / _READY).touch()
    return info
