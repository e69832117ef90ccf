"""``tier apply`` in a child process, for the SIGKILL test: ``THERMOCLINE_FAULT`` kills it at
the chosen step, as a power cut or an OOM kill would.

The children are forked by a multiprocessing fork server that imported Thermocline (pyarrow,
deltalake) once, so a life costs its work, not ~2.5 s of imports (see ``kafka_crash``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.context import ForkServerContext

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import TieringPolicy, TieringSettings
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables import tier_apply
from thermocline.datasets.tables.faults import FAULT_ENV

__all__ = ["apply_until_killed", "fork_server"]


def fork_server() -> ForkServerContext:
    """The fork-server context, with Thermocline's tiering loaded in the server before its
    first fork (a server started earlier by another test serves too)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["thermocline.catalog.lake", tier_apply.__name__])
    return context


def apply_until_killed(
    uri: str,
    options: Mapping[str, str],
    dataset: str,
    policy: TieringPolicy,
    settings: TieringSettings,
    now: datetime,
    batch_size: int,
    step: str,
) -> None:
    """``tier apply`` of ``dataset`` with ``THERMOCLINE_FAULT`` set to ``step``."""
    os.environ[FAULT_ENV] = step
    tier_apply.apply_tiers(
        Catalog(Lake.open(uri, options)),
        dataset,
        policy,
        settings,
        now=now,
        batch_size=batch_size,
    )
