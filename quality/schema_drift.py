"""``schema_drift``: what a batch changes in its table's schema, judged per kind of change.

Schema evolution (:mod:`thermocline.datasets.ingest.evolution`) lets a batch add columns, leave
table columns out (filled with nulls) and bring a column in another type (cast when safe); the
caller hands what it did over as :class:`~thermocline.quality.results.SchemaChanges`. Each kind
has its own severity (``added: warn``, ``removed: error``, ``retyped: error`` by default;
``ignore`` lets it through), and the one result takes the most severe kind that occurred, so
an added column alone warns while a removed one blocks.

>>> from datetime import UTC, datetime
>>> from thermocline.catalog.config import SchemaDriftCheck
>>> from thermocline.quality.results import SchemaChanges
>>> spec = SchemaDriftCheck(check="schema_drift")
>>> result = check_schema_drift(spec, "schema_drift", SchemaChanges(added={"tip": "double"}))
>>> result.passed, result.severity, result.message
(False, 'warn', 'added tip (double)')
"""

from __future__ import annotations

from thermocline.catalog.config import SchemaDriftCheck
from thermocline.quality.messages import show_column, show_list
from thermocline.quality.results import CheckResult, MetadataValue, SchemaChanges, Severity

__all__ = ["check_schema_drift"]

_RANK = {"ignore": 0, "warn": 1, "error": 2}


def check_schema_drift(
    spec: SchemaDriftCheck, name: str, changes: SchemaChanges | None
) -> CheckResult:
    """One result: failed when the batch made a change of a kind whose severity is not
    ``ignore``; its severity is the most severe such kind. ``observed`` counts the changes
    judged, ``sample`` lists them. Unknown changes (None: the table's first batch) pass."""
    if changes is None:
        message = "no earlier version to compare with (the table's first batch)"
        return CheckResult(name, spec.check, spec.severity, True, message, {}, engine="history")
    kinds: list[tuple[str, str, list[str]]] = [
        ("added", spec.added, [f"{show_column(c)} ({t})" for c, t in changes.added.items()]),
        ("removed", spec.removed, [show_column(c) for c in changes.removed]),
        (
            "retyped",
            spec.retyped,
            [f"{show_column(c)} ({old} -> {new})" for c, (old, new) in changes.retyped.items()],
        ),
    ]
    metadata: dict[str, MetadataValue] = {kind: len(items) for kind, _, items in kinds}
    judged = [(kind, level, items) for kind, level, items in kinds if items and level != "ignore"]
    ignored = [(kind, items) for kind, level, items in kinds if items and level == "ignore"]
    watched = [kind for kind, level, _ in kinds if level != "ignore"]
    threshold = "no " + " or ".join(watched) if watched else None
    if not judged:
        message = "no columns added, removed or retyped"
        if ignored:
            message = "only ignored changes: " + "; ".join(
                f"{kind} {show_list(items)}" for kind, items in ignored
            )
        return CheckResult(
            name,
            spec.check,
            spec.severity,
            True,
            message,
            metadata,
            engine="history",
            observed=0,
            threshold=threshold,
        )
    severity: Severity = "error" if any(level == "error" for _, level, _ in judged) else "warn"
    message = "; ".join(f"{kind} {show_list(items)}" for kind, _, items in judged)
    changed = [item for _, _, items in judged for item in items]
    return CheckResult(
        name,
        spec.check,
        severity,
        False,
        message,
        metadata,
        engine="history",
        observed=len(changed),
        threshold=threshold,
        sample=tuple(changed[:10]),
    )
