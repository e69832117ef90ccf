"""What the Dagster UI's asset catalog shows of a dataset so that a person can find it: the
column schema with each column's PII class and review state as column tags, asset tags for the
source kind, the PII classes present and the column names, and a derived dataset's column
lineage.

Dagster OSS's catalog search (1.13) filters by ``owner:``, ``tag:``, ``kind:`` and ``group:``;
``column:`` and ``column_tag:`` parse but only Dagster+ resolves them. So besides the column
tags (what ``column_tag:pii_class=email`` finds in Dagster+, and what the asset's Columns
table shows everywhere), each dataset carries one asset tag per PII class (``tag:pii/email``)
and per column (``tag:column/rider_email``), which the OSS search does find. Tag keys and
values keep to Dagster's characters (``[A-Za-z0-9_.-]``, at most 63 per part):
:func:`tag_part` replaces the others by ``_``.

>>> tag_part("rider e-mail")
'rider_e-mail'
>>> lineage = column_lineage_metadata({"fare_eur": [("rides", "fare")]})[COLUMN_LINEAGE]
>>> [(d.asset_key.path, d.column_name) for d in lineage.deps_by_column["fare_eur"]]
[(['rides'], 'fare')]
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from thermocline.catalog.classifications import NOT_PII, Classification

__all__ = [
    "COLUMN_LINEAGE",
    "COLUMN_SCHEMA",
    "ColumnLineage",
    "asset_tags",
    "column_lineage_metadata",
    "column_schema",
    "tag_part",
]

COLUMN_SCHEMA = "dagster/column_schema"
COLUMN_LINEAGE = "dagster/column_lineage"

_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_TAG_MAX = 63

ColumnLineage = Mapping[str, Sequence[tuple[str, str]]]
"""Output column -> the (dataset, column) pairs it is computed from."""


def tag_part(text: str) -> str:
    """``text`` as one part of a Dagster tag key or value: other characters become ``_``,
    cut to 63 characters."""
    return _TAG_CHARS.sub("_", text)[:_TAG_MAX]


def column_tags(found: Classification | None) -> dict[str, str]:
    """The column tags of one column's current classification: ``pii_class`` (``none`` when a
    scan found nothing or a person rejected the finding), ``pii_review`` and, when a policy
    applied, ``pii_action``. No tags for a column never scanned."""
    if found is None:
        return {}
    tags = {
        "pii_class": tag_part(found.pii_class if found.is_pii else NOT_PII),
        "pii_review": tag_part(found.review),
    }
    if found.action:
        tags["pii_action"] = tag_part(found.action)
    return tags


def column_description(found: Classification | None, sources: Sequence[tuple[str, str]]) -> str:
    """What is known of a column beyond its type: its PII finding and, for a derived column,
    the input columns it comes from."""
    parts = []
    if found is not None and found.is_pii:
        stored = found.action or "in clear"
        parts.append(f"PII: {found.pii_class} ({stored}; {found.review})")
    if sources:
        parts.append("from " + ", ".join(f"{d}.{c}" for d, c in sources))
    return "; ".join(parts)


def column_schema(
    schema: pa.Schema,
    classified: Mapping[str, Classification],
    lineage: ColumnLineage | None = None,
) -> dg.TableSchema:
    """``dagster/column_schema`` of a table: every column with its type, PII tags and
    description."""
    columns = []
    for field in schema:
        found = classified.get(field.name)
        sources = (lineage or {}).get(field.name, ())
        columns.append(
            dg.TableColumn(
                field.name,
                str(field.type),
                description=column_description(found, sources) or None,
                tags=column_tags(found),
            )
        )
    return dg.TableSchema(columns=columns)


def asset_tags(
    source_kind: str, columns: Sequence[str], classified: Mapping[str, Classification]
) -> dict[str, str]:
    """The asset tags that the OSS catalog search finds a dataset by: its source kind
    (``thermocline/source``), each PII class its columns hold (``pii/<class>``) and each
    column (``column/<name>``)."""
    tags = {"thermocline/source": tag_part(source_kind)}
    for found in sorted(classified.values(), key=lambda c: c.pii_class):
        if found.is_pii:
            tags[f"pii/{tag_part(found.pii_class)}"] = ""
    for column in columns:
        tags[f"column/{tag_part(column)}"] = ""
    return tags


def column_lineage_metadata(lineage: ColumnLineage | None) -> dict[str, Any]:
    """``{"dagster/column_lineage": ...}`` of a derived dataset's column lineage (what
    ``derived_columns.column_lineage`` returns); nothing when it is unknown (None: a Python
    function, or SQL whose columns could not be traced)."""
    if not lineage:
        return {}
    deps = {
        column: [dg.TableColumnDep(asset_key=dg.AssetKey(d), column_name=c) for d, c in sources]
        for column, sources in lineage.items()
    }
    return {COLUMN_LINEAGE: dg.TableColumnLineage(deps_by_column=deps)}
