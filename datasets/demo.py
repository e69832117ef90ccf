"""Synthetic demo data: taxi rides and ride events, deterministic for a given batch number.

Used by ``thermocline demo`` and tests: the generators are pure numpy and Arrow;
:func:`write_next_demo_batch` writes one batch file where the project's ``rides`` source looks
(with ``bad=True``, one whose rides partly come from a city outside :data:`DEMO_CITIES`, which
the demo's expectation suite refuses), :func:`demo_ride_events` makes the JSON payloads the demo
produces into Kafka.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from thermocline.catalog.config import FileSource, Project
from thermocline.catalog.errors import ConfigError

__all__ = [
    "DEMO_BAD_CITY",
    "DEMO_CITIES",
    "DEMO_DATASET",
    "DEMO_EVENTS_DATASET",
    "DEMO_PII_KEY",
    "demo_pii_key",
    "demo_ride_events",
    "demo_rides",
    "write_demo_rides_csv",
    "write_next_demo_batch",
]

DEMO_DATASET = "rides"
DEMO_EVENTS_DATASET = "ride_events"
_EVENT_KINDS = ("requested", "accepted", "started", "location", "finished")

DEMO_PII_KEY = "thermocline-demo-only-key: synthetic data, never for real personal data"
"""The HMAC key the demo hashes with when the project's key variable is not set. It is in the
source, so it protects nothing: real data needs a key of its own in the environment."""

DEMO_CITIES = ("amsterdam", "berlin", "lisbon", "oslo", "paris")
DEMO_BAD_CITY = "atlantis"
"""The city of a bad batch's broken rides: not in the suite's value set of ``city``."""
_BAD_SHARE = 0.02
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def demo_rides(batch: int, rows: int, *, bad: bool = False) -> pa.Table:
    """Rides of demo batch ``batch``: ride ids ``batch*rows ... batch*rows + rows - 1``. A
    ``bad`` batch has every 50th ride in :data:`DEMO_BAD_CITY` (2%; at least one)."""
    rng = np.random.default_rng(batch)
    ride_id = np.arange(batch * rows, (batch + 1) * rows, dtype=np.int64)
    start_us = int(_EPOCH.timestamp() * 1e6) + batch * 86_400_000_000
    started = start_us + np.sort(rng.integers(0, 86_400_000_000, rows))
    distance = np.round(rng.gamma(2.0, 2.5, rows), 2)
    fare = np.round(3.0 + distance * 1.8 + rng.normal(0, 1.0, rows).clip(-2, 5), 2)
    city = np.array(DEMO_CITIES, dtype=object)[rng.integers(0, len(DEMO_CITIES), rows)]
    if bad:
        city[:: int(1 / _BAD_SHARE)] = DEMO_BAD_CITY
    return pa.table(
        {
            "ride_id": ride_id,
            "started_at": pa.array(started, pa.timestamp("us", tz="UTC")),
            "day": pa.array(started // 86_400_000_000, pa.int32()).cast(pa.date32()),
            "city": pa.array(city, pa.string()),
            "distance_km": distance,
            "fare": fare,
            "rider_email": [f"rider{rid % 997}@example.com" for rid in ride_id],
        }
    )


def write_demo_rides_csv(folder: Path, rows: int = 5_000, *, bad: bool = False) -> Path:
    """Write the next demo batch as ``rides-NNNN.csv`` in ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    batch = len(list(folder.glob("rides-*.csv")))
    path = folder / f"rides-{batch:04d}.csv"
    pacsv.write_csv(demo_rides(batch, rows, bad=bad), path)
    return path


def write_next_demo_batch(project: Project, rows: int = 5_000, *, bad: bool = False) -> Path:
    """Write the next demo batch (``bad``: see :func:`demo_rides`) where the project's ``rides``
    file source looks."""
    spec = project.dataset(DEMO_DATASET)
    if not isinstance(spec.source, FileSource):
        raise ConfigError(f"datasets.{DEMO_DATASET}.source: the demo needs a `kind: files` source")
    folder = Path(project.resolve_url(spec.source.url)).parent
    return write_demo_rides_csv(folder, rows, bad=bad)


def demo_ride_events(batch: int, count: int, poison_every: int = 200) -> list[bytes]:
    """JSON payloads of demo batch ``batch``: event ids ``batch*count ...``; every
    ``poison_every``-th payload is malformed, to show where dead letters go."""
    rng = np.random.default_rng(batch)
    first = batch * count
    at_ms = (
        int(_EPOCH.timestamp() * 1000)
        + batch * 86_400_000
        + np.sort(rng.integers(0, 86_400_000, count))
    )
    kinds = rng.integers(0, len(_EVENT_KINDS), count)
    cities = rng.integers(0, len(DEMO_CITIES), count)
    speeds = np.round(rng.gamma(4.0, 6.0, count), 1)
    payloads = []
    for i in range(count):
        if poison_every and i % poison_every == poison_every - 1:
            payloads.append(b'{"event_id": ' + str(first + i).encode() + b', "kind": ')
            continue
        event = {
            "event_id": first + i,
            "ride_id": (first + i) // 5,
            "kind": _EVENT_KINDS[kinds[i]],
            "city": DEMO_CITIES[cities[i]],
            "at_ms": int(at_ms[i]),
            "speed_kmh": float(speeds[i]),
        }
        payloads.append(json.dumps(event).encode())
    return payloads


def demo_pii_key(project: Project) -> bool:
    """Set the project's PII key variable to :data:`DEMO_PII_KEY` when it is unset, so the
    demo and the dev UI hash ``rider_email`` on a fresh machine; True when it did.

    Only the dev commands (``thermocline demo``, ``thermocline ui up``) call this; ingestion
    anywhere else fails with one line naming the variable instead of falling back.
    """
    name = project.pii.hash_key_env
    if os.environ.get(name):
        return False
    os.environ[name] = DEMO_PII_KEY
    return True
