"""A starter Great Expectations suite profiled from a table (``thermocline quality suite init``):
what the data looks like now, written as expectations for a person to edit.

Per column: its type (``expect_column_values_to_be_in_type_list``, with the names GX's pandas
engine reports for the column as :mod:`.runner` converts it), its null fraction
(``expect_column_values_to_not_be_null``, with ``mostly`` when some values are null), the
observed range of a numeric column (``expect_column_values_to_be_between``) and the values of
a low-cardinality string column (``expect_column_values_to_be_in_set``). Every expectation
carries ``meta.severity: warn``: a profile describes, a person decides what must block.

Pure: Arrow in, a JSON-able suite out.

>>> import pyarrow as pa
>>> suite = profile_suite(pa.table({"city": ["Oslo", "Bergen", None]}), "rides")
>>> [e["type"] for e in suite["expectations"]]
['expect_column_values_to_be_in_type_list', 'expect_column_values_to_not_be_null', \
'expect_column_values_to_be_in_set']
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["MAX_VALUE_SET", "gx_type_names", "profile_suite"]

MAX_VALUE_SET = 20
"""A string column with at most this many distinct values gets a value-set expectation."""


def profile_suite(
    table: pa.Table, name: str, *, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A GX 1.x expectation suite (as a dict, ready for ``json.dumps``) describing ``table``."""
    expectations: list[dict[str, Any]] = []
    for field in table.schema:
        column = table[field.name]
        expectations.extend(_column(field.name, field.type, column, table.num_rows))
    return {
        "name": name,
        "expectations": expectations,
        "meta": {"thermocline": {"profiled_rows": table.num_rows, **(meta or {})}},
    }


def gx_type_names(arrow_type: pa.DataType) -> list[str] | None:
    """The dtype names GX 1.24's type expectations accept for a column of ``arrow_type``
    converted as the runner converts type-checked columns (numpy dtypes, strings as Python
    ``str``); None where GX has no name that matches (time zone aware timestamps, dates,
    nested and binary types: measured, every name tried fails).

    An integer column becomes ``float64`` in pandas when a batch holds a null, so both names.
    """
    if pa.types.is_boolean(arrow_type):
        return ["bool"]
    if pa.types.is_integer(arrow_type):
        return [str(arrow_type.to_pandas_dtype().__name__), "float64"]
    if pa.types.is_floating(arrow_type):
        return [str(arrow_type.to_pandas_dtype().__name__)]
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ["str"]
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        return [f"datetime64[{arrow_type.unit}]"]
    return None


def _column(
    name: str, arrow_type: pa.DataType, column: pa.ChunkedArray, rows: int
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    nulls = column.null_count
    types = gx_type_names(arrow_type)
    if types is not None:
        found.append(
            _expect("expect_column_values_to_be_in_type_list", column=name, type_list=types)
        )
    if rows and nulls < rows:
        present = (rows - nulls) / rows
        kwargs: dict[str, Any] = {"column": name}
        if nulls:
            # Rounded down to a hundredth: the batch profiled passes, a worse one fails.
            kwargs["mostly"] = math.floor(present * 100 + 1e-9) / 100
        found.append(_expect("expect_column_values_to_not_be_null", **kwargs))
    if rows == nulls:
        return found
    is_number = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    if is_number:
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and high is not None and _finite(low) and _finite(high):
            found.append(
                _expect(
                    "expect_column_values_to_be_between", column=name, min_value=low, max_value=high
                )
            )
    elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        distinct = pc.unique(column.drop_null())
        # Values that repeat (on average twice or more): a category, not an identifier.
        if len(distinct) <= MAX_VALUE_SET and len(distinct) * 2 <= rows - nulls:
            values = sorted(v for v in distinct.to_pylist() if v is not None)
            found.append(
                _expect("expect_column_values_to_be_in_set", column=name, value_set=values)
            )
    return found


def _expect(type_: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"severity": "warn"}}


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)
