"""Publishing: the one commit of write-audit-publish, quarantine, and the one-call writes.

:func:`publish` commits staged files with add actions that carry statistics (readers prune by
them), the source positions (app transactions) and commit metadata, all in one commit, checked
against the snapshot it commits from (DESIGN.md > Decisions 2 and 3). :func:`quarantine` moves a
rejected batch to ``<lake>/_quarantine/<dataset>/`` with its reasons. :func:`write` and
:func:`upsert` stage and publish in one call.

>>> staged = stage(lake, "rides", batch, partition_by=["day"])       # doctest: +SKIP
>>> publish(catalog, staged, reason="nightly load")                 # doctest: +SKIP
7
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Field, Schema, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from thermocline.catalog.catalog import Catalog, Event, current_user, lake_of
from thermocline.catalog.commits import (
    BATCH_KEY,
    FILE_COUNT_KEY,
    REASON_KEY,
    ROWS_KEY,
    ROWS_REMOVED_KEY,
    USER_KEY,
)
from thermocline.catalog.errors import CommitConflictError, InputError
from thermocline.datasets.tables.quarantine import QUARANTINE_DIR, QuarantinePart, quarantine_parts
from thermocline.datasets.tables.staging import StagedBatch, partition_value, stage
from thermocline.datasets.tables.versions import open_table

__all__ = [
    "QUARANTINE_DIR",
    "publish",
    "quarantine",
    "upsert",
    "write",
]


def publish(
    catalog: Catalog,
    staged: StagedBatch,
    *,
    mode: Literal["append", "overwrite"] = "append",
    reason: str | None = None,
    app_transactions: Mapping[str, int] | None = None,
    expected_positions: Mapping[str, int | None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    record_event: bool = True,
    replace: Literal["touched", "all"] | Sequence[str | None] = "touched",
) -> int:
    """Commit ``staged`` as one new version (creating the table on first publish); return it.

    ``app_transactions`` (app id -> version, e.g. ``kafka:topic:0`` -> last offset) ride in
    the same commit, so data and source positions can never disagree. ``expected_positions``
    (app id -> the version the batch's read saw, None for none) makes the publish a
    compare-and-swap: if any of them moved, another run consumed input this batch may also
    hold, and :class:`CommitConflictError` refuses it (discard the batch and read again).
    ``mode="overwrite"`` replaces the partitions the batch touches (the whole table when
    unpartitioned); ``replace`` widens that: ``"all"`` replaces the whole table, a list of
    values of the first partition column replaces those partitions too (emptied where the
    batch has no rows for them; an empty list and no rows replaces nothing).
    ``record_event=False`` leaves the catalog's event log out: streaming micro-batches (one a
    second) would swamp it, and the table's own history holds each of them.
    """
    lake = lake_of(catalog)
    uri = lake.table_uri(staged.dataset)
    options = lake.delta_storage_options()
    now = int(time.time() * 1000)
    actions = [
        AddAction(f.path, f.size, dict(f.partition_values), now, True, f.stats)
        for f in staged.files
    ]
    custom = {
        USER_KEY: current_user(),
        ROWS_KEY: staged.rows,
        FILE_COUNT_KEY: len(staged.files),
        BATCH_KEY: staged.batch_id,
        **dict(metadata or {}),
    }
    if reason:
        custom[REASON_KEY] = reason
    properties = CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(app, v) for app, v in (app_transactions or {}).items()],
    )
    try:
        table = DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        if any(v is not None for v in (expected_positions or {}).values()):
            raise CommitConflictError(
                f"{staged.dataset}: the table this batch was read against is gone; discard "
                "this batch and read the source again"
            ) from None
        # No commit retries: delta-rs would otherwise rebase a create that lost to a
        # concurrent create onto it as version 1, a second CREATE TABLE holding the same
        # source rows again (reproduced on the local lake and on RGW).
        creating = CommitProperties(
            custom_metadata=custom,
            max_commit_retries=0,
            app_transactions=[Transaction(app, v) for app, v in (app_transactions or {}).items()],
        )
        try:
            create_table_with_add_actions(
                uri,
                Schema.from_arrow(staged.schema),
                actions,
                partition_by=list(staged.partition_by) or None,
                storage_options=options,
                commit_properties=creating,
            )
        except DeltaError as error:  # another writer created the table first
            raise CommitConflictError(
                f"{staged.dataset}: another writer created the table at the same time ({error});"
                " discard this batch and read the source again"
            ) from error
        version = 0
    else:
        _check_partitioning(table, staged)
        _check_positions(table, staged.dataset, app_transactions or {}, expected_positions or {})
        _add_new_columns(table, staged.schema)
        filters = _partition_filters(staged, replace) if mode == "overwrite" else None
        if mode == "overwrite" and filters == []:
            mode = "append"  # replaces nothing: a commit of positions and metadata alone
        if mode == "overwrite":
            custom[ROWS_REMOVED_KEY] = _rows_replaced(table, staged, filters)
        changes: list[AddAction | RemoveAction] = [*actions]
        try:
            table.create_write_transaction(
                changes,
                mode,
                staged.schema,
                partition_by=list(staged.partition_by) or None,
                partition_filters=filters or None,
                commit_properties=properties,
            )
        except CommitFailedError as error:  # a rival moved one of our app transactions
            raise CommitConflictError(
                f"{staged.dataset}: another writer published the same source positions first "
                f"({error}); discard this batch and read the source again"
            ) from error
        table.update_incremental()
        version = table.version()
    if not record_event:
        return version
    catalog.record(
        Event(
            "publish",
            staged.dataset,
            version,
            reason,
            {
                "rows": staged.rows,
                "files": len(staged.files),
                "batch": staged.batch_id,
                "mode": mode,
            },
        )
    )
    return version


def quarantine(
    catalog: Catalog,
    staged: StagedBatch,
    reasons: list[str],
    source: Mapping[str, Any] | None = None,
) -> str:
    """Move the staged files to ``_quarantine/<dataset>/<batch>/`` with ``reasons.json``;
    return that folder's path under the lake root. Nothing is published. ``source`` says where
    the rows came from (e.g. Kafka offsets), for a later replay. A batch of several sources
    keeps each apart with :func:`~thermocline.datasets.tables.quarantine.quarantine_parts`."""
    name = ", ".join(f"{k}={v}" for k, v in (source or {}).items()) or "unknown source"
    part = QuarantinePart(name, staged, pa.table({}), (), dict(source or {}))
    return quarantine_parts(
        catalog,
        staged.dataset,
        [part],
        reasons,
        kind=str((source or {}).get("kind", "kafka" if source else "unknown")),
        batch_id=staged.batch_id,
        source=source,
    )


def write(
    catalog: Catalog,
    dataset: str,
    data: pa.Table,
    *,
    mode: Literal["append", "overwrite"] = "append",
    partition_by: list[str] | tuple[str, ...] | None = None,
    reason: str | None = None,
) -> int:
    """Stage and publish at once, for data that needs no audit; return the new version."""
    lake = lake_of(catalog)
    staged = stage(lake, dataset, data, partition_by=partition_by)
    return publish(catalog, staged, mode=mode, reason=reason)


def upsert(
    catalog: Catalog,
    dataset: str,
    data: pa.Table,
    primary_key: list[str],
    *,
    reason: str | None = None,
    app_transactions: Mapping[str, int] | None = None,
    expected_positions: Mapping[str, int | None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    record_event: bool = True,
) -> int:
    """Merge ``data`` by ``primary_key``: matching rows are updated, new ones inserted.

    One commit, like :func:`publish`: it carries ``app_transactions`` and ``metadata`` and is
    a compare-and-swap on ``expected_positions``; a rival commit that moved them, or added data
    the merge should have seen, raises :class:`CommitConflictError` (nothing is written).
    """
    lake = lake_of(catalog)
    if not primary_key:
        raise InputError(f"upsert into {dataset!r} needs a primary key; set `primary_key:`")
    missing = [c for c in primary_key if c not in data.column_names]
    if missing:
        raise InputError(f"primary key columns {missing} are not in the batch of {dataset!r}")
    keys = data.select(primary_key).group_by(primary_key).aggregate([])
    if keys.num_rows != data.num_rows:
        raise InputError(
            f"the batch for {dataset!r} repeats {data.num_rows - keys.num_rows} primary key(s) "
            f"{primary_key}; deduplicate it before the upsert"
        )
    table = open_table(lake, dataset)
    _check_positions(table, dataset, app_transactions or {}, expected_positions or {})
    _add_new_columns(table, data.schema)
    predicate = " AND ".join(f'target."{c}" = source."{c}"' for c in primary_key)
    custom = {
        USER_KEY: current_user(),
        ROWS_KEY: data.num_rows,
        **({REASON_KEY: reason} if reason else {}),
        **dict(metadata or {}),
    }
    properties = CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(app, v) for app, v in (app_transactions or {}).items()],
    )
    try:
        metrics = (
            table.merge(
                data,
                predicate,
                source_alias="source",
                target_alias="target",
                commit_properties=properties,
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    except CommitFailedError as error:  # a rival moved our app transactions or added data
        raise CommitConflictError(
            f"{dataset}: another writer committed while this batch was merged ({error}); "
            "discard this batch and read the source again"
        ) from error
    table.update_incremental()
    version = table.version()
    if record_event:
        catalog.record(
            Event(
                "publish",
                dataset,
                version,
                reason,
                {"rows": data.num_rows, "mode": "upsert", "metrics": metrics},
            )
        )
    return version


def _rows_replaced(
    table: DeltaTable, staged: StagedBatch, filters: list[tuple[str, str, Any]] | None
) -> int:
    """Rows an overwrite with ``filters`` removes (all rows when None)."""
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    return sum(
        a["num_records"] or 0
        for a in actions
        if filters is None
        or all(
            (partition_value(a[f"partition.{c}"]) in v)
            if op == "in"
            else partition_value(a[f"partition.{c}"]) == v
            for c, op, v in filters
        )
    )


def _check_partitioning(table: DeltaTable, staged: StagedBatch) -> None:
    expected = list(table.metadata().partition_columns)
    if list(staged.partition_by) != expected:
        raise InputError(
            f"{staged.dataset} is partitioned by {expected}, the batch was staged by "
            f"{list(staged.partition_by)}; stage it again with partition_by={expected}"
        )


def _check_positions(
    table: DeltaTable,
    dataset: str,
    positions: Mapping[str, int],
    expected: Mapping[str, int | None],
) -> None:
    """Refuse source positions the table has reached already, and a batch read against
    positions that have moved since: either way another run published input this batch may
    also hold (a listing that overlaps one already published). The commit is made from this same
    snapshot, so a rival that commits after this check makes delta-rs reject ours."""
    for app, saw in expected.items():
        have = table.transaction_version(app)
        if have != saw:
            raise CommitConflictError(
                f"{dataset}: source position {app} moved from {saw} to {have} since this batch "
                "was read: another run published this input first. Discard this batch and "
                "read the source again"
            )
    for app, wanted in positions.items():
        have = table.transaction_version(app)
        if have is not None and have >= wanted:
            raise CommitConflictError(
                f"{dataset}: source position {app} is at {have} already and this batch would "
                f"set {wanted}: another run published this input first. Discard this batch and "
                "read the source again"
            )


def _add_new_columns(table: DeltaTable, schema: pa.Schema) -> None:
    """Add the batch's columns the table lacks (nullable; older rows read as null).

    An append commit carries no schema change in delta-rs 1.6.6, so this is a commit of its
    own just before the data; a crash in between leaves an all-null column that the retry
    finds already there.
    """
    known = {f.name for f in pa.schema(table.schema().to_arrow())}
    new = [Field.from_arrow(f.with_nullable(True)) for f in schema if f.name not in known]
    if new:
        table.alter.add_columns(
            new,
            commit_properties=CommitProperties(custom_metadata={USER_KEY: current_user()}),
        )


def _partition_filters(
    staged: StagedBatch, replace: Literal["touched", "all"] | Sequence[str | None] = "touched"
) -> list[tuple[str, str, Any]] | None:
    """Filters matching exactly the partitions an overwrite replaces (None: the whole table;
    []: none)."""
    if not staged.partition_by or replace == "all":
        return None
    combos = {tuple(f.partition_values[c] for c in staged.partition_by) for f in staged.files}
    if not isinstance(replace, str):
        first = staged.partition_by[0]
        values = {c[0] for c in combos} | set(replace)
        if None in values:
            raise InputError(
                f"{staged.dataset}: an overwrite cannot name the null partition of {first}; "
                "give the rows a value"
            )
        return [(first, "in", sorted(v for v in values if v is not None))] if values else []
    if len(staged.partition_by) == 1:
        return [(staged.partition_by[0], "in", sorted(c[0] for c in combos if c[0] is not None))]
    if len(combos) != 1:
        raise InputError(
            "overwriting several partitions over more than one partition column needs one "
            f"publish per partition; this batch touches {len(combos)}"
        )
    (combo,) = combos
    return [(c, "=", v) for c, v in zip(staged.partition_by, combo, strict=True)]
