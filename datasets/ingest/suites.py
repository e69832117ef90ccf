"""A dataset's Great Expectations suite as a judge of its batches (``quality.suite``).

The suite file's path is relative to the project file. It is parsed once per process and file
version (path and modification time): an edited suite is picked up by the next batch, an
unchanged one costs nothing. Listing a suite's checks (:func:`suite_expectations`) never imports
GX; running it (:func:`suite_check`) imports GX on the first batch.

>>> check = suite_check(project, "rides")  # doctest: +SKIP
>>> results = check(batch, context) if check else []  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from thermocline.catalog.config import Project
from thermocline.quality.results import BatchCheck
from thermocline.quality.suites.model import Suite, SuiteError, load_suite

if TYPE_CHECKING:
    from thermocline.datasets.ingest.judge import DeclaredCheck
    from thermocline.quality.suites.runner import SuiteCheck

__all__ = ["dataset_suite", "suite_check", "suite_expectations", "suite_path", "suite_problems"]

_LOCK = threading.Lock()
_SUITES: dict[tuple[str, int], Suite] = {}
_CHECKS: dict[tuple[str, int], SuiteCheck] = {}


def suite_path(project: Project, dataset: str) -> Path | None:
    """The dataset's suite file (absolute), or None when it has no ``quality.suite``."""
    spec = project.dataset(dataset)
    if spec.quality.suite is None:
        return None
    path = Path(spec.quality.suite)
    return path if path.is_absolute() else project.root / path


def dataset_suite(project: Project, dataset: str) -> Suite | None:
    """The dataset's parsed suite, or None; a missing or unparsable file raises
    :class:`~thermocline.quality.suites.model.SuiteError` (a ConfigError: one line, exit 2)."""
    key = _key(project, dataset)
    if key is None:
        return None
    with _LOCK:
        if key not in _SUITES:
            label = project.dataset(dataset).quality.suite or key[0]
            _SUITES[key] = load_suite(Path(key[0]), label=label)
        return _SUITES[key]


def suite_check(project: Project, dataset: str) -> BatchCheck | None:
    """The dataset's suite as a :class:`BatchCheck`, or None when it has none."""
    key = _key(project, dataset)
    suite = dataset_suite(project, dataset)
    if key is None or suite is None:
        return None
    from thermocline.quality.suites.runner import SuiteCheck  # GX only once a suite runs

    with _LOCK:
        if key not in _CHECKS:
            _CHECKS[key] = SuiteCheck(suite)
        return _CHECKS[key]


def suite_expectations(project: Project, dataset: str) -> list[DeclaredCheck]:
    """One declared check per expectation of the dataset's suite (parsed, GX not imported)."""
    from thermocline.datasets.ingest.judge import DeclaredCheck

    suite = dataset_suite(project, dataset)
    if suite is None:
        return []
    return [
        DeclaredCheck(e.name, e.type, e.severity, "gx", e.description) for e in suite.expectations
    ]


def suite_problems(project: Project) -> list[str]:
    """One line per problem of every dataset's suite: a file that is missing or does not parse,
    an unknown expectation type, kwargs GX refuses, a column the declared schema lacks. Imports
    GX only when some dataset has a suite."""
    problems: list[str] = []
    for name in sorted(project.datasets):
        try:
            suite = dataset_suite(project, name)
        except SuiteError as error:
            problems.append(f"datasets.{name}.quality.suite: {error}")
            continue
        if suite is None:
            continue
        from thermocline.quality.suites.validation import suite_problems as problems_of

        schema = project.dataset(name).arrow_schema()
        problems.extend(
            f"datasets.{name}.quality.suite: {line}"
            for line in problems_of(suite, schema, dataset=name)
        )
    return problems


def _key(project: Project, dataset: str) -> tuple[str, int] | None:
    path = suite_path(project, dataset)
    if path is None:
        return None
    try:
        modified = path.stat().st_mtime_ns
    except FileNotFoundError:
        shown = project.dataset(dataset).quality.suite
        raise SuiteError(
            f"suite {shown}: file not found (looked at {path}); write one with "
            f"`thermocline quality suite init {dataset}` or fix datasets.{dataset}.quality.suite",
            field=f"datasets.{dataset}.quality.suite",
        ) from None
    return str(path), modified
