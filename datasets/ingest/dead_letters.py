"""Dead letters: records that did not decode or fit the schema, kept with their raw bytes.

They live in the table ``_dead_letters/<dataset>`` (raw bytes, error, topic, partition, offset,
timestamp, key), published with their own per-partition app transactions, so good + dead =
consumed, exactly.
"""

from __future__ import annotations

import pyarrow as pa
from confluent_kafka import Message

__all__ = [
    "DEAD_LETTERS_DIR",
    "DEAD_LETTER_SCHEMA",
    "dead_letter_rows",
    "dead_letter_table",
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
    ]
)


def dead_letter_table(dataset: str) -> str:
    """The table (path under the lake) that holds ``dataset``'s dead letters."""
    return f"{DEAD_LETTERS_DIR}/{dataset}"


def dead_letter_rows(messages: list[Message], failures: list[tuple[int, str]]) -> pa.Table:
    rows = []
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
            }
        )
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)
