"""A Great Expectations suite as Thermocline reads it: the expectations of a GX Core 1.x
expectation-suite JSON, each with a stable result name, the columns it names and its severity.

Pure: parsing needs no Great Expectations import (it takes seconds), so the CLI, ``config
check`` and Dagster can list a suite's checks cheaply; :mod:`.runner` imports GX to run it.

>>> suite = load_suite('''{"name": "rides", "expectations": [
...     {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ride_id"}},
...     {"type": "expect_column_values_to_be_between",
...      "kwargs": {"column": "fare", "min_value": 0, "mostly": 0.95},
...      "meta": {"severity": "warn"}}]}''')
>>> [(e.name, e.columns, e.severity) for e in suite.expectations]
[('gx_column_values_to_not_be_null_ride_id', ('ride_id',), 'error'), \
('gx_column_values_to_be_between_fare', ('fare',), 'warn')]

Severity: ``meta.severity`` (``error`` | ``warn``) wins, as in the project file; else GX's own
``severity`` field (``critical`` -> error, ``warning`` and ``info`` -> warn); GX's default is
``critical``, so an expectation that says nothing blocks publishing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from thermocline.catalog.errors import ConfigError
from thermocline.quality.results import Severity

__all__ = ["Expectation", "Suite", "SuiteError", "expectation_name", "load_suite"]

_GX_SEVERITY: dict[str, Severity] = {"critical": "error", "warning": "warn", "info": "warn"}
# The kwargs through which an expectation names columns (single, pair, multicolumn).
_COLUMN_KWARGS = ("column", "column_A", "column_B")


class SuiteError(ConfigError):
    """A Great Expectations suite file that cannot be used: it does not parse, names an unknown
    expectation, or a column the dataset does not declare. The message names the file, the
    expectation and the fix."""


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite.

    ``name`` is the result name (``gx_`` + the type without ``expect_`` + its columns, unique
    within the suite: it becomes a Dagster asset-check name); ``type`` and ``kwargs`` are as GX
    wrote them; ``columns`` the columns it names (empty for a table-level expectation).
    """

    name: str
    type: str
    kwargs: Mapping[str, Any]
    severity: Severity
    columns: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    gx_severity: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def reads(self) -> tuple[str, ...]:
        """The names the runner must put in the frame: ``columns`` and the names a
        ``row_condition`` mentions, as a string (``city == "oslo"``; a word that is no column,
        such as ``and``, is simply not found in the batch) or as GX 1.9's condition objects
        (``{"column": {"name": "city"}, ...}``)."""
        return tuple(dict.fromkeys([*self.columns, *_mentioned(self.kwargs.get("row_condition"))]))

    @property
    def description(self) -> str:
        """One line for people: ``meta.notes`` when the suite gives it, else type and columns."""
        notes = self.meta.get("notes")
        if isinstance(notes, str) and notes.strip():
            return notes.strip().splitlines()[0]
        on = f" on {', '.join(self.columns)}" if self.columns else ""
        return f"{self.type}{on}"

    def gx_config(self) -> dict[str, Any]:
        """The expectation as GX's ``ExpectationConfiguration`` takes it."""
        config: dict[str, Any] = {
            "type": self.type,
            "kwargs": dict(self.kwargs),
            "meta": dict(self.meta),
        }
        if self.gx_severity is not None:
            config["severity"] = self.gx_severity
        return config


@dataclass(frozen=True)
class Suite:
    """A parsed suite: its ``name``, its expectations in file order, and ``source`` (the file it
    came from, for messages)."""

    name: str
    expectations: tuple[Expectation, ...]
    source: str = "<suite>"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the expectations name, in first-use order (what the runner converts)."""
        seen: dict[str, None] = {}
        for expectation in self.expectations:
            seen.update(dict.fromkeys(expectation.columns))
        return tuple(seen)


def load_suite(source: Path | str, *, label: str | None = None) -> Suite:
    """Parse a GX Core 1.x expectation suite from a file (a :class:`~pathlib.Path`, or a string
    that is not JSON text) or from JSON text (a string starting with ``{``).

    Raises :class:`SuiteError` naming the file and the problem when it does not parse; unknown
    expectation types and columns are checked by :func:`~.validation.suite_problems` (which
    needs GX's registry).
    """
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, where = source, label or "<suite>"
    else:
        path = Path(source)
        where = label or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SuiteError(
                f"suite {where}: file not found; write one with "
                "`thermocline quality suite init DATASET` or fix quality.suite",
                field="quality.suite",
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise SuiteError(
                f"suite {where}: cannot be read ({error}); fix the file or quality.suite",
                field="quality.suite",
            ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise SuiteError(
            f"suite {where}: not JSON ({error.msg} at line {error.lineno} column "
            f"{error.colno}); fix the file (a GX 1.x expectation suite)",
            field="quality.suite",
        ) from None
    return _suite(raw, where)


def expectation_name(type_: str, columns: tuple[str, ...]) -> str:
    """The base result name of an expectation: ``gx_column_values_to_be_between_fare``."""
    short = type_.removeprefix("expect_")
    return "_".join(["gx", _name_part(short), *(_name_part(c) for c in columns)])


def _suite(raw: Any, where: str) -> Suite:
    def problem(text: str) -> SuiteError:
        return SuiteError(f"suite {where}: {text}", field="quality.suite")

    if not isinstance(raw, dict):
        raise problem("not a GX expectation suite (a JSON object with name and expectations)")
    name = raw.get("name", raw.get("expectation_suite_name"))
    if not isinstance(name, str) or not name.strip():
        raise problem('has no "name"; add "name": "<suite name>"')
    items = raw.get("expectations")
    if not isinstance(items, list):
        raise problem('has no "expectations" list; add "expectations": [...]')
    expectations: list[Expectation] = []
    taken: set[str] = set()
    for position, item in enumerate(items, 1):
        expectation = _expectation(item, f"expectation {position}", problem)
        base = expectation.name
        number = 1
        while expectation.name in taken:
            number += 1
            expectation = replace(expectation, name=f"{base}_{number}")
        taken.add(expectation.name)
        expectations.append(expectation)
    return Suite(name, tuple(expectations), where)


def _expectation(item: Any, which: str, problem: Any) -> Expectation:
    if not isinstance(item, dict):
        raise problem(f"{which} is not an object; write {{'type': ..., 'kwargs': {{...}}}}")
    type_ = item.get("type", item.get("expectation_type"))
    if not isinstance(type_, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", type_):
        raise problem(f'{which} has no valid "type" (e.g. "expect_column_values_to_not_be_null")')
    which = f"{which} ({type_})"
    kwargs = item.get("kwargs", {})
    meta = item.get("meta") or {}
    if not isinstance(kwargs, dict):
        raise problem(f'{which}: "kwargs" must be an object')
    if not isinstance(meta, dict):
        raise problem(f'{which}: "meta" must be an object')
    columns = _columns(kwargs, which, problem)
    gx_severity = item.get("severity")
    severity = _severity(meta.get("severity"), gx_severity, which, problem)
    expectation_id = item.get("id")
    return Expectation(
        name=expectation_name(type_, columns),
        type=type_,
        kwargs=kwargs,
        severity=severity,
        columns=columns,
        meta=meta,
        id=expectation_id if isinstance(expectation_id, str) else None,
        gx_severity=gx_severity if isinstance(gx_severity, str) else None,
    )


def _columns(kwargs: Mapping[str, Any], which: str, problem: Any) -> tuple[str, ...]:
    columns: list[str] = []
    for key in _COLUMN_KWARGS:
        if key in kwargs:
            if not isinstance(kwargs[key], str):
                raise problem(f"{which}: kwargs.{key} must be a column name (a string)")
            columns.append(kwargs[key])
    if "column_list" in kwargs:
        listed = kwargs["column_list"]
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise problem(f"{which}: kwargs.column_list must be a list of column names")
        columns.extend(listed)
    return tuple(dict.fromkeys(columns))


def _severity(meta_severity: Any, gx_severity: Any, which: str, problem: Any) -> Severity:
    if meta_severity is not None:
        if meta_severity not in ("error", "warn"):
            raise problem(
                f'{which}: meta.severity must be "error" or "warn", not {meta_severity!r}'
            )
        return "error" if meta_severity == "error" else "warn"
    if gx_severity is None:
        return "error"  # GX's default severity is critical
    if gx_severity not in _GX_SEVERITY:
        raise problem(
            f'{which}: severity must be "critical", "warning" or "info", not {gx_severity!r}'
        )
    return _GX_SEVERITY[gx_severity]


def _name_part(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_") or "column"


def _mentioned(condition: Any) -> list[str]:
    """The names a ``row_condition`` mentions (see :attr:`Expectation.reads`)."""
    if isinstance(condition, str):
        return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"([\"']).*?\1", "", condition))
    if isinstance(condition, Mapping):
        column = condition.get("column")
        named = [column["name"]] if isinstance(column, Mapping) and "name" in column else []
        nested = [v for v in condition.values() if isinstance(v, Mapping | list | tuple)]
        return named + [n for v in nested for n in _mentioned(v)]
    if isinstance(condition, list | tuple):  # the parts of an and/or condition
        return [n for v in condition if not isinstance(v, str) for n in _mentioned(v)]
    return []
