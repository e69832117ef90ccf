"""Sending OpenLineage events without ever holding up a publish (DESIGN.md > Decision 13).

An :class:`Emitter` owns a bounded queue and one daemon thread. Callers hand it an event, or a
function that gathers the facts and returns events (so reading a table's schema or a commit's
inputs happens on that thread too); they never wait. The thread imports openlineage-python the
first time it has work, and sends through the client's transport the project file chose:
``console`` (stderr), ``file`` (one JSON-lines file per process in ``path``) or ``http``
(Marquez, DataHub). A receiver that fails costs one send of at most ``timeout_s`` (no retries);
then the emitter drops events for a while (``backoff_s``) and logs one warning, rather than
paying the timeout on every event. At exit it flushes for at most ``timeout_s`` + 2 s, so a
CLI's events reach a healthy receiver. ``off`` (the default) gives :data:`NO_EMITTER`, which
does nothing and imports nothing.

>>> emitter = emitter_for(catalog)        # doctest: +SKIP
>>> emitter.emit(event); emitter.flush(5.0)   # doctest: +SKIP
True
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from thermocline.catalog.config.lineage import OpenLineageConfig
from thermocline.datasets.openlineage.events import LineageEvent

__all__ = ["NO_EMITTER", "Emitter", "NullEmitter", "emitter_for", "emitter_of"]

log = logging.getLogger(__name__)

Work = LineageEvent | Callable[[], Iterable[LineageEvent]]
_CAPACITY = 1000  # events waiting; past that new ones are dropped (and counted)
_BACKOFF_S = 60.0
_EXIT_GRACE_S = 2.0
_NO_RETRY = {"total": 0, "read": 0, "connect": 0, "status": 0, "other": 0}


class NullEmitter:
    """Lineage export off: nothing is built, queued or sent."""

    enabled = False
    dropped = 0

    def emit(self, work: Work) -> None:
        pass

    def flush(self, timeout_s: float) -> bool:
        return True


NO_EMITTER = NullEmitter()


class Emitter:
    """A queue and a thread sending events through openlineage-python's client."""

    enabled = True

    def __init__(
        self,
        config: OpenLineageConfig,
        *,
        capacity: int = _CAPACITY,
        backoff_s: float = _BACKOFF_S,
    ) -> None:
        self.config = config
        self.capacity = capacity
        self.backoff_s = backoff_s
        self.dropped = 0
        self._lock = threading.Lock()
        self._pid = -1
        self._queue: queue.Queue[Work] = queue.Queue(capacity)
        self._paused_until = 0.0
        self._warned = False
        atexit.register(self._at_exit)

    # --- callers --------------------------------------------------------------------------

    def emit(self, work: Work) -> None:
        """Queue ``work`` (an event, or a function returning events); never blocks."""
        self._started()
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            self._drop(f"{self.capacity} events are waiting to be sent")

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is sent or dropped, at most ``timeout_s``; whether
        the queue drained."""
        deadline = time.monotonic() + timeout_s
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                done.wait(left)
        return True

    def _at_exit(self) -> None:
        if self._pid == os.getpid():
            self.flush(self.config.timeout_s + _EXIT_GRACE_S)

    def _started(self) -> None:
        """One thread per process (a forked child starts its own, with an empty queue)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue(self.capacity)
                thread = threading.Thread(target=self._loop, name="openlineage", daemon=True)
                thread.start()
                self._pid = os.getpid()

    # --- the thread -----------------------------------------------------------------------

    def _loop(self) -> None:
        jobs = self._queue
        client = None
        while True:
            work = jobs.get()
            try:
                if time.monotonic() < self._paused_until:
                    self.dropped += 1
                    continue
                events = [work] if isinstance(work, LineageEvent) else list(work())
                if client is None:
                    client = self._client()
                send = client.emit
                from thermocline.datasets.openlineage.convert import run_event

                for event in events:
                    send(run_event(event))
                self._warned = False
            except Exception as error:  # lineage never fails the process
                self._failed(error)
            finally:
                jobs.task_done()

    def _failed(self, error: Exception) -> None:
        self._paused_until = time.monotonic() + self.backoff_s
        self.dropped += 1
        if not self._warned:
            self._warned = True
            log.warning(
                "OpenLineage: could not send an event through transport %s (%s: %s); "
                "dropping events for %.0f s, publishing goes on",
                self.config.transport,
                type(error).__name__,
                error,
                self.backoff_s,
            )

    def _drop(self, why: str) -> None:
        self.dropped += 1
        if not self._warned:
            self._warned = True
            log.warning("OpenLineage: event dropped: %s", why)

    def _client(self) -> Any:
        from openlineage.client import OpenLineageClient

        return OpenLineageClient(transport=_transport(self.config))


def _transport(config: OpenLineageConfig) -> Any:
    if config.transport == "console":
        from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

        _console_to_stderr()
        return ConsoleTransport(ConsoleConfig())
    if config.transport == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        if "://" not in config.path:
            Path(config.path).mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = f"{config.path.rstrip('/')}/{stamp}-{os.getpid()}.jsonl"
        return FileTransport(FileConfig(log_file_path=path, append=True))
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    settings: dict[str, Any] = {
        "url": config.url,
        "endpoint": config.endpoint,
        "timeout": config.timeout_s,
        "retry": _NO_RETRY,
    }
    if config.api_key_env:
        key = os.environ.get(config.api_key_env)
        if key:
            settings["auth"] = {"type": "api_key", "apiKey": key}
        else:
            log.warning(
                "OpenLineage: %s is not set; sending to %s without an API key",
                config.api_key_env,
                config.url,
            )
    return HttpTransport(HttpConfig.from_dict(settings))


class _Stderr(logging.Handler):
    """The console transport logs each event at INFO; this writes it, alone, to stderr (the
    current ``sys.stderr``, so a redirect after start still applies)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(record.getMessage() + "\n")
        sys.stderr.flush()


def _console_to_stderr() -> None:
    logger = logging.getLogger("openlineage.client.transport.console")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr(logging.INFO))
    logger.setLevel(logging.INFO)
    logger.propagate = False


_EMITTERS: dict[str, Emitter] = {}
_EMITTERS_LOCK = threading.Lock()


def emitter_of(config: OpenLineageConfig | None) -> Emitter | NullEmitter:
    """The process's emitter for ``config`` (``path`` already absolute), or
    :data:`NO_EMITTER` when it is off or missing."""
    if config is None or config.transport == "off":
        return NO_EMITTER
    key = config.model_dump_json()
    with _EMITTERS_LOCK:
        found = _EMITTERS.get(key)
        if found is None:
            found = _EMITTERS[key] = Emitter(config)
        return found


def emitter_for(catalog: Any) -> Emitter | NullEmitter:
    """The emitter of ``catalog``'s lake: a lake made from a project file carries its
    ``lineage.openlineage``; any other lake exports nothing."""
    lake = getattr(catalog, "lake", catalog)
    return emitter_of(getattr(lake, "lineage", None))
