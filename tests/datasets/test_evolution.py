"""One schema evolution for every path: the same schema changes, fed as files (JSON lines and
CSV through ``ingest()`` on a local lake) and as a Kafka topic (the dev stack's broker, through
``KafkaIngester``), end in the same table with the same records rejected for the same column.

Each test is written once and runs on every path. A file is the batch source's unit: a file
that breaks a rule is quarantined whole (and removed here, as an operator would, since it is
read again until fixed), so every file holds one record and the tables can be compared record
for record with Kafka, where the record at fault alone becomes a dead letter.
"""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import DatasetNotFoundError, SchemaEvolutionError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.evolution import evolve_records, evolve_schema, json_read_schemas
from thermocline.datasets.ingest.kafka import KafkaIngester
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.tables.versions import open_table, read_dataset

Record = dict[str, Any]
DECLARED = "{id: int64, name: string, count: int32}"
BASE = pa.schema([("id", pa.int64()), ("name", pa.string()), ("count", pa.int32())])


class IngestPath(Protocol):
    lake: Lake

    def feed(self, *batches: list[Record]) -> dict[int, str]:
        """Ingest the batches in order; return the rejected records: id -> reason."""
        ...


def write_project(folder: Path, lake: Lake, source: str, extra: str = "") -> Project:
    (folder / "thermocline.yaml").write_text(
        textwrap.dedent(f"""
        lake: {{uri: "{lake.uri}", storage_options: {json.dumps(dict(lake.storage_options))}}}
        {extra}
        datasets:
          events:
            source: {source}
            schema: {DECLARED}
    """)
    )
    return load_project(folder / "thermocline.yaml", environ={})


class FilesPath:
    """One file per batch in a landing folder, one ``ingest()`` run per file."""

    def __init__(self, folder: Path, lake: Lake, file_format: str) -> None:
        self.lake, self.format = lake, file_format
        self.landing = folder / "landing"
        self.landing.mkdir()
        source = f"{{kind: files, url: '{self.landing}/*.{file_format}', format: {file_format}}}"
        self.project = write_project(folder, lake, source)
        self.files = 0

    def feed(self, *batches: list[Record]) -> dict[int, str]:
        rejected: dict[int, str] = {}
        for records in batches:
            path = self.landing / f"{self.files:04d}.{self.format}"
            self.files += 1
            self._write(path, records)
            outcome = ingest(self.project, Catalog(self.lake), "events")
            if outcome.status == "quarantined":
                rejected |= {r["id"]: outcome.description for r in records}
                path.unlink()  # fixed or removed by an operator: it is read again until then
            else:
                assert outcome.status == "published", outcome
        return rejected

    def _write(self, path: Path, records: list[Record]) -> None:
        if self.format == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
            return
        header = list(dict.fromkeys(k for r in records for k in r))
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, header)
            writer.writeheader()
            writer.writerows(records)


class KafkaPath:
    """The batches produced to a fresh one-partition topic, then one ingester run to its end."""

    def __init__(
        self, folder: Path, lake: Lake, bootstrap: str, fresh_name: Callable[[str], str]
    ) -> None:
        self.lake, self.bootstrap = lake, bootstrap
        self.topic, self.group = fresh_name("evolution"), fresh_name("group")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(self.topic, num_partitions=1)])[self.topic].result(30)
        kafka = f'kafka: {{bootstrap_servers: "{bootstrap}"}}'
        self.project = write_project(folder, lake, f"{{kind: kafka, topic: {self.topic}}}", kafka)

    def feed(self, *batches: list[Record]) -> dict[int, str]:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        ids = set()
        for record in (r for records in batches for r in records):
            producer.produce(self.topic, key=str(record["id"]), value=json.dumps(record))
            ids.add(record["id"])
        assert producer.flush(30) == 0
        KafkaIngester(self.project, Catalog(self.lake), "events", group_id=self.group).run(
            until_caught_up=True
        )
        try:
            dead = (
                read_dataset(Catalog(self.lake), dead_letter_table("events")).to_table().to_pylist()
            )
        except DatasetNotFoundError:
            return {}
        return {int(row["key"]): row["error"] for row in dead if int(row["key"]) in ids}


@pytest.fixture(params=["jsonl", "csv", pytest.param("kafka", marks=pytest.mark.kafka)])
def path(request: pytest.FixtureRequest, tmp_path: Path, local_lake: Lake) -> IngestPath:
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        return KafkaPath(tmp_path, local_lake, bootstrap, request.getfixturevalue("fresh_name"))
    return FilesPath(tmp_path, local_lake, request.param)


def table_schema(lake: Lake) -> pa.Schema:
    return pa.schema(open_table(lake, "events").schema().to_arrow())


def table_rows(lake: Lake, *columns: str) -> list[Record]:
    table = read_dataset(Catalog(lake), "events").to_table(columns=list(columns) or None)
    return table.sort_by("id").to_pylist()


def test_new_fields_become_columns_in_order_typed_as_delta_stores_them(path: IngestPath) -> None:
    assert path.feed([{"id": 1, "name": "a", "count": 1}]) == {}
    # A number, a timestamp (inferred in seconds, stored in microseconds), and a field that is
    # null so far: it has no type yet, so it waits.
    first = {"id": 2, "name": "b", "count": 2, "score": 0.5, "seen": "2026-01-02T03:04:05"}
    assert path.feed([{**first, "note": None}]) == {}
    grown = BASE.append(pa.field("score", pa.float64())).append(
        pa.field("seen", pa.timestamp("us"))
    )
    assert table_schema(path.lake) == grown
    # Now it has a value: it becomes a column after the others.
    assert path.feed([{"id": 3, "name": "c", "count": 3, "note": "x"}]) == {}
    assert table_schema(path.lake) == grown.append(pa.field("note", pa.string()))
    assert table_rows(path.lake, "id", "score", "note") == [
        {"id": 1, "score": None, "note": None},
        {"id": 2, "score": 0.5, "note": None},
        {"id": 3, "score": None, "note": "x"},
    ]
    [seen] = [r["seen"] for r in table_rows(path.lake) if r["seen"] is not None]
    assert seen.isoformat() == "2026-01-02T03:04:05"


def test_integers_narrowed_to_a_declared_int32_when_they_fit(path: IngestPath) -> None:
    # JSON and CSV readers know one integer type, int64; the column is declared int32. A value
    # that fits is cast; a wider one is rejected, naming the column, and the column stays int32.
    assert path.feed([{"id": 1, "name": "a", "count": 7}]) == {}
    rejected = path.feed(
        [{"id": 2, "name": "b", "count": 2**31 - 1}],
        [{"id": 3, "name": "c", "count": 2**31}],
        [{"id": 4, "name": "d", "count": -(2**31)}],
    )
    assert set(rejected) == {3}
    assert "column 'count': the table has int32, the batch has" in rejected[3]
    assert "some values do not fit" in rejected[3]
    assert table_schema(path.lake) == BASE
    assert table_rows(path.lake, "id", "count") == [
        {"id": 1, "count": 7},
        {"id": 2, "count": 2**31 - 1},
        {"id": 4, "count": -(2**31)},
    ]


def test_an_incompatible_type_or_a_clashing_name_is_rejected_naming_the_column(
    path: IngestPath,
) -> None:
    assert path.feed([{"id": 1, "name": "a", "count": 7}]) == {}
    rejected = path.feed(
        [{"id": 2, "name": "b", "count": "many"}],  # text in an integer column
        [{"id": 3, "name": "c", "count": "12"}],  # text that is a number: cast, not rejected
        [{"id": 4, "name": "d", "Name": "D"}],  # differs from `name` only in case
        [{"id": 5, "name": "e", "count": 5}],
    )
    assert set(rejected) == {2, 4}
    assert (
        "column 'count': the table has int32, the batch has string, and some values do not fit"
        in rejected[2]
    )
    assert "column 'Name': the table has 'name', which differs only in case" in rejected[4]
    assert table_schema(path.lake) == BASE
    assert table_rows(path.lake) == [
        {"id": 1, "name": "a", "count": 7},
        {"id": 3, "name": "c", "count": 12},
        {"id": 5, "name": "e", "count": 5},
    ]


# --- the rules applied per record (pure) ------------------------------------------------------

TABLE = pa.schema([("id", pa.int64()), ("name", pa.string())])


def test_a_stream_rejects_the_records_at_fault_and_keeps_the_rest_in_order() -> None:
    clash = pa.table({"id": [1, 2, 3, 4], "name": list("abcd"), "NAME": [None, "x", None, "y"]})
    text = pa.table({"id": ["5", "six", "7"]})
    evolved = evolve_records(TABLE, [(0, clash), (10, text)])
    assert [(at, error.column) for at, error in evolved.rejected] == [
        (1, "NAME"),
        (3, "NAME"),
        (11, "id"),
    ]
    assert "differs only in case" in str(evolved.rejected[0][1])
    assert "the table has int64, the batch has string" in str(evolved.rejected[2][1])
    assert evolved.schema == TABLE
    assert evolved.data["id"].to_pylist() == [1, 3, 5, 7]
    assert evolved.data["name"].to_pylist() == ["a", "c", None, None]


def test_a_new_field_is_typed_by_its_first_piece_and_earlier_pieces_get_nulls() -> None:
    pieces = [
        (0, pa.table({"id": [1]})),
        (1, pa.table({"id": [2], "score": [0.5], "note": pa.nulls(1)})),
        (2, pa.table({"id": [3], "score": ["high"]})),
        (3, pa.table({"id": [4], "score": [2]})),
    ]
    evolved = evolve_records(TABLE, pieces)
    assert [(at, error.column) for at, error in evolved.rejected] == [(2, "score")]
    assert evolved.schema == TABLE.append(pa.field("score", pa.float64()))
    assert evolved.data["score"].to_pylist() == [None, 0.5, 2.0]


def test_a_rule_every_record_breaks_rejects_them_all() -> None:
    strict = pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())])
    evolved = evolve_records(strict, [(0, pa.table({"name": ["a", "b", "c"]}))])
    assert [at for at, _ in evolved.rejected] == [0, 1, 2]
    assert "NOT NULL" in str(evolved.rejected[0][1])
    assert evolved.data.num_rows == 0
    assert evolved.schema == strict
    untyped = evolve_records(None, [(0, pa.table({"note": pa.nulls(2)}))])
    assert [at for at, _ in untyped.rejected] == [0, 1], "records nothing can hold are not lost"
    assert "declare the dataset's schema" in str(untyped.rejected[0][1])
    every = pa.table({"id": list(range(5_000)), "Id": list(range(5_000))})
    clashed = evolve_records(TABLE, [(0, every)])
    assert [at for at, _ in clashed.rejected] == list(range(5_000))
    assert clashed.data.num_rows == 0


def test_names_that_differ_only_in_case_within_a_batch_and_null_fields() -> None:
    with pytest.raises(SchemaEvolutionError, match="'score': the batch also has 'Score'"):
        evolve_schema(TABLE, pa.table({"Score": [1], "score": [2]}))
    # A field with no value yet takes no name: it is deferred, whatever its case.
    deferred = evolve_schema(TABLE, pa.table({"id": [1], "ID": pa.nulls(1)}))
    assert (deferred.deferred, deferred.schema) == (("ID",), TABLE)


def test_json_readers_try_the_table_types_then_text_then_nothing() -> None:
    tries = json_read_schemas(BASE.append(pa.field("day", pa.date32())))
    assert tries == [
        BASE.append(pa.field("day", pa.string())),
        pa.schema([("name", pa.string()), ("day", pa.string())]),
        None,
    ]
    assert json_read_schemas(None) == [None]
    assert json_read_schemas(pa.schema([("name", pa.string())])) == [
        pa.schema([("name", pa.string())]),
        None,
    ]


def test_an_empty_piece_or_an_emptied_rest_ends() -> None:
    strict = pa.schema([pa.field("id", pa.int64(), nullable=False)])
    assert (
        evolve_records(strict, [(0, pa.table({"name": pa.array([], pa.string())}))]).rejected == ()
    )
