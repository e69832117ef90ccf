"""Ingestion: sources (files, SQL, Kafka) -> Arrow batches -> write-audit-publish.

One module per source kind (:mod:`.files`, :mod:`.sql`, :mod:`.kafka`), the payload decoders
(:mod:`.payloads`), one schema evolution for every path (:mod:`.evolution`), dead letters
(:mod:`.dead_letters`), and the one write-audit-publish run of a batch source (:mod:`.run`).
"""

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
