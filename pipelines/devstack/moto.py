"""moto_server, the S3 fallback for machines where Ceph cannot be installed.

It keeps objects in memory only (gone after ``down``) and imitates S3 less faithfully than
Ceph RGW, which is why it is never chosen silently.
"""

from __future__ import annotations

import shutil
import sys
from functools import partial
from pathlib import Path

from thermocline.catalog.errors import DevStackError

from .info import S3Info
from .processes import spawn, wait_until
from .s3 import ensure_bucket, http_answers, s3_info

__all__ = ["start"]


def _moto_server() -> str:
    """moto_server from this interpreter's environment first, then from PATH."""
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    found = found or shutil.which("moto_server")
    if found is None:
        raise DevStackError(
            "moto_server is not installed; install the dev extras: pip install -e '.[dev]'"
        )
    return found


def start(s3_dir: Path, port: int) -> S3Info:
    """Start moto_server on 127.0.0.1:``port`` and create the dev bucket."""
    s3_dir.mkdir(parents=True, exist_ok=True)
    log_file = s3_dir / "log" / "moto_server.log"
    argv = [_moto_server(), "-H", "127.0.0.1", "-p", str(port)]
    pid = spawn(argv, pid_file=s3_dir / "moto_server.pid", log_file=log_file)
    wait_until(
        partial(http_answers, port), what="moto_server", pid=pid, log_file=log_file, timeout=30
    )
    info = s3_info("moto", port, (pid,))
    ensure_bucket(info)
    return info
