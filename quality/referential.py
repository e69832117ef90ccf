"""``referential``: every non-null value of a column exists in another dataset's key column.

The caller reads the keys (distinct values of ``key`` in ``dataset`` at its latest or a pinned
version) and hands them over as a :class:`~thermocline.quality.results.Baseline`; the check is
one vectorized ``pyarrow.compute.is_in`` over the batch column (a hash set of the keys), no
Python loop over rows. Nulls are not references and are left out (``not_null`` judges them).

>>> import pyarrow as pa
>>> from thermocline.catalog.config import ReferentialCheck
>>> from thermocline.quality.results import Baseline
>>> spec = ReferentialCheck(check="referential", column="driver_id", dataset="drivers",
...                         key="id")
>>> keys = Baseline("drivers@7", pa.chunked_array([[1, 2, 3]]))
>>> result = check_referential(spec, "referential_driver_id",
...                            pa.chunked_array([[1, 2, 9, None, 9]]), keys)
>>> result.passed, result.failing_rows, result.sample
(False, 2, ('9',))
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.arrow_types import decoded
from thermocline.catalog.config import ReferentialCheck
from thermocline.quality.messages import show_column, show_value
from thermocline.quality.results import Baseline, CheckResult, MetadataValue, check_result

__all__ = ["check_referential"]

_SAMPLE = 5


def check_referential(
    spec: ReferentialCheck, name: str, column: pa.ChunkedArray, keys: Baseline | None
) -> CheckResult:
    """``failing_rows`` (also ``observed``) counts the rows whose value is not a key;
    ``sample`` quotes the most frequent missing values. Keys that could not be read (the
    dataset has no table, an unknown tag) fail the check with the reason."""
    label = show_column(spec.column)
    target = f"{spec.dataset}.{spec.key}"
    rows = len(column)
    metadata: dict[str, MetadataValue] = {"rows": rows}

    def result(passed: bool, message: str, **judged: object) -> CheckResult:
        return check_result(
            spec,
            name,
            passed,
            message,
            metadata,
            engine="history",
            threshold="== 0",
            **judged,  # type: ignore[arg-type]
        )

    if keys is None:
        return result(False, f"{label}: no keys of {target} to look values up in")
    metadata["reference"] = keys.label
    if keys.problem is not None:
        return result(False, f"{label}: keys of {target} ({keys.label}): {keys.problem}")
    values = decoded(column)
    known = decoded(keys.values) if keys.values is not None else pa.chunked_array([], values.type)
    if not known.type.equals(values.type):
        common = _common_type(values.type, known.type)
        try:
            if common is None:
                raise pa.ArrowInvalid("no common type")
            values, known = values.cast(common), known.cast(common)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kinds = (
                f"{column.type} here, {keys.values.type if keys.values else '?'} in {keys.label}"
            )
            return result(False, f"{label}: cannot compare with {target} ({kinds})")
    metadata["keys"] = len(known)
    key_set = pa.concat_arrays(known.chunks) if known.num_chunks else pa.array([], values.type)
    present = pc.is_in(values, value_set=key_set, skip_nulls=True)
    missing = values.filter(pc.and_(pc.is_valid(values), pc.invert(present)))
    failing = len(missing)
    metadata["failing_rows"] = failing
    judged: dict[str, object] = {"observed": failing, "failing_rows": failing}
    if failing == 0:
        message = f"{label}: every non-null value of {rows} rows is a key of {target}"
        return result(True, message + f" ({keys.label})", **judged)
    counts = pc.value_counts(missing)
    order = pc.array_sort_indices(counts.field("counts"), order="descending")[:_SAMPLE]
    top = pc.take(counts.field("values"), order).to_pylist()
    metadata["missing_values"] = len(counts)
    sample = [show_value(v) for v in top]
    distinct = "1 value" if len(counts) == 1 else f"{len(counts)} distinct values"
    message = (
        f"{label}: {failing} of {rows} rows reference no key of {target} ({keys.label}): "
        f"{distinct}, e.g. {', '.join(sample)}"
    )
    return result(False, message, sample=sample, **judged)


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """A type both sides convert to without changing a value's meaning: integers as int64,
    integers and floats as float64, text as large_string; None for text against anything else
    ('01' is not 1); otherwise the column's own type."""

    def kind(t: pa.DataType) -> str:
        if pa.types.is_integer(t):
            return "integer"
        if pa.types.is_floating(t):
            return "floating"
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return "text"
        return str(t)

    kinds = {kind(a), kind(b)}
    if kinds == {"integer"}:
        return pa.int64()
    if kinds <= {"integer", "floating"}:
        return pa.float64()
    if "text" in kinds:
        return pa.large_string() if kinds == {"text"} else None
    return a  # the keys cast to the column's type, when they can (timestamp units, dates)
