"""What the Dagster catalog shows to find a dataset by: PII column tags on the column schema
(on the spec and on each materialization), tags per PII class and column, owners and
descriptions, and derived datasets downstream of their inputs with their column lineage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv

from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import Project
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import demo_rides
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.discovery import (
    COLUMN_LINEAGE,
    COLUMN_SCHEMA,
    asset_tags,
    column_lineage_metadata,
    column_schema,
    tag_part,
)

PROJECT = """
lake: {{uri: {lake}}}
datasets:
  rides:
    description: Taxi rides from CSV drops.
    owners: [data@example.com, team:mobility]
    source: {{kind: files, url: incoming/*.csv, format: csv}}
    schema:
      ride_id: int64
      started_at: timestamp[us, tz=UTC]
      day: date32
      city: string
      distance_km: float64
      fare: float64
      rider_email: string
    partition_by: [day]
    partition_start: 2026-01-01
    pii:
      columns: {{rider_email: allow}}
  daily_fares:
    description: Fares per day.
    owners: [team:pricing]
    source:
      kind: derived
      inputs: [rides]
      partition_wise: true
      sql: SELECT day, sum(fare) AS fares FROM rides GROUP BY day
    partition_by: [day]
    partition_start: 2026-01-01
  city_fares:
    source:
      kind: derived
      inputs: [rides]
      sql: SELECT city, sum(fare) AS fares FROM rides GROUP BY city
"""


def make_project(tmp_path: Path) -> Project:
    (tmp_path / "incoming").mkdir()
    path = tmp_path / "thermocline.yaml"
    path.write_text(PROJECT.format(lake=tmp_path / "lake"))
    return load_project(path)


def found(
    column: str, pii_class: str, review: str = "detected", action: str | None = None
) -> Classification:
    return Classification("rides", column, pii_class, 0.9, "regex", 10, 9, action, review)


def spec_of(defs: dg.Definitions, name: str) -> dg.AssetSpec:
    return next(iter(defs.get_assets_def(name).specs))


def columns_by_name(schema: dg.TableSchema) -> dict[str, dg.TableColumn]:
    return {c.name: c for c in schema.columns}


def test_tag_parts_keep_to_dagsters_characters() -> None:
    assert tag_part("rider e-mail/x") == "rider_e-mail_x"
    assert tag_part("a" * 80) == "a" * 63


def test_column_tags_carry_class_review_and_action() -> None:
    schema = pa.schema([("rider_email", pa.string()), ("phone", pa.string()), ("fare", pa.int64())])
    classified = {
        "rider_email": found("rider_email", "email", action="hash"),
        "phone": found("phone", "phone", review="rejected"),
    }
    columns = columns_by_name(column_schema(schema, classified))
    assert columns["rider_email"].tags == {
        "pii_class": "email",
        "pii_review": "detected",
        "pii_action": "hash",
    }
    assert columns["rider_email"].description == "PII: email (hash; detected)"
    assert columns["phone"].tags == {"pii_class": "none", "pii_review": "rejected"}
    assert columns["phone"].description is None
    assert columns["fare"].tags == {}, "never scanned: no tags"
    assert columns["fare"].type == "int64"


def test_asset_tags_name_the_pii_classes_present_and_the_columns() -> None:
    classified = {
        "rider_email": found("rider_email", "email"),
        "phone": found("phone", "phone", review="rejected"),
        "ip": found("ip", "ip_address", review="confirmed"),
    }
    tags = asset_tags("files", ["ride_id", "rider email"], classified)
    assert tags == {
        "thermocline/source": "files",
        "pii/email": "",
        "pii/ip_address": "",
        "column/ride_id": "",
        "column/rider_email": "",
    }


def test_column_lineage_becomes_dagster_column_lineage() -> None:
    assert column_lineage_metadata(None) == {}
    assert column_lineage_metadata({}) == {}
    lineage = {"fares": [("rides", "fare")], "day": [("rides", "day"), ("trips", "day")]}
    metadata = column_lineage_metadata(lineage)
    deps = metadata[COLUMN_LINEAGE].deps_by_column
    assert [(d.asset_key, d.column_name) for d in deps["day"]] == [
        (dg.AssetKey("rides"), "day"),
        (dg.AssetKey("trips"), "day"),
    ]
    schema = column_schema(pa.schema([("fares", pa.float64())]), {}, lineage)
    assert schema.columns[0].description == "from rides.fare"


def test_specs_carry_owners_descriptions_schema_and_derived_deps(tmp_path: Path) -> None:
    defs = build_definitions(make_project(tmp_path))
    dg.Definitions.validate_loadable(defs)
    rides = spec_of(defs, "rides")
    assert rides.owners == ["data@example.com", "team:mobility"]
    assert rides.description == "Taxi rides from CSV drops."
    assert rides.group_name == "files_sources"
    declared = columns_by_name(rides.metadata[COLUMN_SCHEMA])
    assert list(declared) == [
        "ride_id",
        "started_at",
        "day",
        "city",
        "distance_km",
        "fare",
        "rider_email",
    ]
    assert declared["started_at"].type == "timestamp[us, tz=UTC]"
    assert rides.tags["column/rider_email"] == ""
    assert not any(k.startswith("pii/") for k in rides.tags), "nothing scanned yet"

    daily = spec_of(defs, "daily_fares")
    assert daily.group_name == "derived"
    assert daily.kinds == {"delta", "derived"}
    (dep,) = daily.deps
    assert dep.asset_key == dg.AssetKey("rides")
    assert isinstance(dep.partition_mapping, dg.IdentityPartitionMapping)
    assert defs.get_assets_def("daily_fares").partitions_def == dg.DailyPartitionsDefinition(
        "2026-01-01"
    )
    (city_dep,) = spec_of(defs, "city_fares").deps
    assert city_dep.partition_mapping is None, "an unpartitioned dataset reads all of its input"
    assert defs.get_assets_def("city_fares").partitions_def is None
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("daily_fares")).parent_keys == {dg.AssetKey("rides")}


def test_materializations_and_reloaded_specs_carry_the_pii_findings(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    table = demo_rides(1, 200)
    pacsv.write_csv(table, tmp_path / "incoming" / "rides-0001.csv")
    day = table["day"][0].as_py().isoformat()
    resources = {"thermocline": ThermoclineResource(project_path=str(project.path))}
    defs = build_definitions(project, str(project.path))
    result = dg.materialize(
        [defs.get_assets_def("rides")],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=day,
    )
    (event,) = result.get_asset_materialization_events()
    columns = columns_by_name(event.materialization.metadata[COLUMN_SCHEMA].schema)
    assert columns["rider_email"].tags == {
        "pii_class": "email",
        "pii_review": "detected",
        "pii_action": "allow",
    }
    assert columns["fare"].tags == {"pii_class": "none", "pii_review": "detected"}

    reloaded = spec_of(build_definitions(project, str(project.path)), "rides")
    assert reloaded.tags["pii/email"] == ""
    on_spec = columns_by_name(reloaded.metadata[COLUMN_SCHEMA])
    assert on_spec["rider_email"].tags["pii_class"] == "email"
    assert on_spec["rider_email"].description == "PII: email (allow; detected)"
