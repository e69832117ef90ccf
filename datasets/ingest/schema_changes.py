"""What a batch changed in its table's schema, as the ``schema_drift`` check reads it
(:class:`~thermocline.quality.results.SchemaChanges`), taken from what schema evolution did.

Batch sources (files, SQL) conform each piece with :func:`.evolution.evolve_schema`; its
:class:`~.evolution.EvolvedBatch` says which columns were added, filled (a table column the
batch lacked: *removed*) and cast (a table column the batch brought in another type:
*retyped*, with both types). A Kafka batch is decoded into a schema that only grows (a record
without a field is a null, a record of another type is a dead letter), so its changes are the
columns it added. A table's first batch has nothing to compare with: None.

>>> import pyarrow as pa
>>> before = pa.schema([("id", pa.int64())])
>>> schema_changes(before, pa.schema([("id", pa.int64()), ("tip", pa.float64())]))
SchemaChanges(added={'tip': 'double'}, removed=(), retyped={})
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pyarrow as pa

from thermocline.catalog.commits import ADDED_COLUMNS_KEY
from thermocline.catalog.errors import SchemaEvolutionError
from thermocline.datasets.ingest.base import SourceBatch
from thermocline.datasets.ingest.evolution import EvolvedBatch, evolve_schema
from thermocline.quality.results import SchemaChanges

__all__ = ["conform_batch", "evolved_changes", "schema_changes"]


def schema_changes(before: pa.Schema | None, after: pa.Schema | None) -> SchemaChanges | None:
    """The columns ``after`` has and ``before`` lacks, with their types (None: no ``before``)."""
    if before is None or after is None:
        return None
    added = {f.name: str(f.type) for f in after if before.get_field_index(f.name) == -1}
    return SchemaChanges(added=added)


def evolved_changes(
    table: pa.Schema | None,
    pieces: Sequence[tuple[pa.Schema, EvolvedBatch]],
    merged: pa.Schema | None,
) -> SchemaChanges | None:
    """The changes of a batch conformed piece by piece (one source file each) to ``table``
    (None: the table's first batch): each piece as read (its schema) and as evolved; ``merged``
    is the schema the batch publishes with."""
    if table is None or merged is None:
        return None
    names = set(table.names)
    added = {f.name: str(f.type) for f in merged if f.name not in names}
    removed: dict[str, None] = {}
    retyped: dict[str, tuple[str, str]] = {}
    for read, evolved in pieces:
        removed.update((c, None) for c in evolved.filled if c in names)
        for column in evolved.cast:
            if column in names and column not in retyped:
                retyped[column] = (str(table.field(column).type), str(read.field(column).type))
    return SchemaChanges(added=added, removed=tuple(removed), retyped=retyped)


def conform_batch(
    raw: SourceBatch, table_schema: pa.Schema | None, declared: pa.Schema | None
) -> SourceBatch:
    """``raw`` (one piece, as a SQL or derived read gives) conformed to the table's schema, or
    to ``declared`` for a new table: the columns it adds are recorded in its commit metadata
    and, with what it removed or retyped, in its schema changes. A conflict raises
    :class:`SchemaEvolutionError` carrying ``raw``, so the caller can quarantine it."""
    try:
        evolved = evolve_schema(table_schema if table_schema is not None else declared, raw.data)
    except SchemaEvolutionError as error:
        error.batch = raw
        raise
    added = evolved.added if table_schema is not None else ()
    metadata = dict(raw.commit_metadata)
    if added:
        metadata[ADDED_COLUMNS_KEY] = json.dumps(list(added))
    changes = evolved_changes(table_schema, [(raw.data.schema, evolved)], evolved.schema)
    return replace(
        raw,
        data=evolved.data,
        commit_metadata=metadata,
        added_columns=added,
        schema_changes=changes,
    )
