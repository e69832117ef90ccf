"""``thermocline search``: find datasets by name, description, column, owner, tag or PII class.

:func:`search_records` gathers what is known of every dataset, those the project declares and
those the catalog's registry still knows (written once, since dropped from the project file):
the spec's description and owners (the project's, else the latest registered snapshot), the
columns of the table's latest schema (the declared schema while there is no table yet), the
dataset's catalog tags, and the PII class of each column from the catalog's classifications
(detected or confirmed; a rejected finding is no class). :func:`search` ranks them with
:func:`~thermocline.datasets.tables.search_rank.rank` (scoring explained there).

>>> hits = search(catalog, project.datasets, "email")            # doctest: +SKIP
>>> [(h.dataset, h.score) for h in hits]                         # doctest: +SKIP
[('rides', 30)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import DatasetNotFoundError
from thermocline.datasets.tables.search_rank import (
    DEFAULT_LIMIT,
    SearchHit,
    SearchRecord,
    check_query,
    rank,
)
from thermocline.datasets.tables.versions import open_table

__all__ = ["search", "search_records"]


def search(
    catalog: Catalog,
    specs: Mapping[str, DatasetSpec],
    text: str,
    limit: int = DEFAULT_LIMIT,
) -> list[SearchHit]:
    """The datasets of ``specs`` and of the catalog's registry that ``text`` finds, best
    first, at most ``limit``. Empty text or a limit under 1 is an
    :class:`~thermocline.catalog.errors.InputError`, raised before anything is read."""
    check_query(text, limit)
    return rank(search_records(catalog, specs), text, limit)


def search_records(catalog: Catalog, specs: Mapping[str, DatasetSpec]) -> list[SearchRecord]:
    """One :class:`SearchRecord` per dataset of ``specs`` and of the registry, by name."""
    lake = lake_of(catalog)
    registered = catalog.registered()
    tags: dict[str, list[str]] = {}
    for tag in catalog.tags():
        tags.setdefault(tag.dataset, []).append(tag.name)
    classified = catalog.pii.current_all()
    records = []
    for name in sorted(set(specs) | set(registered)):
        spec = _spec_fields(specs[name]) if name in specs else _snapshot_fields(registered[name])
        try:
            table = open_table(lake, name)
        except DatasetNotFoundError:
            columns, version = spec["schema"], None
        else:
            columns = pa.schema(table.schema().to_arrow()).names
            version = table.version()
        pii = {
            column: found.pii_class
            for column, found in classified.get(name, {}).items()
            if found.is_pii
        }
        records.append(
            SearchRecord(
                dataset=name,
                description=spec["description"],
                owners=tuple(spec["owners"]),
                tags=tuple(tags.get(name, ())),
                columns=tuple(columns),
                pii=pii,
                in_project=name in specs,
                version=version,
            )
        )
    return records


def _spec_fields(spec: DatasetSpec) -> dict[str, Any]:
    schema = spec.schema_ if isinstance(spec.schema_, dict) else {}
    return {"description": spec.description, "owners": spec.owners, "schema": list(schema)}


def _snapshot_fields(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The same fields from a registry snapshot (``spec.model_dump(by_alias=True)`` as JSON),
    tolerant of snapshots written before a field existed."""
    schema = snapshot.get("schema")
    return {
        "description": str(snapshot.get("description") or ""),
        "owners": [str(o) for o in snapshot.get("owners") or []],
        "schema": list(schema) if isinstance(schema, dict) else [],
    }
