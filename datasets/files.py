"""Batch files as a source: CSV, JSON lines and Parquet from any fsspec URL.

Files are opened through fsspec (local, ``s3://``, ``https://``) and parsed by pyarrow's
multithreaded readers; with a declared schema the columns are converted while parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

__all__ = ["FileFormat", "read_file"]

FileFormat = Literal["csv", "jsonl", "parquet"]


def read_file(
    url: str,
    file_format: FileFormat,
    schema: pa.Schema | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> pa.Table:
    """Read one file into an Arrow table, typed by ``schema`` when given (else inferred)."""
    with fsspec.open(url, "rb", **dict(storage_options or {})) as stream:
        if file_format == "csv":
            convert = pacsv.ConvertOptions(column_types=schema) if schema is not None else None
            return pacsv.read_csv(stream, convert_options=convert)
        if file_format == "jsonl":
            parse = pajson.ParseOptions(explicit_schema=schema) if schema is not None else None
            return pajson.read_json(stream, parse_options=parse)
        table = pq.read_table(stream)
        return table.cast(schema) if schema is not None else table
