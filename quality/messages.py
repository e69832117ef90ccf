"""How check results read: numbers, instants, durations, values and lists as people write them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = [
    "as_number",
    "show_bounds",
    "show_column",
    "show_columns",
    "show_duration",
    "show_instant",
    "show_list",
    "show_number",
    "show_observed",
    "show_percent",
    "show_value",
]


def show_instant(epoch_us: int, is_date: bool) -> str:
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=epoch_us)
    except OverflowError:
        return f"{epoch_us} µs after 1970-01-01"
    return moment.date().isoformat() if is_date else moment.isoformat()


def show_duration(seconds: float) -> str:
    """``3h5m``, ``2d4h``, ``45s``: the largest unit and the next one, enough to act on."""
    whole = int(seconds)
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    for position, (unit, size) in enumerate(units):
        if whole >= size or unit == "s":
            text = f"{whole // size}{unit}"
            if position + 1 < len(units):
                next_unit, next_size = units[position + 1]
                rest = whole % size // next_size
                text += f"{rest}{next_unit}" if rest else ""
            return text
    raise AssertionError("unreachable: the last unit always matches")


def show_percent(ratio: float) -> str:
    return f"{ratio * 100:.2f}".rstrip("0").rstrip(".") + "%"


def as_number(value: Any) -> int | float | None:
    if value is None or isinstance(value, int):
        return value
    return float(value)


def show_number(value: float | int | None) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def show_observed(value: float | int | None) -> str:
    """A value seen in the data, to six significant digits (the exact one is in metadata)."""
    return show_number(float(f"{value:.6g}") if isinstance(value, float) else value)


def show_bounds(low: float | None, high: float | None) -> str:
    if low is None:
        return f"at most {show_number(high)}"
    if high is None:
        return f"at least {show_number(low)}"
    return f"within [{show_number(low)}, {show_number(high)}]"


def show_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = repr(value) if isinstance(value, str | bytes) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def show_column(column: str) -> str:
    """A column as messages show it: bare when it reads as a name, else quoted."""
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", column) else repr(column)


def show_columns(columns: Sequence[str]) -> str:
    return ", ".join(show_column(c) for c in columns)


def show_list(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
