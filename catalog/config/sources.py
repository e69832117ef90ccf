"""Where a dataset's data comes from: files, a Kafka topic, a SQL table, or other datasets of
the project (a derived dataset)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from thermocline.catalog.config.base import Model, parse_duration

__all__ = ["DerivedSource", "FileSource", "KafkaSource", "Source", "SqlSource"]


class FileSource(Model):
    """Batch files (CSV, JSON lines, Parquet) by fsspec URL or glob: local, s3://, https://."""

    kind: Literal["files"]
    url: str
    format: Literal["csv", "jsonl", "parquet"]
    options: dict[str, str] = Field(
        default_factory=dict, description="fsspec storage options; values may be ${ENV_VAR}."
    )


class KafkaSource(Model):
    """A Kafka topic, decoded as JSON or Avro with the dataset's schema."""

    kind: Literal["kafka"]
    topic: str
    format: Literal["json", "avro"] = "json"
    group: str | None = Field(
        None,
        min_length=1,
        description="the consumer group (default thermocline-<dataset>); `--group` overrides it",
    )
    max_record_bytes: int = Field(
        8 * 1024 * 1024, ge=1, description="a larger record is a dead letter, with the reason"
    )
    compact_every: str = Field(
        "5m",
        description="how often the ingester compacts the table and its dead-letter table, "
        "between its own commits (a duration such as 5m, or `off`)",
    )

    @field_validator("compact_every", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @field_validator("compact_every")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value.strip().lower() != "off" and parse_duration(value) <= 0:
            raise ValueError(f"{value!r}: compact at an interval above zero, or write `off`")
        return value

    @property
    def compact_every_s(self) -> float | None:
        """Seconds between compactions; None when ``compact_every`` is ``off``."""
        if self.compact_every.strip().lower() == "off":
            return None
        return parse_duration(self.compact_every)


class SqlSource(Model):
    """A table or query through SQLAlchemy, incremental by an optional watermark column."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; put the password in ${ENV_VAR}.")
    table: str | None = None
    query: str | None = None
    watermark_column: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        return self


class DerivedSource(Model):
    """Other datasets of the project, combined by a DuckDB SQL query or a Python function.

    Each run reads every input at its latest version (a pinned, consistent snapshot), so the
    derived version records exactly which input versions it was computed from; a run whose
    inputs have no new version since the last one publishes nothing. In ``sql`` each input is
    a table named by its dataset name; ``function`` is ``module:name``, called as
    ``fn(inputs: dict[str, pyarrow.Table]) -> pyarrow.Table``. A changed query or function
    recomputes everything on the next run. ``partition_wise`` is a promise about the query, so
    it is opt-in: a query that mixes partitions would otherwise publish stale rows silently.
    """

    kind: Literal["derived"]
    inputs: list[str] = Field(min_length=1, description="dataset names of this project")
    sql: str | None = Field(None, description="a DuckDB query over the inputs, by dataset name")
    function: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function taking {dataset: pyarrow.Table}, returning a Table",
    )
    partition_wise: bool = Field(
        False,
        description="each partition of the result depends only on the same partition of the "
        "inputs partitioned like it (a per-day query): a run then recomputes only the "
        "partitions whose input files changed, and partition runs are allowed. Leave it off "
        "for queries that mix partitions (running totals, windows over days)",
    )

    @model_validator(mode="after")
    def _sql_or_function(self) -> DerivedSource:
        if (self.sql is None) == (self.function is None):
            raise ValueError("give exactly one of `sql` or `function`")
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs {self.inputs} name a dataset twice")
        return self


Source = Annotated[
    FileSource | KafkaSource | SqlSource | DerivedSource, Field(discriminator="kind")
]
