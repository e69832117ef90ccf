"""A Kafka dataset's upkeep between its writer's commits, without a broker: when retention
turns fall due, that a failed one logs one warning and is retried on the next turn (a bug is
not swallowed), and that nightly maintenance leaves the retention for the next pass when its
properties commit loses a race with a writer adding a column. Real local lake; the turn's
clock is the test's, so that no test waits for time to pass."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, HistoryPolicy
from thermocline.catalog.errors import CommitConflictError
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest import stream_upkeep
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.stream_upkeep import (
    RETENTION_EVERY_S,
    StreamUpkeep,
    retain_stream,
    retention_every,
)
from thermocline.datasets.maintain import maintain
from thermocline.datasets.tables import retention
from thermocline.datasets.tables.log_reach import readable_from
from thermocline.datasets.tables.retention import apply_policy
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import write

DATASET = "clicks"
RETENTION_KEY = "delta.logRetentionDuration"


def kafka_spec(log_retention: str | None = None) -> DatasetSpec:
    history = {} if log_retention is None else {"log_retention": log_retention}
    return DatasetSpec.model_validate(
        {"source": {"kind": "kafka", "topic": "t"}, "history": history}
    )


def publish(catalog: Catalog, batch: int, **extra: list[str]) -> int:
    columns: dict[str, object] = {"id": pa.array([batch * 2, batch * 2 + 1], pa.int64())}
    columns.update(extra)
    return write(catalog, DATASET, pa.table(columns))


def age_log(lake: Lake) -> None:
    """Every log file an hour old (delta-rs's cleanup goes by modification time)."""
    old = time.time() - 3600
    for path in (Path(lake.uri) / DATASET / "_delta_log").glob("0*"):
        os.utime(path, (old, old))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == stream_upkeep.__name__]


def test_kafka_retention_defaults_to_15_minutes_and_turns_every_quarter(local_lake: Lake) -> None:
    assert HistoryPolicy().retention_seconds("kafka") == 900
    assert HistoryPolicy().retention_seconds("files") == 30 * 86400
    assert retention_every(86400) == RETENTION_EVERY_S == 3600
    assert retention_every(7 * 86400) == 3600
    assert retention_every(900) == 225, "a retention under 4 hours: a quarter of it"
    assert retention_every(2) == 0.5
    with pytest.raises(ValueError, match="at least 1s"):
        HistoryPolicy(log_retention="0.5s")  # Delta keeps whole seconds

    catalog = Catalog(local_lake)
    publish(catalog, 0)
    upkeep = StreamUpkeep(catalog, DATASET, kafka_spec(), compact_every_s=300)
    assert upkeep.retain_every_s == 225
    retained = apply_policy(catalog, DATASET, kafka_spec())
    assert retained.retention == "15m"
    assert retained.restore_point == open_table(local_lake, DATASET).version()
    configuration = open_table(local_lake, DATASET).metadata().configuration
    assert configuration[RETENTION_KEY] == "interval 900 seconds"


def test_a_failed_retention_turn_warns_once_and_is_retried_next_turn(
    local_lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(local_lake)
    for batch in range(6):
        publish(catalog, batch)
    catalog.set_tag("golden", DATASET, 2)
    golden = sorted(read_dataset(catalog, DATASET, at=2).to_table()["id"].to_pylist())
    clock = Clock()
    upkeep = StreamUpkeep(catalog, DATASET, kafka_spec("4s"), compact_every_s=0.25, clock=clock)
    assert upkeep.retain_every_s == 1.0

    clock.now += 0.75
    turn = upkeep.when_due()
    assert turn.compaction is not None
    assert turn.retention is None, "not due before a quarter of the retention"
    # A real failure: the catalog's pinned-files table cannot be opened.
    blocker = Path(local_lake.uri) / "_catalog" / "pinned_files"
    blocker.write_text("not a table")
    caplog.set_level(logging.WARNING, logger=stream_upkeep.__name__)
    clock.now += 0.25
    turn = upkeep.when_due()
    assert turn.retention is None
    assert turn.compaction is not None, "compaction of the same turn went ahead"
    [warning] = warnings(caplog)
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert "log retention of clicks failed, retried in 0.25s" in message, message
    assert "DeltaError" in message
    assert not warning.exc_info, "one line, no traceback"

    publish(catalog, 6)  # the stream goes on
    clock.now += 0.125
    assert upkeep.when_due().retention is None, "retried on the next turn, not before"
    assert len(warnings(caplog)) == 1

    blocker.unlink()
    age_log(local_lake)
    clock.now += 0.125
    done = upkeep.when_due().retention
    assert done is not None, caplog.text
    assert len(warnings(caplog)) == 1
    assert done.retention == "4s"
    assert done.pinned_recorded == [2]
    assert done.readable_from == readable_from(local_lake, DATASET) > 2
    tagged = read_dataset(catalog, DATASET, at="golden").to_table()["id"].to_pylist()
    assert sorted(tagged) == golden

    clock.now += 0.875
    assert upkeep.when_due().retention is None, "the next one after retain_every_s"
    clock.now += 0.125
    assert upkeep.when_due().retention is not None
    # Turns every few minutes record no catalog event; the nightly pass records one.
    assert catalog.events(DATASET, kinds=["log_retention"]) == []
    retain_stream(catalog, DATASET, upkeep.spec)
    assert len(catalog.events(DATASET, kinds=["log_retention"])) == 1


def test_a_bug_in_a_retention_turn_is_not_swallowed(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(local_lake)
    publish(catalog, 0)
    clock = Clock()
    upkeep = StreamUpkeep(catalog, DATASET, kafka_spec("2s"), compact_every_s=None, clock=clock)

    def broken(*args: object, **options: object) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr(stream_upkeep, "apply_policy", broken)
    clock.now += 0.5
    with pytest.raises(TypeError, match="a bug"):
        upkeep.when_due()


def rival_adds_a_column(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[int]]:
    """Right after retention opens the table, another writer publishes a batch with a new
    column (a metadata commit, as a Kafka ingester's schema evolution makes), once."""
    opened = retention.open_table
    rivals: list[int] = []

    def open_then_rival(lake: Lake, name: str, version: int | None = None) -> DeltaTable:
        table = opened(lake, name, version)
        if name == DATASET and version is None and not rivals:
            rivals.append(publish(catalog, 100 + len(rivals), note=["x", "y"]))
        return table

    monkeypatch.setattr(retention, "open_table", open_then_rival)
    return lambda: rivals


def test_maintenance_leaves_retention_for_the_next_pass_when_it_loses_a_race(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(local_lake)
    for batch in range(4):
        publish(catalog, batch)
    spec = kafka_spec("1h")
    rivals = rival_adds_a_column(catalog, monkeypatch)

    done = maintain(catalog, DATASET, spec, reason="nightly maintenance")
    assert rivals(), "the rival published during the pass"
    assert done.retention is None, "the properties commit lost: left for the next pass"
    assert done.vacuum is not None
    table = open_table(local_lake, DATASET)
    assert RETENTION_KEY not in table.metadata().configuration, "nothing was changed"
    assert "note" in table.schema().to_arrow().names, "the rival's commit stands"

    again = maintain(catalog, DATASET, spec, reason="nightly maintenance")
    assert again.retention is not None
    assert again.retention.retention == "1h"
    configuration = open_table(local_lake, DATASET).metadata().configuration
    assert configuration[RETENTION_KEY] == "interval 3600 seconds"


def test_a_batch_dataset_still_fails_on_that_race(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a Kafka dataset has a writer outside the maintenance job's pool; for a batch one
    a lost race is unexpected and the pass fails."""
    catalog = Catalog(local_lake)
    publish(catalog, 0)
    rival_adds_a_column(catalog, monkeypatch)
    batch = DatasetSpec.model_validate({"history": {"log_retention": "1h"}})
    with pytest.raises(CommitConflictError, match="Metadata changed since last commit"):
        maintain(catalog, DATASET, batch)


def test_a_turn_and_maintenance_trim_the_dead_letter_log_too(local_lake: Lake) -> None:
    """Every micro-batch that held poison adds a dead-letter version: its log is trimmed with
    the table's, and every dead letter stays."""
    catalog = Catalog(local_lake)
    dead = dead_letter_table(DATASET)
    for batch in range(6):
        publish(catalog, batch)
        write(catalog, dead, pa.table({"key": [str(batch)], "reason": ["malformed"]}))
    kept = sorted(read_dataset(catalog, dead).to_table()["key"].to_pylist())
    old = time.time() - 3600
    for table in (DATASET, dead):
        for path in (Path(local_lake.uri) / table / "_delta_log").glob("0*"):
            os.utime(path, (old, old))
    clock = Clock()
    upkeep = StreamUpkeep(catalog, DATASET, kafka_spec("4s"), compact_every_s=None, clock=clock)
    clock.now += upkeep.retain_every_s
    assert upkeep.when_due().retention is not None
    assert readable_from(local_lake, dead) > 0, "the dead letters' log was trimmed"
    assert sorted(read_dataset(catalog, dead).to_table()["key"].to_pylist()) == kept

    write(catalog, dead, pa.table({"key": ["6"], "reason": ["malformed"]}))
    for path in (Path(local_lake.uri) / dead / "_delta_log").glob("0*"):
        os.utime(path, (old, old))
    before = readable_from(local_lake, dead)
    maintain(catalog, DATASET, kafka_spec("4s"))
    assert readable_from(local_lake, dead) > before, "nightly maintenance trims it as well"
    assert sorted(read_dataset(catalog, dead).to_table()["key"].to_pylist()) == [*kept, "6"]
