"""``thermocline search`` on a real local lake, run in-process as a user runs it: a dataset is
found by a column name, an owner and a PII class (from a real ``pii scan``), a dataset dropped
from the project by its registry entry; empty text is one line and exit 2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.writes import write

PROJECT = """
lake:
  uri: ./lake
datasets:
  people:
    description: Customers who booked a ride
    owners: [crm-team]
    schema: {id: int64, contact: string, city: string}
  zones:
    description: City zones, people-free
    owners: [geo-team]
    schema: {zone_id: int64, city: string}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    ids = range(50)
    people = {
        "id": pa.array(ids, pa.int64()),
        "contact": [f"person{i}@example.com" for i in ids],  # no name hint: found by a scan
        "city": ["lisbon"] * 50,
    }
    write(catalog, "people", pa.table(people))
    write(catalog, "zones", pa.table({"zone_id": pa.array(ids, pa.int64()), "city": ["oslo"] * 50}))
    catalog.register("old_trips", {"description": "Trips before 2020", "owners": ["archive"]})
    write(catalog, "old_trips", pa.table({"trip_id": [1, 2]}))
    scanned = thermocline("pii", "scan", "people", cwd=tmp_path)
    assert scanned.exit_code == 0, scanned.stderr
    return tmp_path


def found(project: Path, *text: str) -> list[dict[str, object]]:
    result = thermocline("search", *text, "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    hits: list[dict[str, object]] = json.loads(result.stdout)
    return hits


def test_search_finds_by_column_owner_and_pii_class(project: Path) -> None:
    by_column = found(project, "zone_id")
    assert [(h["dataset"], h["score"]) for h in by_column] == [("zones", 50)]
    assert by_column[0]["matches"] == [
        {"field": "column", "value": "zone_id", "term": "zone_id", "score": 50}
    ]

    assert [h["dataset"] for h in found(project, "crm-team")] == ["people"]
    by_class = found(project, "email")
    assert [h["dataset"] for h in by_class] == ["people"]
    assert by_class[0]["matches"] == [
        {"field": "pii", "value": "email (contact)", "term": "email", "score": 20}
    ]

    # "people" is the name of one and a description word of the other
    assert [(h["dataset"], h["score"]) for h in found(project, "people")] == [
        ("people", 100),
        ("zones", 5),
    ]
    # a tie on the column: zones also has "city" in its description, so it comes first
    assert [(h["dataset"], h["score"]) for h in found(project, "city")] == [
        ("zones", 50),
        ("people", 50),
    ]
    assert [h["dataset"] for h in found(project, "city", "--limit", "1")] == ["zones"]


def test_search_json_shape_and_table(project: Path) -> None:
    (hit,) = found(project, "trips")
    assert hit == {
        "dataset": "old_trips",
        "score": 40,
        "matches": [
            {"field": "name", "value": "old_trips", "term": "trips", "score": 40},
            {"field": "description", "value": "trips", "term": "trips", "score": 5},
        ],
        "description": "Trips before 2020",
        "owners": ["archive"],
        "version": 0,
        "in_project": False,
    }
    shown = thermocline("search", "email", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert "datasets matching 'email'" in shown.stdout
    assert "pii email (contact)" in shown.stdout
    none = thermocline("search", "nowhere", cwd=project)
    assert none.exit_code == 0, none.stderr
    assert "no dataset matches every word" in none.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [((), "TEXT"), (("  ",), "TEXT"), (("rides", "--limit", "0"), "--limit")],
)
def test_search_bad_input_is_one_line_exit_2(
    project: Path, args: tuple[str, ...], field: str
) -> None:
    result = thermocline("search", *args, cwd=project)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "fix: " in result.stderr
    as_json = thermocline("search", *args, "--json", cwd=project)
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)
    assert (error["exit_code"], error["field"]) == (2, field)
