"""The Kafka ingester's three stages (consume; decode and check; stage and publish), one batch
each, in order, on their own threads, and the paused garbage collector they run under.
"""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from thermocline.catalog.errors import (
    CommitConflictError,
)

__all__ = ["COLLECT_EVERY_S", "Pipeline", "gc_paused"]

COLLECT_EVERY_S = 60.0  # the cyclic GC's pace while it is paused (see gc_paused)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC (process-wide; restored afterwards) while ingesting.

    A micro-batch holds up to ``max_records`` Message objects, which the GC tracks, and every
    collection traversed the batch in hand again: about 25 ms per 100k, holding the GIL
    (measured: 10 collections per 1M events at a 100k threshold). The loop collects every
    ``COLLECT_EVERY_S`` instead, over what it allocated since (the heap from before is
    frozen out of collections).
    """
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


_In = TypeVar("_In")  # a consumed batch
_Out = TypeVar("_Out")  # a decoded, checked batch


class Pipeline(Generic[_In, _Out]):
    """Two background threads, one batch deep each: the first decodes submitted batches, the
    second publishes them, in order.

    A commit conflict sets :attr:`conflicted`; the first error is kept and raised to the
    consuming thread. After either, every batch behind the failed one is dropped: publishing
    them would skip its records. Batches ahead of a failed decode are still published.
    """

    def __init__(self, decode: Callable[[_In], _Out], publish: Callable[[_Out], None]) -> None:
        self._decoding: queue.Queue[_In | None] = queue.Queue(maxsize=1)
        self._publishing: queue.Queue[_Out | None] = queue.Queue(maxsize=1)
        self.conflicted = threading.Event()
        self.error: BaseException | None = None  # the first, raised on the consuming thread
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(self._decoding, decode, self._publishing),
                name="thermocline-decode",
                daemon=True,
            ),
            threading.Thread(
                target=self._loop,
                args=(self._publishing, publish, None),
                name="thermocline-publish",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, batch: _In) -> None:
        self.raise_error()
        self._decoding.put(batch)

    def wait(self) -> None:
        """Until every submitted batch is published or dropped."""
        self._decoding.join()  # a decoded batch is queued for publishing before this returns
        self._publishing.join()
        self.raise_error()

    def close(self) -> None:
        self._decoding.put(None)  # passed on to the publishing thread
        for thread in self._threads:
            thread.join()

    def raise_error(self) -> None:
        """Raise what failed a decode or publish, if anything did."""
        if self.error is not None:
            raise self.error

    def _loop(
        self,
        inbox: queue.Queue[Any],
        work: Callable[[Any], Any],
        outbox: queue.Queue[Any] | None,
    ) -> None:
        failed = False  # this stage failed: what follows in its inbox is behind the failure
        while True:
            item = inbox.get()
            try:
                if item is None:
                    if outbox is not None:
                        outbox.put(None)
                    return
                # The decoding stage also stops when a later stage failed (nothing it decodes
                # would be published); the publishing stage gets only batches decoded in time.
                later_failed = outbox is not None and self.error is not None
                if not (failed or later_failed or self.conflicted.is_set()):
                    result = work(item)
                    if outbox is not None:
                        outbox.put(result)
            except CommitConflictError:
                self.conflicted.set()
            except BaseException as error:  # handed to the consuming thread
                failed = True
                if self.error is None:
                    self.error = error
            finally:
                item = result = None  # hold no batch while waiting for the next one
                inbox.task_done()
