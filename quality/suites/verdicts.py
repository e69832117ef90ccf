"""Great Expectations results as check results: GX's result of each expectation, summed over
the chunks a row-level expectation ran in (:mod:`.runner`), becomes one
:class:`~thermocline.quality.results.CheckResult` with GX's verdict, the unexpected count and
share, a sample of distinct unexpected values and the threshold as a person reads it.

Pure: GX result objects and plain values in, check results out (GX itself is not imported).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from thermocline.quality.messages import show_list, show_observed, show_percent, show_value
from thermocline.quality.results import CheckResult, MetadataValue
from thermocline.quality.suites.model import Expectation

__all__ = ["NAME_KEY", "SAMPLE", "merged_runs", "one_line", "verdict"]

SAMPLE = 5  # unexpected values kept per expectation
NAME_KEY = "thermocline_name"  # the meta key that carries an expectation's result name


def merged_runs(runs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per result name, GX's result of one or more runs (chunks) folded into one: counts
    summed, samples concatenated, exceptions kept, ``runs`` counted."""
    merged: dict[str, dict[str, Any]] = {}
    for run in runs:
        for item in run.results:
            name = item.expectation_config.meta.get(NAME_KEY)
            result = dict(item.result or {})
            info = item.exception_info or {}
            error = _exception(info)
            current = merged.setdefault(
                name,
                {"success": True, "runs": 0, "sample": [], "error": None, "result": {}},
            )
            current["runs"] += 1
            current["success"] = current["success"] and bool(item.success)
            current["error"] = current["error"] or error
            sums = current["result"]
            for key in ("element_count", "unexpected_count", "missing_count"):
                if isinstance(result.get(key), int):
                    sums[key] = sums.get(key, 0) + result[key]
            if "observed_value" in result:
                sums["observed_value"] = result["observed_value"]
            current["sample"].extend(result.get("partial_unexpected_list") or [])
            current["mostly"] = item.expectation_config.kwargs.get("mostly")
    return merged


def _exception(info: Mapping[str, Any]) -> str | None:
    if info.get("raised_exception"):
        return one_line(info.get("exception_message") or "an exception in GX")
    for nested in info.values():
        if isinstance(nested, Mapping) and nested.get("raised_exception"):
            return one_line(nested.get("exception_message") or "an exception in GX")
    return None


def verdict(expectation: Expectation, run: Mapping[str, Any] | None) -> CheckResult:
    where = f"{expectation.type}" + (
        f" on {', '.join(expectation.columns)}" if expectation.columns else ""
    )
    if run is None:  # cannot happen for a suite GX accepted; say so rather than pass
        return _make(expectation, False, f"{where}: GX gave no result", {})
    if run["error"] is not None:
        return _make(expectation, False, f"{where}: GX could not evaluate it: {run['error']}", {})
    sums = run["result"]
    if "unexpected_count" in sums and "element_count" in sums:
        return _map_result(expectation, run, where)
    observed = sums.get("observed_value")
    number = observed if _is_number(observed) else None
    bounds = _bounds(expectation.kwargs)
    shown = show_observed(float(number)) if number is not None else _show(observed)
    message = f"{where}: observed {shown}" + (f", expected {bounds}" if bounds else "")
    message = message if not run["success"] else f"{where}: passed (observed {shown})"
    metadata: dict[str, MetadataValue] = {}
    if number is not None:
        metadata["observed_value"] = float(number)
    elif observed is not None:
        metadata["observed_value"] = _show(observed)
    return _make(
        expectation,
        bool(run["success"]),
        message,
        metadata,
        observed=float(number) if number is not None else None,
        threshold=bounds or None,
    )


def _map_result(expectation: Expectation, run: Mapping[str, Any], where: str) -> CheckResult:
    sums = run["result"]
    elements, unexpected = sums["element_count"], sums["unexpected_count"]
    considered = elements - sums.get("missing_count", 0)
    mostly = run.get("mostly")
    mostly = 1.0 if mostly is None else float(mostly)
    if run["runs"] == 1:
        passed = bool(run["success"])
    else:  # GX's own rule (expectation._mostly_success) on the summed counts
        passed = considered == 0 or (considered - unexpected) / considered >= mostly
    percent = unexpected / considered * 100 if considered else 0.0
    # GX samples the first unexpected values, repeats and all: show distinct ones.
    distinct: dict[str, Any] = {}
    for value in run["sample"]:
        distinct.setdefault(repr(value), value)
    values = list(distinct.values())[:SAMPLE]
    sample = tuple(v if isinstance(v, str) else _show(v) for v in values)
    given = run.get("mostly") is not None
    threshold = f"mostly >= {show_observed(mostly)}" if given else "every row"
    if passed and not unexpected:
        message = f"{where}: passed ({elements} rows)"
    else:
        message = (
            f"{where}: {unexpected} of {considered} rows unexpected "
            f"({show_percent(percent / 100)})"
            + (f", e.g. {show_list([_show(v) for v in values], SAMPLE)}" if values else "")
            + f"; {threshold}"
        )
    metadata: dict[str, MetadataValue] = {
        "rows": elements,
        "unexpected_count": unexpected,
        "unexpected_percent": percent,
        "chunks": run["runs"],
    }
    return _make(
        expectation,
        passed,
        message,
        metadata,
        observed=percent,
        threshold=threshold,
        failing_rows=unexpected,
        sample=sample,
    )


def _make(
    expectation: Expectation,
    passed: bool,
    message: str,
    metadata: Mapping[str, MetadataValue],
    *,
    observed: float | None = None,
    threshold: str | None = None,
    failing_rows: int | None = None,
    sample: Sequence[str] = (),
) -> CheckResult:
    return CheckResult(
        expectation.name,
        expectation.type,
        expectation.severity,
        passed,
        message,
        metadata,
        engine="gx",
        observed=observed,
        threshold=threshold,
        failing_rows=failing_rows,
        sample=tuple(sample),
    )


def _bounds(kwargs: Mapping[str, Any]) -> str:
    """The kwargs an expectation is held to, as a person reads them."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {_show(low)} and {_show(high)}"
    if low is not None:
        return f">= {_show(low)}"
    if high is not None:
        return f"<= {_show(high)}"
    for key in ("value", "value_set", "type_list", "type_", "column_set", "column_list"):
        if key in kwargs:
            value = kwargs[key]
            if isinstance(value, list):
                return f"{key} {show_list([_show(v) for v in value])}"
            return f"{key} {_show(value)}"
    return ""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and not isinstance(value, str)


def _show(value: Any) -> str:
    try:
        import pandas as pd

        if value is not None and not isinstance(value, list | dict | tuple) and pd.isna(value):
            return "NULL"
    except (TypeError, ValueError):
        pass
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value[:8]) + ("...]" if len(value) > 8 else "]")
    if hasattr(value, "item") and not isinstance(value, str):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, float):
        return show_observed(value)
    return show_value(value)


def one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
