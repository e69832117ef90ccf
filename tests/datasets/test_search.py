"""Search ranking (pure) and ``search_records`` on a real local lake: the project's datasets,
one the registry alone still knows, catalog tags and PII classifications."""

from __future__ import annotations

import pyarrow as pa
import pytest

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import DatasetSpec
from thermocline.catalog.errors import InputError
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.search import search, search_records
from thermocline.datasets.tables.search_rank import SearchRecord, rank
from thermocline.datasets.tables.writes import write

RECORDS = [
    SearchRecord("email", description="bounced mail"),
    SearchRecord("rides", description="taxi rides", columns=("ride_id", "email")),
    SearchRecord("riders", description="who rides", owners=("email",)),
    SearchRecord("trips", description="email campaigns of the taxi firm"),
    SearchRecord("zones", columns=("zone_id",)),
]


def test_rank_orders_name_column_label_description() -> None:
    found = rank(RECORDS, "email")
    assert [(h.dataset, h.score) for h in found] == [
        ("email", 100),
        ("rides", 50),
        ("riders", 20),
        ("trips", 5),
    ]
    assert [(m.field, m.value) for m in found[1].matches] == [("column", "email")]


def test_rank_parts_every_term_and_limit() -> None:
    # "rid" is part of two names, of a column of rides and starts a word of both descriptions;
    # "taxi" is a description word of rides and trips: only rides has both terms
    found = rank(RECORDS, "RID taxi")
    assert [(h.dataset, h.score) for h in found] == [("rides", 40 + 5)]
    assert [(m.field, m.value, m.score) for m in found[0].matches] == [
        ("name", "rides", 40),
        ("column", "ride_id", 30),
        ("description", "taxi", 5),
        ("description", "rides", 2),
    ]
    assert [h.dataset for h in rank(RECORDS, "rid", limit=1)] == ["rides"]  # more matches
    assert rank(RECORDS, "nothing") == []


@pytest.mark.parametrize(("text", "limit"), [("", 5), ("  \t", 5), ("rides", 0)])
def test_rank_refuses_empty_text_and_no_limit(text: str, limit: int) -> None:
    with pytest.raises(InputError, match="fix: "):
        rank(RECORDS, text, limit)


def test_records_from_project_registry_tags_and_pii(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    specs = {
        "rides": DatasetSpec.model_validate(
            {"description": "Taxi rides", "owners": ["ana@example.com"], "schema": {"id": "int64"}}
        ),
        "zones": DatasetSpec.model_validate({"schema": {"zone_id": "int64", "name": "string"}}),
    }
    rides = pa.table({"id": [1, 2], "rider_email": ["a@x.org", "b@x.org"], "fare": [1.0, 2.0]})
    write(catalog, "rides", rides)
    catalog.set_tag("golden", "rides", 0)
    catalog.register("legacy", {"description": "old exports", "owners": ["bo"], "schema": None})
    write(catalog, "legacy", pa.table({"card": ["4111111111111111"]}))
    scan = Classification("rides", "rider_email", "email", 1.0, "email", 2, 2, version=0)
    fare = Classification("rides", "fare", "none", 1.0, "none", 2, 0, version=0)
    card = Classification("legacy", "card", "credit_card", 1.0, "luhn", 1, 1, version=0)
    catalog.pii.record([scan, fare, card], user="test")
    catalog.pii.review("legacy", "card", user="test", reject=True)

    assert catalog.pii.current_all() == {d: catalog.pii.current(d) for d in ("legacy", "rides")}
    found = {r.dataset: r for r in search_records(catalog, specs)}
    assert list(found) == ["legacy", "rides", "zones"]
    assert found["rides"] == SearchRecord(
        "rides",
        "Taxi rides",
        ("ana@example.com",),
        ("golden",),
        ("id", "rider_email", "fare"),  # the table's latest schema, not the declared one
        {"rider_email": "email"},
        True,
        0,
    )
    assert found["zones"].columns == ("zone_id", "name")  # no table yet: the declared schema
    assert (found["zones"].version, found["legacy"].in_project) == (None, False)
    assert found["legacy"].owners == ("bo",)
    assert found["legacy"].pii == {}  # a rejected finding is no class

    assert [h.dataset for h in search(catalog, specs, "email")] == ["rides"]
    assert [h.dataset for h in search(catalog, specs, "bo")] == ["legacy"]
    assert [h.dataset for h in search(catalog, specs, "golden")] == ["rides"]
    assert search(catalog, specs, "credit_card") == []
