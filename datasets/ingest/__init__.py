"""Ingestion: sources (files, SQL, Kafka) -> Arrow batches -> write-audit-publish.

One module per source kind (:mod:`.files`, :mod:`.sql`, :mod:`.kafka`, behind the registry in
:mod:`.sources`), the payload decoders (:mod:`.payloads`), one schema evolution for every path
(:mod:`.evolution`), dead letters (:mod:`.dead_letters`), and the one write-audit-publish run of
a batch source (:mod:`.run`). The names below load on first use, so that importing one module
(say the pure :mod:`.evolution`) does not import the Kafka client, SQLAlchemy and DuckDB.

>>> from thermocline.datasets.ingest import ingest, KafkaIngester       # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thermocline.datasets.ingest.base import SourceBatch, SourceFile
    from thermocline.datasets.ingest.evolution import EvolvedBatch, evolve_schema
    from thermocline.datasets.ingest.kafka import BatchReport, KafkaIngester
    from thermocline.datasets.ingest.run import IngestOutcome, ingest
    from thermocline.datasets.ingest.sources import read_new

__all__ = [
    "BatchReport",
    "EvolvedBatch",
    "IngestOutcome",
    "KafkaIngester",
    "SourceBatch",
    "SourceFile",
    "evolve_schema",
    "ingest",
    "read_new",
]

_HOMES = {
    "BatchReport": "kafka",
    "EvolvedBatch": "evolution",
    "IngestOutcome": "run",
    "KafkaIngester": "kafka",
    "SourceBatch": "base",
    "SourceFile": "base",
    "evolve_schema": "evolution",
    "ingest": "run",
    "read_new": "sources",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` only when it is first used."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
