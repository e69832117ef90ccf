"""Dead letters: records that did not decode or fit the schema, kept with their raw bytes.

They live in the table ``_dead_letters/<dataset>`` (raw bytes, error, topic, partition, offset,
timestamp, key; when the dataset's PII policy is active the raw bytes are sealed and a redacted
preview kept, see :mod:`.sealing`), published with their own per-partition app
transactions, so good + dead = consumed, exactly.

A micro-batch publishes its dead letters just before its rows, and only while it continues the
dataset table's positions (see :mod:`.kafka`): the table's position on a partition means every
dead letter at or below it is in. The dead-letter table's own position on a partition is the
last dead letter it holds, and every dead letter at or below it is in too, so a batch writes
exactly its dead letters past that position. The publish is a compare-and-swap on it: when
another writer moved it first, the position is read again and what is still past it is
written; a record is skipped only once it has been seen published, never dropped on a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Message

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.errors import CommitConflictError
from thermocline.datasets.ingest.kafka_topic import kafka_app_id, table_positions
from thermocline.datasets.ingest.sealing import Sealer, aad_of
from thermocline.datasets.tables.staging import discard, stage
from thermocline.datasets.tables.writes import publish

__all__ = [
    "DEAD_LETTERS_DIR",
    "DEAD_LETTER_SCHEMA",
    "dead_letter_rows",
    "dead_letter_table",
    "publish_dead_letters",
]


DEAD_LETTERS_DIR = "_dead_letters"
DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("key", pa.binary()),
        ("raw", pa.binary()),
        ("error", pa.string()),
        ("sealed", pa.bool_()),  # raw is encrypted (see .sealing); None: written before sealing
        ("preview", pa.string()),  # the payload as text, PII redacted (sealed rows only)
    ]
)
_ATTEMPTS = 20  # each lost race means another writer published; a busy table is not stuck


def dead_letter_table(dataset: str) -> str:
    """The table (path under the lake) that holds ``dataset``'s dead letters."""
    return f"{DEAD_LETTERS_DIR}/{dataset}"


def dead_letter_rows(
    messages: list[Message], failures: list[tuple[int, str]], sealer: Sealer | None = None
) -> pa.Table:
    """The dead-letter rows of ``failures`` (message index, error); with a ``sealer`` (the
    dataset's PII policy is active) the raw payloads are sealed and previews redacted."""
    rows: list[dict[str, Any]] = []
    for index, error in failures:
        message = messages[index]
        _, millis = message.timestamp()
        rows.append(
            {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "timestamp": millis,
                "key": message.key(),
                "raw": message.value(),
                "error": error,
                "sealed": False,
            }
        )
    if sealer is not None and rows:
        raw = [row["raw"] for row in rows]
        aad = [aad_of(r["topic"], r["partition"], r["offset"]) for r in rows]
        for row, sealed, preview in zip(
            rows, sealer.seal(raw, aad), sealer.previews(raw).to_pylist(), strict=True
        ):
            row.update(raw=sealed, sealed=True, preview=preview)
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)


def publish_dead_letters(
    catalog: Catalog,
    dataset: str,
    topic: str,
    dead: pa.Table,
    after: Mapping[int, int | None],
) -> int:
    """Publish the dead letters (:data:`DEAD_LETTER_SCHEMA` rows) of a micro-batch that holds
    each partition's records past ``after`` (the dataset table's positions it continues);
    return how many were new.

    Raises :class:`CommitConflictError` when the dataset table has moved past ``after``: the
    batch is stale (another writer published these records and their dead letters), so it must
    be dropped and the partitions read again from the table.
    """
    if dead.num_rows == 0:
        return 0
    lake = lake_of(catalog)
    table = dead_letter_table(dataset)
    partitions = sorted(set(dead["partition"].to_pylist()))
    for _ in range(_ATTEMPTS):
        published = table_positions(lake, dataset, topic, partitions)
        moved = {
            p: (after.get(p), published[p]) for p in partitions if published[p] != after.get(p)
        }
        if moved:
            raise CommitConflictError(
                f"{dataset}: partitions {moved} moved (batch start, table) since this batch was "
                "read: another writer published these records; read them again from the table"
            )
        done = table_positions(lake, table, topic, partitions)
        fresh = dead.filter(_past(dead, done))
        if fresh.num_rows == 0:
            return 0
        last = fresh.group_by("partition").aggregate([("offset", "max")]).to_pylist()
        apps = {kafka_app_id(topic, row["partition"]): row["offset_max"] for row in last}
        expected = {kafka_app_id(topic, row["partition"]): done[row["partition"]] for row in last}
        staged = stage(lake, table, fresh)
        try:
            publish(
                catalog,
                staged,
                app_transactions=apps,
                expected_positions=expected,
                reason=f"dead letters from kafka {topic}",
                record_event=False,
            )
        except CommitConflictError:  # another writer published dead letters: see which
            discard(lake, staged)
            continue
        return int(fresh.num_rows)
    raise CommitConflictError(
        f"{table}: lost {_ATTEMPTS} races in a row to publish dead letters; read them again"
    )


def _past(dead: pa.Table, done: Mapping[int, int | None]) -> pa.ChunkedArray:
    """Which dead letters lie past their partition's position in ``done`` (None: all)."""
    floor = [_or_minus_one(done.get(p)) for p in dead["partition"].to_pylist()]
    return pc.greater(dead["offset"], pa.array(floor, pa.int64()))


def _or_minus_one(position: int | None) -> int:
    return -1 if position is None else position
