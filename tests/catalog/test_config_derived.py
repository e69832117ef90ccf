"""The project file's checks of derived sources: inputs that exist, no cycle, exactly one of
``sql`` and ``function`` (issue #17, item 1)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from thermocline.catalog.config import DerivedSource
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.project_file import PROJECT_FILENAME, load_project

BASE = """
datasets:
  trips:
    source: {kind: files, url: landing/*.csv, format: csv}
"""


def load_error(tmp_path: Path, datasets: str) -> str:
    path = tmp_path / PROJECT_FILENAME
    path.write_text(textwrap.dedent(BASE) + datasets)
    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})
    return str(caught.value)


def test_a_valid_derived_source_loads(tmp_path: Path) -> None:
    path = tmp_path / PROJECT_FILENAME
    path.write_text(
        textwrap.dedent(BASE)
        + "  daily:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1 AS one}\n"
    )
    source = load_project(path, environ={}).dataset("daily").source
    assert isinstance(source, DerivedSource)
    assert (source.inputs, source.sql, source.function) == (["trips"], "SELECT 1 AS one", None)


@pytest.mark.parametrize(
    ("datasets", "expected"),
    [
        (
            "  daily:\n    source: {kind: derived, inputs: [trip], sql: SELECT 1}\n",
            "datasets.daily.source.inputs names 'trip', which the project lacks "
            "(datasets: daily, trips)",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [daily], sql: SELECT 1}\n",
            "datasets read each other in a cycle (daily -> daily)",
        ),
        (
            "  a:\n    source: {kind: derived, inputs: [trips, b], sql: SELECT 1}\n"
            "  b:\n    source: {kind: derived, inputs: [a], sql: SELECT 1}\n",
            "datasets read each other in a cycle (a -> b -> a)",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1, "
            "function: 'm:f'}\n",
            "datasets.daily.source: give exactly one of `sql` or `function`",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips]}\n",
            "datasets.daily.source: give exactly one of `sql` or `function`",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips, trips], sql: SELECT 1}\n",
            "name a dataset twice",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [], sql: SELECT 1}\n",
            "datasets.daily.source.inputs: List should have at least 1 item",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips], function: features.build}\n",
            "datasets.daily.source.function: String should match pattern",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1, "
            "partition_wise: true}\n",
            "source.partition_wise needs partition_by",
        ),
        (
            "  daily:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1}\n"
            "    partition_by: [day]\n    partition_start: 2026-11-01\n",
            "partition_start on a derived dataset runs one partition at a time",
        ),
    ],
    ids=[
        "unknown input",
        "self-read",
        "cycle",
        "sql and function",
        "neither",
        "input twice",
        "no input",
        "function not module:name",
        "partition_wise without partition_by",
        "partition_start without partition_wise",
    ],
)
def test_bad_derived_sources_are_refused_with_the_key(
    tmp_path: Path, datasets: str, expected: str
) -> None:
    assert expected in load_error(tmp_path, datasets)


def test_a_diamond_of_inputs_is_not_a_cycle(tmp_path: Path) -> None:
    path = tmp_path / PROJECT_FILENAME
    path.write_text(
        textwrap.dedent(BASE)
        + "  a:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1}\n"
        + "  b:\n    source: {kind: derived, inputs: [trips], sql: SELECT 1}\n"
        + "  c:\n    source: {kind: derived, inputs: [a, b], sql: SELECT 1}\n"
    )
    assert set(load_project(path, environ={}).datasets) == {"trips", "a", "b", "c"}
