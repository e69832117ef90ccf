"""Column lineage of a derived query (pure: sqlglot over the inputs' Arrow schemas)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from thermocline.datasets.ingest.derived_columns import column_lineage

SCHEMAS = {
    "trips": pa.schema(
        [("id", pa.int64()), ("day", pa.date32()), ("zone", pa.int64()), ("fare", pa.float64())]
    ),
    "zones": pa.schema([("zone", pa.int64()), ("name", pa.string())]),
}


def test_a_join_with_aliases_maps_each_output_to_its_table() -> None:
    sql = """
        SELECT t.day, z.name AS zone_name, count(*) AS rides, sum(t.fare) AS fares
        FROM trips AS t JOIN zones AS z ON t.zone = z.zone GROUP BY t.day, z.name
    """
    assert column_lineage(sql, SCHEMAS) == {
        "day": [("trips", "day")],
        "zone_name": [("zones", "name")],
        "rides": [],
        "fares": [("trips", "fare")],
    }


def test_an_expression_names_every_column_it_reads() -> None:
    sql = "SELECT t.fare / t.zone + length(z.name) AS mixed FROM trips t JOIN zones z USING (zone)"
    assert column_lineage(sql, SCHEMAS) == {
        "mixed": [("trips", "fare"), ("trips", "zone"), ("zones", "name")]
    }


def test_star_expands_to_every_input_column() -> None:
    lineage = column_lineage("SELECT * FROM zones", SCHEMAS)
    assert lineage == {"zone": [("zones", "zone")], "name": [("zones", "name")]}


def test_star_over_a_join_using_a_key_names_both_sides_of_the_key() -> None:
    lineage = column_lineage("SELECT * FROM trips JOIN zones USING (zone)", SCHEMAS)
    assert lineage is not None
    assert list(lineage) == ["id", "day", "zone", "fare", "name"]
    assert lineage["zone"] == [("trips", "zone"), ("zones", "zone")]
    assert lineage["name"] == [("zones", "name")]


def test_ctes_and_subqueries_are_followed_to_the_inputs() -> None:
    sql = """
        WITH daily AS (SELECT day, fare * 100 AS cents FROM trips)
        SELECT d.day AS at, (SELECT max(cents) FROM daily) AS top FROM daily AS d
    """
    assert column_lineage(sql, SCHEMAS) == {"at": [("trips", "day")], "top": [("trips", "fare")]}


@pytest.mark.parametrize(
    "sql",
    [None, "", "SELEC nonsense", "SELECT 1; SELECT 2", "SELECT nope FROM trips", "DROP TABLE x"],
)
def test_what_cannot_be_known_is_none(sql: str | None) -> None:
    assert column_lineage(sql, SCHEMAS) is None
