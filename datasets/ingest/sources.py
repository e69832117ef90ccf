"""The batch-source registry: one reader per source kind, all of the same shape.

Each source module (:mod:`.files`, :mod:`.sql`, :mod:`.derived`) exposes ``read_new(dataset,
spec, source, table, project, *, urls, max_files, environ, catalog) -> SourceBatch | None``:
what the source has that the table has not consumed, plus the source position its publishing
commit must carry (DESIGN.md > Decisions 2 and 3). A derived source reads other datasets, so
it needs the ``catalog`` (the others ignore it). Kafka topics are streams, ingested by
:class:`~thermocline.datasets.ingest.kafka.KafkaIngester`, not read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from deltalake import DeltaTable

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, DerivedSource, FileSource, Project, SqlSource
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.lake import Lake
from thermocline.datasets.ingest import derived, files, sql
from thermocline.datasets.ingest.base import SourceBatch, open_or_none

__all__ = ["READERS", "SourceReader", "read_new"]


class SourceReader(Protocol):
    """The shape every batch source module's ``read_new`` has."""

    def __call__(
        self,
        dataset: str,
        spec: DatasetSpec,
        source: Any,
        table: DeltaTable | None,
        project: Project | None,
        *,
        urls: Sequence[str] | None,
        max_files: int | None,
        environ: Mapping[str, str] | None,
        catalog: Catalog | None,
    ) -> SourceBatch | None: ...


READERS: dict[type, SourceReader] = {
    FileSource: files.read_new,
    SqlSource: sql.read_new,
    DerivedSource: derived.read_new,
}


def read_new(
    lake: Lake,
    dataset: str,
    spec: DatasetSpec,
    project: Project | None = None,
    *,
    urls: Sequence[str] | None = None,
    max_files: int | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> SourceBatch | None:
    """Read what the dataset's source has that the table has not consumed; None if nothing.

    No checks run here: the caller stages ``data``, judges it, and publishes or quarantines.
    ``urls`` replaces the listing of a file source (HTTP servers cannot be globbed);
    ``max_files`` caps one batch (call again for the rest). A :class:`SchemaEvolutionError`
    carries the unconformed batch in ``error.batch`` so the caller can quarantine it.
    ``catalog`` (default: the lake's) resolves and gates the input versions of a derived source.

    >>> batch = read_new(lake, "rides", spec, project)                      # doctest: +SKIP
    >>> batch.description                                                    # doctest: +SKIP
    '2 new file(s) from landing/*.csv: a.csv, b.csv (1.2 MB)'
    """
    source = spec.source
    reader = READERS.get(type(source))
    if reader is None:
        kind = "no source" if source is None else f"a {source.kind} source"
        raise ConfigError(
            f"datasets.{dataset} has {kind}; read_new reads `kind: files`, `kind: sql` and "
            "`kind: derived` sources (Kafka topics are ingested by the Kafka service)"
        )
    table = open_or_none(lake, dataset)
    return reader(
        dataset,
        spec,
        source,
        table,
        project,
        urls=urls,
        max_files=max_files,
        environ=environ,
        catalog=catalog if catalog is not None else Catalog(lake),
    )
