"""Load batch files of a dataset into its Delta table.

This is the plain path: read with the spec's schema, commit once. Write-audit-publish,
incremental file tracking and checks wrap around it in later layers.
"""

from __future__ import annotations

import pyarrow as pa

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import DatasetSpec, FileSource
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.lake import Lake
from thermocline.datasets.files import read_file
from thermocline.datasets.writes import write

__all__ = ["ingest_files"]


def ingest_files(lake: Lake, name: str, spec: DatasetSpec, urls: list[str]) -> int:
    """Read ``urls`` as the dataset's file source describes and commit them as one version."""
    if not isinstance(spec.source, FileSource):
        raise ConfigError(f"datasets.{name}.source: expected `kind: files` to ingest files")
    if not urls:
        raise ConfigError(f"datasets.{name}: no files to ingest; check source.url")
    schema = spec.arrow_schema()
    tables = [read_file(url, spec.source.format, schema, spec.source.options) for url in urls]
    batch = pa.concat_tables(tables)
    reason = f"ingest {len(urls)} file(s): " + ", ".join(url.rsplit("/", 1)[-1] for url in urls)
    Catalog(lake).register(name, spec.model_dump(mode="json", by_alias=True))
    return write(lake, name, batch, partition_by=spec.partition_by, reason=reason)
