"""Validate OpenLineage events against the spec's JSON schemas (``openlineage_spec/``).

The event is validated against ``OpenLineage.json`` (the RunEvent shape, runId a UUID), and
each facet against the schema its ``_schemaURL`` names: the URL openlineage-python's classes
put there. A URL whose schema is not here fails.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "openlineage_spec"
BASE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SPEC.glob("*.json")):
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=FormatChecker())


def facets_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every facet of ``event``: run, job, and each dataset's facets, inputFacets, outputFacets."""
    found = list((event["run"].get("facets") or {}).values())
    found += list((event["job"].get("facets") or {}).values())
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            found += list((dataset.get(key) or {}).values())
    return found


def validate(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` and each facet fit the spec."""
    assert event["schemaURL"].startswith(BASE), event["schemaURL"]
    _validator(event["schemaURL"]).validate(event)
    for facet in facets_of(event):
        url = facet["_schemaURL"]
        registry().get_or_retrieve(url.split("#")[0])  # a schema we do not have: fail here
        _validator(url).validate(facet)
