import pyarrow as pa
import pytest

from thermocline.catalog.arrow_types import parse_arrow_type

ROUND_TRIP = [
    pa.int64(),
    pa.float32(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.date32(),
    pa.time32("ms"),
    pa.duration("us"),
    pa.timestamp("ns"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ms", tz="Europe/Paris"),
    pa.timestamp("ms", tz="+01:00"),
    pa.decimal128(10, 2),
    pa.list_(pa.float32()),
    pa.large_list(pa.int8()),
    pa.list_(pa.float32(), 4),
    pa.map_(pa.string(), pa.int64()),
    pa.struct([("id", pa.int64()), ("tags", pa.list_(pa.string()))]),
]


@pytest.mark.parametrize("arrow_type", ROUND_TRIP, ids=str)
def test_parses_what_pyarrow_prints(arrow_type: pa.DataType) -> None:
    assert parse_arrow_type(str(arrow_type)) == arrow_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("float64", pa.float64()),
        ("list<float32>", pa.list_(pa.float32())),
        ("fixed_size_list<float32>[3]", pa.list_(pa.float32(), 3)),
        ("struct<a: int32>", pa.struct([("a", pa.int32())])),
    ],
)
def test_short_forms(text: str, expected: pa.DataType) -> None:
    assert parse_arrow_type(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("int65", "unknown Arrow type 'int65'"),
        ("list<", "expected more"),
        ("struct<a int64>", "expected ':'"),
        ("int64 extra", "unexpected 'extra'"),
        ("list<int64>>", "unexpected '>'"),
    ],
)
def test_bad_types_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_arrow_type(text)
