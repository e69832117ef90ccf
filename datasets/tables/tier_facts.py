"""The facts a tier plan needs, read from a dataset's Delta log and the catalog's pins (IO).

:func:`tier_files` lists every data file that the latest version or a pinned version (a tag or
a release, the versions vacuum keeps: :meth:`Catalog.pins`) references, as the
:class:`~thermocline.datasets.tables.tier_plan.TierFile` values the pure planner takes; a file
the latest version dropped and no pin holds is not listed (vacuum's business). A file's age is
its first partition column's value when that parses as a date, else its add action's
modification time. :func:`plan_dataset` is the one entry point: facts, then the plan;
:func:`report_dataset` the same facts priced per tier.

Where files are now comes from the catalog's tier inventory (:func:`placements`), which
``tier apply`` records as it moves files; a file it never moved is hot.

>>> plan = plan_dataset(catalog, "rides", TieringPolicy(), now=datetime.now(UTC)) # doctest: +SKIP
>>> [(m.path, m.target) for m in plan.moves][:2]                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import TieringPolicy, TieringSettings
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.catalog.pinned_files import PinnedVersion
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.tier_plan import Placement, TierFile, TierPlan, plan_tiers
from thermocline.datasets.tables.tier_report import TierReport, cost_report
from thermocline.datasets.tables.versions import erased_by, erasures, open_table, storage_path

__all__ = ["placements", "plan_dataset", "report_dataset", "report_datasets", "tier_files"]


@dataclass(frozen=True)
class _Added:
    size_bytes: int
    age_basis: datetime
    age_from: str


def tier_files(catalog: Catalog, dataset: str) -> list[TierFile]:
    """Every data file of ``dataset`` that the latest version or a tag or release references,
    with its size, age basis and pins, in path order.

    A pinned version that an erasure made unreadable is left out: the erasure deleted some of
    its files, and tiering has nothing to do for a version nobody can read. Restore points are
    not pins here: they last a day, and archiving for them would pay early-deletion charges
    (vacuum still keeps their files). A pin past the log's reach is read from its recorded
    file list."""
    lake = lake_of(catalog)
    table = open_table(lake, dataset)
    latest = table.version()
    in_latest = _added(table)
    files = dict(in_latest)
    pinned: dict[str, list[str]] = {}
    broken = erasures(catalog, dataset)
    first = readable_from(lake, dataset)
    for version, names in sorted(catalog.pins(dataset, restore_points=False).items()):
        if erased_by(broken, version) is not None:
            continue
        listed = catalog.pinned_files.find(dataset, version) if version < first else None
        if version == latest:
            held = in_latest
        elif listed is not None:
            held = _listed(listed)
        else:
            held = _added(open_table(lake, dataset, version))
        for path, added in held.items():
            files.setdefault(path, added)
            pinned.setdefault(path, []).extend(names)
    return [
        TierFile(
            path,
            added.size_bytes,
            added.age_basis,
            in_latest=path in in_latest,
            pinned_by=tuple(pinned.get(path, ())),
            age_from="partition" if added.age_from == "partition" else "added",
        )
        for path, added in sorted(files.items())
    ]


def plan_dataset(
    catalog: Catalog,
    dataset: str,
    policy: TieringPolicy,
    *,
    now: datetime,
    current: Mapping[str, Placement] | None = None,
) -> TierPlan:
    """The tier plan of ``dataset`` at ``now`` under ``policy``: :func:`tier_files` and where
    they are (``current``, default :func:`placements`) into
    :func:`~thermocline.datasets.tables.tier_plan.plan_tiers`. Reads only."""
    where = placements(catalog, dataset) if current is None else current
    return plan_tiers(tier_files(catalog, dataset), policy, now, where)


def report_dataset(catalog: Catalog, dataset: str, settings: TieringSettings) -> TierReport:
    """The cost report of ``dataset`` as its files are placed now: :func:`tier_files` in the
    tier :func:`placements` says (hot when the inventory never moved them), priced by
    ``settings`` (:func:`~thermocline.datasets.tables.tier_report.cost_report`). Reads only."""
    where = placements(catalog, dataset)
    return cost_report(
        dataset,
        (
            (where[f.path].tier if f.path in where else "hot", f.size_bytes)
            for f in tier_files(catalog, dataset)
        ),
        settings,
    )


def report_datasets(
    catalog: Catalog, names: Iterable[str], settings: TieringSettings
) -> list[TierReport]:
    """The report of each dataset of ``names`` and of the catalog's registry that has a table,
    in name order (a declared dataset nothing was written to yet has no files to report)."""
    reports = []
    for name in sorted(set(names) | set(catalog.registered())):
        try:
            reports.append(report_dataset(catalog, name, settings))
        except DatasetNotFoundError:
            continue
    return reports


def placements(catalog: Catalog, dataset: str) -> dict[str, Placement]:
    """Path -> tier and since when, of every file the tier inventory has moved. A move a crash
    interrupted counts where it was going when that is archive (readers already refuse it)."""
    found = {}
    for path, placed in catalog.tiers.placements(dataset).items():
        if placed.pending == "archive":
            found[path] = Placement("archive", None)
        else:
            found[path] = Placement(placed.tier, placed.since)
    return found


def _added(table: DeltaTable) -> dict[str, _Added]:
    """Path (as storage holds it) -> size and age basis of each file a table version's add
    actions list."""
    actions = pa.table(table.get_add_actions(flatten=False))
    columns = table.metadata().partition_columns
    partitions = (
        actions["partition"].to_pylist()
        if columns and "partition" in actions.column_names
        else [None] * actions.num_rows
    )
    found = {}
    for row, values in zip(
        actions.select(["path", "size_bytes", "modification_time"]).to_pylist(),
        partitions,
        strict=True,
    ):
        day = _as_date(values[columns[0]]) if values else None
        path = storage_path(row["path"])
        if day is not None:
            found[path] = _Added(row["size_bytes"], day, "partition")
        else:
            added = datetime.fromtimestamp(row["modification_time"] / 1000, tz=UTC)
            found[path] = _Added(row["size_bytes"], added, "added")
    return found


def _listed(pinned: PinnedVersion) -> dict[str, _Added]:
    """:func:`_added` of a version from its recorded file list (a pin past the log)."""
    found = {}
    for entry in pinned.files:
        values = entry.get("partition_values") or {}
        day = _as_date(values.get(pinned.partition_by[0])) if pinned.partition_by else None
        if day is not None:
            found[entry["path"]] = _Added(entry["size"], day, "partition")
        else:
            added = datetime.fromtimestamp(entry["modification_time"] / 1000, tz=UTC)
            found[entry["path"]] = _Added(entry["size"], added, "added")
    return found


def _as_date(value: Any) -> datetime | None:
    """A partition value as a UTC time when it is (or reads as) a date, else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
