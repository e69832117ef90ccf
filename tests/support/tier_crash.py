"""``tier apply`` in a child process, for the SIGKILL test: ``THERMOCLINE_FAULT`` (set by the
test) kills it at the chosen step, as a power cut or an OOM kill would.

Run: ``python tier_crash.py LAKE_URI DATASET NOW_ISO BATCH_SIZE`` with the lake's storage
options, the policy and the settings as JSON in ``TIER_CRASH_OPTIONS``, ``TIER_CRASH_POLICY``
and ``TIER_CRASH_SETTINGS``. Exits 0 when no fault stopped it.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import TieringPolicy, TieringSettings
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.tier_apply import apply_tiers

__all__ = ["main"]


def main(argv: list[str]) -> None:
    uri, dataset, now, batch_size = argv
    lake = Lake.open(uri, json.loads(os.environ["TIER_CRASH_OPTIONS"]))
    apply_tiers(
        Catalog(lake),
        dataset,
        TieringPolicy.model_validate_json(os.environ["TIER_CRASH_POLICY"]),
        TieringSettings.model_validate_json(os.environ["TIER_CRASH_SETTINGS"]),
        now=datetime.fromisoformat(now),
        batch_size=int(batch_size),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
