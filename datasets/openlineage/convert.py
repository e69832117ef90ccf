"""A :class:`~.events.LineageEvent` as openlineage-python's ``RunEvent`` (event_v2 classes and
generated facets), ready for any of its transports. Imported only by the emitter's thread, the
first time there is an event to send: importing openlineage costs about half a second, which
no CLI start and no publish pays.

>>> run_event(LineageEvent("START", now, run_uuid("r1"), "thermocline", "rides.ingest"))
... # doctest: +SKIP
RunEvent(eventTime='2026-12-01T10:00:00+00:00', ...)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    schema_dataset,
    sql_job,
)
from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet
from thermocline.datasets.openlineage.events import LineageDataset, LineageEvent

__all__ = ["PRODUCER", "run_event"]


def _producer() -> str:
    try:
        return f"urn:thermocline:{version('thermocline')}"
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "urn:thermocline"


PRODUCER = _producer()
_INTEGRATION = "THERMOCLINE"


def run_event(event: LineageEvent) -> RunEvent:
    """The client's RunEvent for ``event``."""
    run_facets: dict[str, RunFacet] = {}
    if event.error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=event.error, programmingLanguage="PYTHON", producer=PRODUCER
        )
    job_facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType=event.processing,
            integration=_INTEGRATION,
            jobType=event.job_type,
            producer=PRODUCER,
        )
    }
    if event.sql is not None:
        job_facets["sql"] = sql_job.SQLJobFacet(query=event.sql, producer=PRODUCER)
    return RunEvent(
        eventType=RunState[event.event_type],
        eventTime=event.event_time.isoformat(),
        run=Run(runId=event.run_id, facets=run_facets),
        job=Job(namespace=event.job_namespace, name=event.job_name, facets=job_facets),
        inputs=[InputDataset(d.namespace, d.name, facets=_facets(d)) for d in event.inputs],
        outputs=[OutputDataset(d.namespace, d.name, facets=_facets(d)) for d in event.outputs],
        producer=PRODUCER,
    )


def _facets(dataset: LineageDataset) -> dict[str, DatasetFacet]:
    # dataQualityAssertions is an InputDatasetFacet in the client's class tree; it sits here,
    # among the facets of the version the checks judged (the schema allows any facet there).
    facets: dict[str, Any] = {}
    if dataset.fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=name, type=kind)
                for name, kind in dataset.fields
            ],
            producer=PRODUCER,
        )
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    if dataset.assertions:
        facets["dataQualityAssertions"] = (
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=[
                    data_quality_assertions_dataset.Assertion(
                        assertion=a.check,
                        success=a.passed,
                        column=a.column,
                        severity=a.severity,
                        name=a.name,
                        description=a.description,
                        expected=a.expected,
                        actual=a.actual,
                    )
                    for a in dataset.assertions
                ],
                producer=PRODUCER,
            )
        )
    if dataset.column_lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(namespace=ns, name=name, field=field)
                        for ns, name, field in sources
                    ]
                )
                for column, sources in dataset.column_lineage.items()
            },
            producer=PRODUCER,
        )
    return facets
