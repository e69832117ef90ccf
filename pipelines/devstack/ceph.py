"""Ceph RADOS Gateway as the dev S3 server: one mon, one BlueStore OSD on a sparse file, RGW.

Real RGW, unlike moto, enforces conditional PUTs, honours storage classes and keeps data
across restarts, so code tested against it behaves the same on a production S3.
Everything (config, keyrings, data, logs) lives in ``<state>/s3/ceph`` and ``<state>/s3/log``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from thermocline.catalog.errors import DevStackError

from .info import S3Info
from .processes import port_answers, run_tool, spawn, stop, wait_until
from .s3 import ACCESS_KEY, SECRET_KEY, ensure_bucket, http_answers, s3_info

__all__ = ["DAEMONS", "MON_PORT", "install", "installable", "installed", "start"]

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw")
DAEMONS = ("ceph-mon", "ceph-osd", "radosgw")  # start order; stop in reverse
MON_PORT = 16789
_TOOLS = ("ceph", "ceph-authtool", "monmaptool", *DAEMONS, "radosgw-admin")
_RGW = "client.rgw.thermocline"
_BLOCK_SIZE = 20 * 2**30  # a sparse file: only what is written takes disk space
_READY = "ready"  # written once a new cluster served its first request
# Keys generated at bootstrap and imported into the mon's auth database by `ceph-mon --mkfs`.
# cephx stays on: RGW cannot authenticate to the mon with `auth none`.
_KEYS = {
    "client.admin": ("mon", "allow *", "osd", "allow *", "mgr", "allow *"),
    "osd.0": ("mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"),
    _RGW: ("mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw"),
}

Log = Callable[[str], None]


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
    run_tool(
        [*apt, "install", "-y", "--no-install-recommends", *PACKAGES],
        log_file=log_file,
        timeout=1200,
        env=env,
    )
    if not installed():
        raise DevStackError(f"apt installed {' '.join(PACKAGES)} but tools are missing; see {log_file}")


def _conf(cdir: Path, fsid: str, rgw_port: int) -> str:
    """ceph.conf for a single-OSD cluster bound to 127.0.0.1, with no mgr."""
    return f"""\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{MON_PORT}]
mon initial members = a
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
ms bind msgr1 = false
run dir = {cdir}/run
admin socket = {cdir}/run/$name.asok
pid file = {cdir}/run/$name.pid
keyring = {cdir}/keyrings/$name.keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000

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
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
"""


def _osd_up(conf: Path) -> bool:
    done = subprocess.run(
        ["ceph", "-c", str(conf), "--connect-timeout", "5", "osd", "stat", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and json.loads(done.stdout).get("num_up_osds") == 1


def _create_keys_and_mon(cdir: Path, conf: Path, fsid: str, setup_log: Path) -> None:
    keyrings = cdir / "keyrings"
    keyrings.mkdir(parents=True)
    mon_keyring = keyrings / "mon..keyring"
    run_tool(
        ["ceph-authtool", "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.",
         "--cap", "mon", "allow *"],
        log_file=setup_log, timeout=30,
    )
    for name, caps in _KEYS.items():
        keyring = keyrings / f"{name}.keyring"
        cap_args = [arg for kind, cap in zip(caps[::2], caps[1::2], strict=True)
                    for arg in ("--cap", kind, cap)]
        run_tool(
            ["ceph-authtool", "--create-keyring", str(keyring), "--gen-key", "-n", name,
             *cap_args],
            log_file=setup_log, timeout=30,
        )
        run_tool(
            ["ceph-authtool", str(mon_keyring), "--import-keyring", str(keyring)],
            log_file=setup_log, timeout=30,
        )
    monmap = cdir / "monmap"
    run_tool(
        ["monmaptool", "--create", "--fsid", fsid, "--addv", "a",
         f"[v2:127.0.0.1:{MON_PORT}]", str(monmap)],
        log_file=setup_log, timeout=30,
    )
    (cdir / "mon").mkdir()
    run_tool(
        ["ceph-mon", "-c", str(conf), "-i", "a", "--mkfs", "--monmap", str(monmap),
         "--keyring", str(mon_keyring)],
        log_file=setup_log, timeout=60,
    )


def _create_osd(cdir: Path, conf: Path, setup_log: Path) -> None:
    osd_uuid = str(uuid.uuid4())
    osd_id = run_tool(
        ["ceph", "-c", str(conf), "--connect-timeout", "30", "osd", "new", osd_uuid],
        log_file=setup_log, timeout=60,
    ).strip()
    if osd_id != "0":
        raise DevStackError(f"the new OSD got id {osd_id!r} instead of 0; delete {cdir}")
    (cdir / "osd").mkdir()
    run_tool(
        ["ceph-osd", "-c", str(conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid],
        log_file=setup_log, timeout=120,
    )


def _configure_rgw(conf: Path, setup_log: Path) -> None:
    """Create the dev S3 user, then the STANDARD_IA and GLACIER storage classes.

    The classes are added after the first `radosgw-admin user create`, which is what
    creates the default zone and zonegroup they belong to; each gets its own data pool.
    """
    admin = ["radosgw-admin", "-c", str(conf)]
    run_tool(
        [*admin, "user", "create", "--uid", "thermocline", "--display-name", "Thermocline dev",
         "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY],
        log_file=setup_log, timeout=180,
    )
    for storage_class in ("STANDARD_IA", "GLACIER"):
        pool = f"default.rgw.{storage_class.lower().replace('_', '-')}.data"
        placement = ["--placement-id", "default-placement", "--storage-class", storage_class]
        run_tool(
            [*admin, "zonegroup", "placement", "add", "--rgw-zonegroup", "default", *placement],
            log_file=setup_log, timeout=60,
        )
        run_tool(
            [*admin, "zone", "placement", "add", "--rgw-zone", "default", *placement,
             "--data-pool", pool],
            log_file=setup_log, timeout=60,
        )


def start(s3_dir: Path, port: int, log: Log) -> S3Info:
    """Start (creating it on first use) the Ceph cluster and RGW on 127.0.0.1:``port``.

    An existing cluster is reused with its data. One whose bootstrap never finished is
    wiped and created again. On failure, the daemons started here are stopped.
    """
    cdir = s3_dir / "ceph"
    logs = s3_dir / "log"
    setup_log = logs / "ceph-setup.log"
    fresh = not (cdir / _READY).exists()
    if fresh and cdir.exists():
        log(f"the Ceph cluster in {cdir} was never fully set up; wiping it and starting over")
        shutil.rmtree(cdir)
    if fresh:
        log(f"creating a Ceph cluster in {cdir} (about 20 s)...")
    else:
        log(f"starting the Ceph cluster in {cdir}...")
    (cdir / "run").mkdir(parents=True, exist_ok=True)
    fsid_file = cdir / "fsid"
    if fresh:
        fsid_file.write_text(f"{uuid.uuid4()}\n")
    conf = cdir / "ceph.conf"
    conf.write_text(_conf(cdir, fsid_file.read_text().strip(), port))
    hint = (
        f"If it keeps failing, run `thermocline dev down` and delete {cdir} "
        "to start over with an empty cluster."
    )
    pids: list[int] = []
    try:
        if fresh:
            _create_keys_and_mon(cdir, conf, fsid_file.read_text().strip(), setup_log)
        mon = _daemon(s3_dir, "ceph-mon", ["-i", "a"], conf)
        pids.append(mon.pid)
        wait_until(lambda: port_answers(MON_PORT), what="ceph-mon", proc=mon,
                   log_file=logs / "ceph-mon.log", timeout=30, hint=hint)
        if fresh:
            _create_osd(cdir, conf, setup_log)
        osd = _daemon(s3_dir, "ceph-osd", ["-i", "0"], conf)
        pids.append(osd.pid)
        wait_until(lambda: _osd_up(conf), what="ceph-osd", proc=osd,
                   log_file=logs / "ceph-osd.log", timeout=90, hint=hint)
        if fresh:
            _configure_rgw(conf, setup_log)
        rgw = _daemon(s3_dir, "radosgw", ["-n", _RGW], conf)
        pids.append(rgw.pid)
        wait_until(lambda: http_answers(port), what="radosgw", proc=rgw,
                   log_file=logs / "radosgw.log", timeout=90, hint=hint)
        info = s3_info("ceph", port, tuple(pids))
        ensure_bucket(info)
    except BaseException:
        for daemon in reversed(DAEMONS):
            stop(s3_dir / f"{daemon}.pid")
        raise
    (cdir / _READY).touch()
    return info


def _daemon(s3_dir: Path, program: str, args: list[str], conf: Path) -> subprocess.Popen[bytes]:
    """Start a Ceph daemon in the foreground (``-d``: log to stderr, which goes to its log)."""
    return spawn(
        [program, "-c", str(conf), *args, "-d"],
        pid_file=s3_dir / f"{program}.pid",
        log_file=s3_dir / "log" / f"{program}.log",
        cwd=s3_dir,
    )
