"""``thermocline ingest kafka`` as a long-lived service: consume a topic until told to stop.

A service, not a Dagster run: SIGTERM (a supervisor stopping it) and SIGINT (Ctrl-C) ask the
ingester to finish and publish the batch in hand, then return; each publish can be reported to
the project's Dagster instance so the UI shows the stream as it lands. Dagster is imported only
when reporting is on, so ``--no-dagster`` starts without it.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester

__all__ = ["StreamTotals", "serve_kafka"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class StreamTotals:
    """What a service run has published so far: for its progress line and its summary."""

    rows: int = 0
    dead: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, report: BatchReport) -> None:
        self.rows += report.published
        self.dead += report.dead
        self.batches += 1

    @property
    def rate(self) -> float:
        """Rows published per second since the service started."""
        return self.rows / max(time.monotonic() - self.started, 1e-9)


def serve_kafka(
    project: Project,
    catalog: Catalog,
    dataset: str,
    *,
    group_id: str | None = None,
    max_latency_s: float = 1.0,
    until_caught_up: bool = False,
    dagster: bool = True,
    on_batch: Callable[[BatchReport, StreamTotals], None] | None = None,
) -> StreamTotals:
    """Consume ``dataset``'s topic exactly once into its table until SIGTERM or SIGINT (or,
    with ``until_caught_up``, the end of every partition); ``on_batch`` sees each publish and
    the totals after it. The signal handlers are put back as they were on return.
    """
    reporting = _dagster_reporter(project, dataset) if dagster else contextlib.nullcontext(None)
    with reporting as to_dagster:
        totals = StreamTotals()  # the rate's clock starts once Dagster is imported and open

        def report(batch: BatchReport) -> None:
            if to_dagster is not None:
                to_dagster(batch)
            totals.add(batch)
            if on_batch is not None:
                on_batch(batch, totals)

        ingester = KafkaIngester(
            project,
            catalog,
            dataset,
            group_id=group_id,
            max_latency_s=max_latency_s,
            on_batch=report,
        )
        with _stop_on_signals(ingester.stop):
            ingester.run(until_caught_up=until_caught_up)
    return totals


@contextlib.contextmanager
def _dagster_reporter(
    project: Project, dataset: str
) -> Iterator[Callable[[BatchReport], None] | None]:
    from thermocline.pipelines.streaming import DagsterReporter
    from thermocline.pipelines.ui import dagster_instance

    with dagster_instance(project) as instance:
        yield DagsterReporter(instance, dataset)


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    previous: dict[signal.Signals, Any] = {}
    for stop_signal in _STOP_SIGNALS:
        previous[stop_signal] = signal.signal(stop_signal, handler)
    try:
        yield
    finally:
        for stop_signal, old in previous.items():
            signal.signal(stop_signal, old)
