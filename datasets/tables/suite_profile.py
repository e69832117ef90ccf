"""A starter Great Expectations suite for a dataset, profiled from a version of its table
(``thermocline quality suite init``): the pure profile is
:func:`~thermocline.quality.suites.profile.profile_suite`; this module reads the table and
writes the file.

The profile reads a bounded sample (the same one ``pii scan`` reads: the whole table when it
holds at most ``sample_rows`` rows, else row groups spread over up to 32 files), so a big table
costs a few row groups; ranges and value sets then describe the sample, which a person reviews.

>>> written = init_suite(catalog, "rides", Path("suites/rides.json"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.pii_scan import sample_table
from thermocline.datasets.tables.versions import (
    live_files,
    open_table,
    read_dataset,
    resolve_version,
)
from thermocline.quality.suites.profile import profile_suite

__all__ = ["DEFAULT_SAMPLE_ROWS", "SuiteInit", "init_suite"]

DEFAULT_SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class SuiteInit:
    """What :func:`init_suite` wrote: the file, the version profiled, rows read of rows there
    are, and how many expectations."""

    path: Path
    dataset: str
    version: int
    rows_read: int
    rows_total: int
    expectations: int


def init_suite(
    catalog: Catalog,
    dataset: str,
    output: Path,
    *,
    force: bool = False,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> SuiteInit:
    """Profile the latest version of ``dataset`` and write a starter suite to ``output``;
    refuses to overwrite an existing file unless ``force``."""
    if output.exists() and not force:
        raise InputError(
            f"{output} exists; pass --force to overwrite it or --output for another file",
            field="--output",
        )
    if sample_rows < 1:
        raise InputError(f"sample must be at least 1 row, not {sample_rows}", field="--sample")
    version = resolve_version(catalog, dataset, None)
    data = read_dataset(catalog, dataset, version)
    rows = {
        f["path"]: int(f["num_records"] or 0)
        for f in live_files(open_table(catalog.lake, dataset, version))
    }
    sample = sample_table(data, rows, sample_rows)
    suite = profile_suite(
        sample,
        dataset,
        meta={"dataset": dataset, "version": version, "total_rows": sum(rows.values())},
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(suite, indent=2, default=str) + "\n", encoding="utf-8")
    return SuiteInit(
        output,
        dataset,
        version,
        sample.num_rows,
        sum(rows.values()),
        len(suite["expectations"]),
    )
