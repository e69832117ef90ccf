"""Kafka payload decoding: JSON and Avro, schema evolution, and what becomes a dead letter.

The Confluent wire-format cases use confluent-kafka's own schema-registry client and Avro
serializer against the dev stack's registry, so the bytes are what real producers send.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from thermocline.catalog.errors import ConfigError
from thermocline.datasets.ingest.payloads import (
    SchemaRegistry,
    avro_schema,
    decode_avro,
    decode_json,
)
from thermocline.pipelines.devstack import StackInfo

DECLARED = pa.schema([("id", pa.int64()), ("name", pa.string())])


@pytest.mark.parametrize("count", [1000, 60_000], ids=["one-piece", "parallel-pieces"])
def test_json_rows_parse_in_order_and_bad_ones_fail_alone(count: int) -> None:
    payloads = [json.dumps({"id": i, "name": f"n{i}"}).encode() for i in range(count)]
    bad = [10, count // 2, count - 1]
    payloads[bad[0]] = b'{"id": '  # malformed
    payloads[bad[1]] = json.dumps({"id": "five hundred", "name": "x"}).encode()  # wrong type
    payloads[bad[2]] = b"[1, 2]"  # not an object
    table, failures, grown = decode_json(payloads, DECLARED)
    assert [index for index, _ in failures] == bad
    assert all(reason for _, reason in failures)
    assert table["id"].to_pylist() == [i for i in range(count) if i not in bad]
    assert grown == DECLARED


def test_a_new_field_in_several_pieces_is_typed_over_all_of_them() -> None:
    # 60,000 payloads are parsed in parallel pieces; the new field is an integer in the first
    # piece and a float in the last. Typed over all records, as one parse would: float64.
    payloads = [json.dumps({"id": i, "name": f"n{i}"}).encode() for i in range(60_000)]
    payloads[100] = json.dumps({"id": 100, "name": "x", "score": 1}).encode()
    payloads[59_000] = json.dumps({"id": 59_000, "name": "y", "score": 0.5}).encode()
    table, failures, grown = decode_json(payloads, DECLARED)
    assert failures == []
    assert grown is not None
    assert grown.field("score").type == pa.float64()
    assert table["score"].drop_null().to_pylist() == [1.0, 0.5]
    assert table["id"].to_pylist() == list(range(60_000))


@pytest.mark.parametrize("count", [3, 30_000], ids=["one-block", "many-blocks"])
def test_pretty_printed_json_payloads_are_one_record_each(count: int) -> None:
    # 30,000 of them span several of the JSON reader's 1 MiB blocks, which it cuts at newlines:
    # the first parse fails and they must still come out whole, each once.
    payloads = [json.dumps({"id": i, "name": "a\nb"}, indent=2).encode() for i in range(count)]
    table, failures, _ = decode_json(payloads, DECLARED)
    assert failures == []
    assert table.to_pylist() == [{"id": i, "name": "a\nb"} for i in range(count)]


def test_a_new_json_field_becomes_a_column_and_a_later_other_type_is_a_dead_letter() -> None:
    payloads = [
        b'{"id": 1, "name": "a"}',
        b'{"id": 2, "name": "b", "score": 0.5}',
        b'{"id": 3, "name": "c", "score": "high"}',
        b'{"id": 4, "name": "d", "score": 2}',
    ]
    table, failures, grown = decode_json(payloads, DECLARED)
    assert grown is not None
    assert grown.field("score").type == pa.float64()
    assert table.column_names == ["id", "name", "score"]
    assert table["score"].to_pylist() == [None, 0.5, 2.0]
    assert [index for index, _ in failures] == [2]
    assert "score" in failures[0][1], "the reason names the column"

    # The grown schema is explicit from then on, in the next batch too.
    _, again, _ = decode_json([b'{"id": 5, "name": "e", "score": "low"}'], grown)
    assert [index for index, _ in again] == [0]


# Each kind of poison, with the words its reason must carry.
POISON = {
    "bad UTF-8": (b'{"id": 2, "name": "\xff\xfe"}', "not valid UTF-8"),
    "null": (b"null", "null payload"),
    "empty": (b"", "empty payload"),
    "blank": (b"  \n ", "empty payload"),
    "NaN": (b'{"id": 3, "name": "x", "score": NaN}', "'score': NaN or Infinity"),
    "Infinity": (b'{"id": 3, "name": "x", "score": -Infinity}', "'score': NaN or Infinity"),
    "NaN in a list": (b'{"id": 3, "name": "x", "scores": [1.5, NaN]}', "'scores': NaN"),
    "two objects": (b'{"id": 4, "name": "a"}{"id": 5, "name": "b"}', "2 values in one record"),
    "two lines": (b'{"id": 4, "name": "a"}\n{"id": 5, "name": "b"}', "2 values in one record"),
    "too big": (b'{"id": 6, "name": "' + b"x" * 2000 + b'"}', "over the limit of 1000 bytes"),
}


@pytest.mark.parametrize("count", [100, 60_000], ids=["one-piece", "parallel-pieces"])
@pytest.mark.parametrize("kind", sorted(POISON))
def test_each_kind_of_poison_fails_alone_with_its_reason(kind: str, count: int) -> None:
    payloads = [json.dumps({"id": i, "name": f"n{i}", "score": 0.5}).encode() for i in range(count)]
    poison, reason = POISON[kind]
    at = count // 3
    payloads[at] = poison
    table, failures, _ = decode_json(payloads, DECLARED, max_record_bytes=1000)
    assert [index for index, _ in failures] == [at]
    assert reason in failures[0][1]
    assert table["id"].to_pylist() == [i for i in range(count) if i != at]


def test_two_objects_in_one_record_are_caught_next_to_an_empty_record() -> None:
    """The two rows of one record and the no row of an empty one would add up."""
    payloads = [b'{"id": 1}', b'{"id": 2}{"id": 3}', b"", b'{"id": 4}']
    table, failures, _ = decode_json(payloads, DECLARED)
    assert [index for index, _ in failures] == [1, 2]
    assert table["id"].to_pylist() == [1, 4]


def test_a_field_over_the_json_block_size_is_read() -> None:
    big = "x" * 3_000_000  # pyarrow's JSON block is 1 MiB
    payloads = [b'{"id": 1}', json.dumps({"id": 2, "name": big}).encode(), b'{"id": 3}']
    table, failures, _ = decode_json(payloads, DECLARED)
    assert failures == []
    assert table["id"].to_pylist() == [1, 2, 3]
    assert table["name"][1].as_py() == big


def test_plain_avro_datums_decode_with_the_declared_schema() -> None:
    writer = fastavro.parse_schema(avro_schema(DECLARED))
    payloads = [_datum(writer, {"id": i, "name": f"n{i}"}) for i in range(5)]
    payloads[2] = payloads[2][:1]  # truncated
    table, failures, _ = decode_avro(payloads, DECLARED, None)
    assert table.to_pylist() == [{"id": i, "name": f"n{i}"} for i in (0, 1, 3, 4)]
    assert [index for index, _ in failures] == [2]


def test_plain_avro_needs_a_declared_schema() -> None:
    with pytest.raises(Exception, match="needs the dataset's `schema`"):
        decode_avro([b""], None, None)


def test_the_registry_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="schema_registry_url"):
        SchemaRegistry("file:///etc/passwd")


@pytest.mark.kafka
def test_confluent_wire_format_with_schema_evolution_and_unknown_ids(dev_stack: StackInfo) -> None:
    assert dev_stack.registry is not None
    assert dev_stack.registry.running
    url = dev_stack.registry.url
    subject = f"events-{uuid.uuid4().hex[:8]}"
    v1 = _serializer(url, [("id", "long"), ("name", "string")])
    v2 = _serializer(url, [("id", "long"), ("name", "string"), ("score", ["null", "double"])])
    context = SerializationContext(subject, MessageField.VALUE)
    payloads = [
        v1({"id": 1, "name": "a"}, context),
        v2({"id": 2, "name": "b", "score": 0.25}, context),
        b"\x00\x7f\xff\xff\xff" + b"\x02",  # a schema id nobody registered
        b'{"id": 4}',  # JSON on an Avro topic: no magic byte
        v1({"id": 5, "name": "e"}, context),
    ]
    table, failures, grown = decode_avro(payloads, DECLARED, SchemaRegistry(url))
    assert table.to_pylist() == [
        {"id": 1, "name": "a", "score": None},
        {"id": 2, "name": "b", "score": 0.25},
        {"id": 5, "name": "e", "score": None},
    ]
    assert grown is not None
    assert grown.field("score").type == pa.float64()
    reasons = dict(failures)
    assert set(reasons) == {2, 3}
    assert "not in the registry" in reasons[2]
    assert "wire format" in reasons[3]


def _serializer(url: str, fields: list[tuple[str, Any]]) -> AvroSerializer:
    schema = {
        "type": "record",
        "name": "event",
        "fields": [{"name": n, "type": t} for n, t in fields],
    }
    return AvroSerializer(SchemaRegistryClient({"url": url}), json.dumps(schema))


def _datum(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()
