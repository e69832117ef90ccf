"""The ``schema`` check: declared columns present, no undeclared extras, and types that cast
losslessly (decided from the types, not the values).
"""

from __future__ import annotations

import pyarrow as pa

from thermocline.catalog.arrow_types import is_list_type
from thermocline.catalog.config import (
    SchemaCheck,
)
from thermocline.quality.messages import show_column, show_list
from thermocline.quality.results import CheckResult, MetadataValue

__all__ = ["casts_safely", "check_schema"]


def check_schema(
    spec: SchemaCheck, name: str, actual: pa.Schema, declared: pa.Schema | None
) -> CheckResult:
    """Every declared column is present with a type that casts to the declared one losslessly.

    Extra columns fail: a publish writes the batch as it is, so an undeclared column would
    change the table's schema without a change to the spec. Column order and nullability are not
    compared (``not_null`` checks nulls). "Losslessly" is decided from the types alone, never
    from the values, so a batch cannot pass or fail by luck: see :func:`casts_safely`.
    """
    if declared is None:
        message = "no declared schema (schema: infer), nothing to compare"
        return CheckResult(name, spec.check, spec.severity, True, message, {})
    counts: dict[str, int] = {}
    for column in actual.names:
        counts[column] = counts.get(column, 0) + 1
    missing = [c for c in declared.names if c not in counts]
    extra = [c for c in actual.names if declared.get_field_index(c) == -1]
    repeated = [c for c, n in counts.items() if n > 1]
    mismatched: list[str] = []
    mismatched_names: list[str] = []
    casts = 0
    for target in declared:
        if counts.get(target.name) != 1:
            continue
        have = actual.field(target.name).type
        if have.equals(target.type):
            continue
        if casts_safely(have, target.type):
            casts += 1
        else:
            mismatched.append(f"{show_column(target.name)} is {have}, declared {target.type}")
            mismatched_names.append(target.name)
    metadata: dict[str, MetadataValue] = {
        "declared_columns": len(declared),
        "missing_columns": len(missing),
        "mismatched_columns": len(mismatched),
        "extra_columns": len(set(extra)),
        "repeated_columns": len(repeated),
        "cast_columns": casts,
    }
    problems = []
    if missing:
        problems.append("missing " + show_list([show_column(c) for c in missing]))
    if mismatched:
        problems.append(show_list(mismatched) + " (no lossless cast)")
    if extra:
        problems.append("undeclared " + show_list([show_column(c) for c in dict.fromkeys(extra)]))
    if repeated:
        problems.append("repeated " + show_list([show_column(c) for c in repeated]))
    wrong = [*missing, *mismatched_names, *dict.fromkeys(extra), *repeated]
    if problems:
        message = "; ".join(problems)
        sample = tuple(wrong[:10])
        return CheckResult(
            name,
            spec.check,
            spec.severity,
            False,
            message,
            metadata,
            observed=len(wrong),
            threshold="== 0",
            sample=sample,
        )
    message = f"all {len(declared)} declared columns present with compatible types"
    if casts:
        message += f" ({casts} to be cast)"
    return CheckResult(
        name, spec.check, spec.severity, True, message, metadata, observed=0, threshold="== 0"
    )


_INT_BITS = {pa.int8(): 8, pa.int16(): 16, pa.int32(): 32, pa.int64(): 64}
_UINT_BITS = {pa.uint8(): 8, pa.uint16(): 16, pa.uint32(): 32, pa.uint64(): 64}
_FLOAT_MANTISSA = {pa.float16(): 11, pa.float32(): 24, pa.float64(): 53}
_TIME_UNITS = ("s", "ms", "us", "ns")
_SAME_DATA = [
    {pa.string(), pa.large_string(), pa.string_view()},
    {pa.binary(), pa.large_binary(), pa.binary_view()},
]


def casts_safely(have: pa.DataType, want: pa.DataType) -> bool:
    """Whether every value of type ``have`` is a value of type ``want`` (widening only).

    Integers widen (unsigned into a wider signed), integers into floats whose mantissa holds
    them, floats into wider floats, string/binary into their large and view forms, timestamps
    into finer units with a time zone only if they had one, date32 into date64, decimals into
    ones with at least as many integer and fraction digits, lists and structs field by field,
    dictionaries by their values, and an all-null column into anything.
    """
    if have.equals(want) or pa.types.is_null(have):
        return True
    if pa.types.is_dictionary(have):
        return casts_safely(have.value_type, want)
    if have in _INT_BITS or have in _UINT_BITS:
        bits = _INT_BITS.get(have) or _UINT_BITS[have]
        signed = have in _INT_BITS
        if want in _INT_BITS:
            return _INT_BITS[want] >= bits + (0 if signed else 1)
        if want in _UINT_BITS:
            return not signed and _UINT_BITS[want] >= bits
        if want in _FLOAT_MANTISSA:
            return _FLOAT_MANTISSA[want] >= bits - (1 if signed else 0)
        return False
    if have in _FLOAT_MANTISSA:
        return want in _FLOAT_MANTISSA and _FLOAT_MANTISSA[want] >= _FLOAT_MANTISSA[have]
    if any(have in group and want in group for group in _SAME_DATA):
        return True
    if pa.types.is_timestamp(have) and pa.types.is_timestamp(want):
        finer = _TIME_UNITS.index(want.unit) >= _TIME_UNITS.index(have.unit)
        return finer and (have.tz is None) == (want.tz is None)
    if pa.types.is_date32(have):
        return bool(pa.types.is_date64(want))
    if pa.types.is_decimal(have) and pa.types.is_decimal(want):
        integer_digits: int = have.precision - have.scale
        fraction_digits: int = have.scale
        return bool(want.precision - want.scale >= integer_digits and want.scale >= fraction_digits)
    if is_list_type(have) and is_list_type(want):
        if pa.types.is_fixed_size_list(want) and (
            not pa.types.is_fixed_size_list(have) or have.list_size != want.list_size
        ):
            return False
        return bool(casts_safely(have.value_type, want.value_type))
    if pa.types.is_struct(have) and pa.types.is_struct(want):
        have_fields = {have.field(i).name: have.field(i).type for i in range(have.num_fields)}
        want_fields = {want.field(i).name: want.field(i).type for i in range(want.num_fields)}
        return have_fields.keys() == want_fields.keys() and all(
            casts_safely(have_fields[n], want_fields[n]) for n in want_fields
        )
    if pa.types.is_map(have) and pa.types.is_map(want):
        return casts_safely(have.key_type, want.key_type) and casts_safely(
            have.item_type, want.item_type
        )
    return False
