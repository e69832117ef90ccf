"""Erasure by key, what to erase: the datasets that hold the key column, and the value each
one stores for the subject (the typed value, or its HMAC hex for a ``hash`` column).

>>> found = erasure_targets(catalog, project, "rider_id", "42", None, key)  # doctest: +SKIP
>>> [t.dataset for t in found]                                            # doctest: +SKIP
['rides', 'trips']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import DatasetSpec, Project
from thermocline.catalog.errors import ConfigError, DatasetNotFoundError, InputError
from thermocline.datasets.tables.erasure_plan import hmac_hex, parse_value
from thermocline.datasets.tables.versions import open_table

__all__ = ["Target", "erasure_targets"]


@dataclass(frozen=True)
class Target:
    """One dataset to erase from, and what its ``column`` holds for the subject."""

    dataset: str
    column: str
    hashed: bool
    match: pa.Scalar  # what the table holds for the subject (typed value, or its HMAC hex)
    clear: tuple[Any, ...]  # the values a quarantined or dead-letter copy may hold


def erasure_targets(
    catalog: Catalog,
    project: Project,
    column: str,
    value: str,
    datasets: Sequence[str] | None,
    key: bytes | None,
) -> list[Target]:
    """Every dataset of ``datasets`` (default: the project's and the catalog's) whose latest
    schema has ``column``; naming a dataset without it, or no dataset having it, is an error."""
    lake = lake_of(catalog)
    names = (
        list(datasets) if datasets else sorted(set(project.datasets) | set(catalog.registered()))
    )
    targets = []
    for name in names:
        try:
            schema = pa.schema(open_table(lake, name).schema().to_arrow())
        except DatasetNotFoundError:
            if datasets:
                raise
            continue
        if column not in schema.names:
            if datasets:
                raise InputError(
                    f"dataset {name} has no column {column!r}; its columns are "
                    f"{', '.join(schema.names)}",
                    field="--key",
                )
            continue
        targets.append(_target(project, catalog, name, column, value, schema.field(column), key))
    if not targets:
        raise InputError(
            f"no dataset has a column {column!r}; name a key column (see `thermocline describe "
            "DATASET`)",
            field="--key",
        )
    return targets


def _target(
    project: Project,
    catalog: Catalog,
    dataset: str,
    column: str,
    value: str,
    kind: pa.Field,
    key: bytes | None,
) -> Target:
    rule = _spec(project, catalog, dataset)
    hashed = rule is not None and (r := rule.pii.rule(column)) is not None and r.action == "hash"
    if not hashed:
        typed = parse_value(value, kind.type, column=f"{dataset}.{column}")
        return Target(dataset, column, False, typed, (typed.as_py(),))
    if key is None:
        raise ConfigError(
            f"{dataset}.{column} is hashed (pii: hash), so erasing by its value needs the "
            f"project's key; set {project.pii.hash_key_env}",
            field=project.pii.hash_key_env,
        )
    digest = hmac_hex(key, value)
    return Target(dataset, column, True, pa.scalar(digest, kind.type), (digest, value))


def _spec(project: Project, catalog: Catalog, dataset: str) -> DatasetSpec | None:
    if dataset in project.datasets:
        return project.datasets[dataset]
    snapshot = catalog.registered().get(dataset)
    try:
        return DatasetSpec.model_validate(snapshot) if snapshot else None
    except ValueError:
        return None
