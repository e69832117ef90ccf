"""The contiguity of Kafka positions, without a broker: a micro-batch publishes only onto the
table position it continues from, and dead letters are never dropped on a lost race."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.errors import CommitConflictError
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest import dead_letters
from thermocline.datasets.ingest.dead_letters import (
    DEAD_LETTER_SCHEMA,
    dead_letter_table,
    publish_dead_letters,
)
from thermocline.datasets.ingest.kafka_topic import continues_from, kafka_app_id, table_positions
from thermocline.datasets.tables.staging import stage
from thermocline.datasets.tables.versions import read_dataset
from thermocline.datasets.tables.writes import publish

TOPIC = "events"


def test_each_batch_continues_where_the_one_before_it_ended() -> None:
    after: dict[int, int | None] = {0: None, 1: 41, 2: 7}
    expected, after = continues_from(after, {0: 9, 1: 57})
    assert expected == {0: None, 1: 41}
    assert after == {0: 9, 1: 57, 2: 7}
    expected, after = continues_from(after, {0: 12})
    assert expected == {0: 9}, "the next batch starts right after the last one's end"
    with pytest.raises(RuntimeError, match="never assigned"):
        continues_from(after, {3: 1})


def _publish_offsets(catalog: Catalog, after: int | None, last: int) -> int:
    """Publish partition 0's records after ``after`` up to ``last``, as the ingester does."""
    app = kafka_app_id(TOPIC, 0)
    first = 0 if after is None else after + 1
    rows = pa.table({"offset": pa.array(range(first, last + 1), pa.int64())})
    return publish(
        catalog,
        stage(catalog.lake, "events", rows),
        app_transactions={app: last},
        expected_positions={app: after},
        record_event=False,
    )


def test_a_batch_publishes_only_onto_the_position_it_continues(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    _publish_offsets(catalog, None, 9)
    with pytest.raises(CommitConflictError, match="moved from None to 9"):
        _publish_offsets(catalog, None, 14)  # overlaps 0..9 and ends later: refused whole
    with pytest.raises(CommitConflictError, match="moved from 12 to 9"):
        _publish_offsets(catalog, 12, 20)  # would leave 10..12 out
    with pytest.raises(CommitConflictError):
        _publish_offsets(catalog, 4, 9)  # inside what is published
    _publish_offsets(catalog, 9, 14)
    offsets = read_dataset(catalog, "events").to_table()["offset"].to_pylist()
    assert sorted(offsets) == list(range(15)), "every offset once, none skipped"
    assert table_positions(local_lake, "events", TOPIC, [0]) == {0: 14}


def _dead(*offsets: int) -> pa.Table:
    rows = [
        {"topic": TOPIC, "partition": 0, "offset": o, "raw": b"{", "error": "bad"} for o in offsets
    ]
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)


def _dead_offsets(lake: Lake) -> list[int]:
    table = read_dataset(Catalog(lake), dead_letter_table("events")).to_table()
    return sorted(table["offset"].to_pylist())


def test_a_dead_letter_publish_that_loses_a_race_rereads_and_drops_nothing(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rival publishes the dead letter at 50 between our read of the position and our
    commit; ours holds 50 and 150, so it must still publish 150 (and not 50 again)."""
    catalog = Catalog(local_lake)
    real = dead_letters.publish
    rivals = []

    def rival_first(*args: Any, **options: Any) -> int:
        if not rivals:
            staged = stage(local_lake, dead_letter_table("events"), _dead(50))
            app = kafka_app_id(TOPIC, 0)
            rivals.append(real(catalog, staged, app_transactions={app: 50}, record_event=False))
        return real(*args, **options)

    monkeypatch.setattr(dead_letters, "publish", rival_first)
    assert publish_dead_letters(catalog, "events", TOPIC, _dead(50, 150), {0: None}) == 1
    assert rivals, "the rival published first"
    assert _dead_offsets(local_lake) == [50, 150]
    positions = table_positions(local_lake, dead_letter_table("events"), TOPIC, [0])
    assert positions == {0: 150}


def test_dead_letters_of_a_stale_batch_are_refused_not_written(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    _publish_offsets(catalog, None, 99)  # another writer published offsets 0..99
    with pytest.raises(CommitConflictError, match="moved"):
        publish_dead_letters(catalog, "events", TOPIC, _dead(50), {0: None})
    assert table_positions(local_lake, dead_letter_table("events"), TOPIC, [0]) == {0: None}
    assert publish_dead_letters(catalog, "events", TOPIC, _dead(150), {0: 99}) == 1
    assert _dead_offsets(local_lake) == [150]
