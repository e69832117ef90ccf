"""Background processes tracked by PID files, and waiting for them to answer.

Services are started in their own session so they outlive the caller and never get its
Ctrl-C. They are only ever stopped by the PID we recorded, never by name: a developer may
run other Ceph or Kafka processes on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from thermocline.catalog.errors import DevStackError

__all__ = [
    "log_tail",
    "port_answers",
    "run_tool",
    "running_pid",
    "spawn",
    "stop",
    "wait_until",
]


def log_tail(path: Path, lines: int = 25) -> str:
    """The end of a log file, for error messages; empty when there is no log yet."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def _pid_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process, reaping it first if it is our child.

    A zombie counts as dead: in containers, PID 1 may take seconds to reap orphans.
    """
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:  # no /proc (macOS), or it exited since os.kill: the next call will tell
        return True
    return state != "Z"


def running_pid(pid_file: Path) -> int | None:
    """The PID in ``pid_file`` if it still runs the program the file is named after.

    The program check (Linux only) keeps a PID that was reused after a reboot from being
    mistaken for our service, and so from being killed by ``down``.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _pid_exists(pid):
        return None
    if not Path("/proc").is_dir():  # no /proc (macOS): trust the PID
        return pid
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # The program, or the script or module (`python -m pkg.program`) an interpreter runs.
    names = {os.path.basename(arg.decode(errors="replace")) for arg in argv[:3]}
    return pid if pid_file.stem in names | {n.rsplit(".", 1)[-1] for n in names} else None


def spawn(
    argv: list[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start ``argv`` in a new session, output appended to ``log_file``; returns its PID.

    ``pid_file`` must be named after the program (``argv[0]``'s file name) so that
    :func:`running_pid` can recognise it later. posix_spawn rather than Popen: a Popen
    object of a process meant to outlive it warns "subprocess ... is still running".
    Python's own file descriptors are not inheritable, so the child gets only 0, 1 and 2.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        try:
            pid = os.posix_spawnp(
                argv[0],
                argv,
                dict(os.environ if env is None else env),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
                ],
                setsid=True,
                # Python ignores SIGPIPE and SIGXFSZ, a non-interactive shell SIGINT and SIGTERM:
                # the service gets default handling of all of them, so `down` can stop it.
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
            )
        except OSError as exc:
            raise DevStackError(f"could not start {argv[0]}: {exc}") from exc
    _wait_for_exec(pid, argv)
    pid_file.write_text(f"{pid}\n")
    return pid


def _wait_for_exec(pid: int, argv: list[str], timeout: float = 2.0) -> None:
    """Until /proc shows ``argv`` as the child's command line (at most ``timeout``).

    posix_spawn returns once the child has begun exec, but for a moment /proc/PID/cmdline
    still shows the parent's arguments, then none, before the new ones: :func:`running_pid`
    would not recognise the service then (seen once, on a loaded machine).
    """
    cmdline = Path(f"/proc/{pid}/cmdline")
    wanted = [arg.encode() for arg in argv]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cmdline.read_bytes().split(b"\0")[: len(wanted)] == wanted:
                return
        except OSError:  # no /proc (macOS), or the child already exited: nothing to wait for
            return
        time.sleep(0.001)


def stop(pid_file: Path, timeout: float = 30.0) -> int | None:
    """Stop the process recorded in ``pid_file`` (SIGTERM, then SIGKILL) and remove the file.

    Returns the PID it stopped, or None when the file was missing or stale.
    """
    pid = running_pid(pid_file)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_exists(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _pid_exists(pid):
                time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return pid


def port_answers(port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    pid: int,
    log_file: Path,
    timeout: float,
    hint: str = "Run `thermocline dev down` and try again.",
) -> None:
    """Poll ``ready`` until it holds; fail early if process ``pid`` exits, with the log's tail."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not _pid_exists(pid):
            problem = "exited"
        elif time.monotonic() > deadline:
            problem = f"was not ready after {timeout:.0f} s"
        else:
            time.sleep(0.1)
            continue
        raise DevStackError(
            f"{what} {problem}; see {log_file}. {hint}"
            f"\n--- last lines of {log_file} ---\n{log_tail(log_file)}"
        )


def run_tool(
    argv: Sequence[str],
    *,
    log_file: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a short setup command, append its output to ``log_file`` and return its stdout."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DevStackError(
            f"`{' '.join(argv)}` did not finish within {timeout:.0f} s; see {log_file}"
        ) from exc
    except OSError as exc:
        raise DevStackError(f"could not run {argv[0]}: {exc}") from exc
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise DevStackError(
            f"`{' '.join(argv)}` failed with status {done.returncode}; see {log_file}"
            f"\n--- last lines of {log_file} ---\n{log_tail(log_file)}"
        )
    return done.stdout
