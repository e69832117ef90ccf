"""The project file refuses what would be silently ignored: a key written twice (YAML keeps the
last one) and a check, PII rule, partition or key naming a column the declared schema lacks
(DESIGN.md > Decision 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import thermocline

from thermocline.catalog.errors import ConfigError
from thermocline.catalog.project_file import PROJECT_FILENAME, load_project

DATASET = """\
datasets:
  rides:
    schema: {ride_id: int64, fare: float64, email: string}
"""


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / PROJECT_FILENAME
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})
    return caught.value


@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        (DATASET + "  rides:\n    description: again\n", "rides", 4, 2),
        (DATASET + "    description: a\n    description: b\n", "description", 5, 4),
        ("lake: {uri: ./a, uri: ./b}\ndatasets: {}\n", "uri", 1, 1),
        ("lake: {uri: ./a}\nlake: {uri: ./b}\n", "lake", 2, 1),
    ],
)
def test_a_key_written_twice_is_refused_with_its_line(
    tmp_path: Path, text: str, key: str, line: int, first: int
) -> None:
    error = load_error(tmp_path, text)
    message = str(error)
    assert "\n" not in message
    assert f"{tmp_path / PROJECT_FILENAME}:{line}:" in message
    assert f"key {key!r} appears twice (first on line {first})" in message
    assert error.fix is not None
    assert "keep one" in error.fix


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = (
        "datasets:\n  base: &base {owners: [a@b.c]}\n  rides:\n    <<: *base\n    description: d\n"
    )
    project = load_project(_write(tmp_path, text), environ={})
    assert project.datasets["rides"].owners == ["a@b.c"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / PROJECT_FILENAME
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "key", "column"),
    [
        (
            "    quality:\n      checks: [{check: not_null, columns: [ride_id, id]}]\n",
            "quality.checks[0] (not_null)",
            "id",
        ),
        (
            "    quality:\n      checks: [{check: range, column: far, min: 0}]\n",
            "quality.checks[0] (range)",
            "far",
        ),
        (
            "    quality:\n      checks:\n        - {check: schema}\n"
            "        - {check: freshness, column: at, max_age: 1h}\n",
            "quality.checks[1] (freshness)",
            "at",
        ),
        ("    pii: {columns: {mail: hash}}\n", "pii.columns", "mail"),
        ("    partition_by: [day]\n", "partition_by", "day"),
        ("    primary_key: [id]\n", "primary_key", "id"),
    ],
)
def test_a_column_not_in_the_schema_fails_config_check(
    tmp_path: Path, extra: str, key: str, column: str
) -> None:
    _write(tmp_path, DATASET + extra)
    result = thermocline("config", "check", "--json", cwd=tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"datasets.rides: {key} names [{column!r}] which are not in `schema`" in lines[0]
    error = json.loads(result.stdout)
    assert error["field"] == "datasets.rides"
    assert error["fix"].startswith("add the column to `schema`")


def test_columns_are_not_checked_against_an_inferred_schema(tmp_path: Path) -> None:
    text = (
        "datasets:\n  rides:\n    pii: {columns: {mail: hash}}\n"
        "    quality: {checks: [{check: range, column: fare, min: 0}]}\n"
    )
    assert load_project(_write(tmp_path, text), environ={}).datasets["rides"].schema_ == "infer"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"lake: {uri: ./lake}\x00\n", "not valid YAML: unacceptable character #x0000"),
        (b"lake: {uri: '\xff\xfe'}\n", "not UTF-8 text"),
    ],
)
def test_a_file_yaml_cannot_read_is_one_config_error(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    """Found by the fuzz test: a NUL character, or bytes that are not UTF-8."""
    path = tmp_path / PROJECT_FILENAME
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_project(path, environ={})
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (
            "    quality:\n      checks: [{check: not_null, columns: [email]}]\n",
            "quality.checks[0] (not_null)",
        ),
        ("    partition_by: [email]\n", "partition_by"),
        ("    primary_key: [email]\n", "primary_key"),
    ],
)
def test_a_column_the_pii_policy_drops_cannot_be_checked_partitioned_or_keyed(
    tmp_path: Path, extra: str, key: str
) -> None:
    """A dropped column is gone before the checks run and before staging: a check, partition or
    key on it would fail every batch at ingest, so config check refuses it up front."""
    _write(tmp_path, DATASET + "    pii: {columns: {email: drop}}\n" + extra)
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{key} names ['email'] which pii.columns drops" in lines[0]
