"""The project file's models: the lake, Kafka, and a spec per dataset (sources, checks, PII,
tiering); :mod:`thermocline.catalog.project_file` finds and loads the file into them.

One file describes a project: the lake (URI and storage options), the Kafka connection and a
spec per dataset. Values may reference environment variables as ``${NAME}`` or
``${NAME:-default}``; the model keeps the reference and :func:`expand_env` resolves it where the
value is used, so secrets never sit in a model that could be printed or logged.

>>> from thermocline.catalog.project_file import load_project
>>> project = load_project("thermocline.yaml")      # doctest: +SKIP
>>> project.datasets["rides"].partition_by           # doctest: +SKIP
['day']
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pyarrow as pa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from thermocline.catalog.arrow_types import parse_arrow_type
from thermocline.catalog.errors import ConfigError

__all__ = [
    "AcceptedValuesCheck",
    "Check",
    "CompletenessCheck",
    "DatasetSpec",
    "FileSource",
    "FreshnessCheck",
    "KafkaConfig",
    "KafkaSource",
    "LakeConfig",
    "NotNullCheck",
    "PiiAction",
    "PiiColumnRule",
    "PiiPolicy",
    "PiiSettings",
    "Project",
    "QualityConfig",
    "RangeCheck",
    "RowCountCheck",
    "SchemaCheck",
    "Source",
    "SqlSource",
    "TieringPolicy",
    "UniqueCheck",
    "expand_env",
    "field_names",
    "parse_duration",
]


# ${NAME} or ${NAME:-default} in a project-file value
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _Model(BaseModel):
    """Strict base: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- lake and Kafka -------------------------------------------------------------------------


class LakeConfig(_Model):
    """Where the lake lives: a local folder (relative to the project file) or ``s3://bucket/prefix``."""

    uri: str = "./lake"
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="delta-rs style options, e.g. AWS_ENDPOINT_URL; values may be ${ENV_VAR}.",
    )

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme not in ("", "file", "s3"):
            raise ValueError(
                f"unsupported scheme {scheme!r}; use a local path, file:///path or s3://bucket/prefix"
            )
        if scheme == "s3" and not uri[len("s3://") :].split("/", 1)[0]:
            raise ValueError("an s3 URI needs a bucket: s3://bucket/prefix")
        return uri


class KafkaConfig(_Model):
    """How to reach Kafka; ``options`` are extra librdkafka settings (values may be ${ENV_VAR})."""

    bootstrap_servers: str
    schema_registry_url: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


# --- sources ---------------------------------------------------------------------------------


class FileSource(_Model):
    """Batch files (CSV, JSON lines, Parquet) by fsspec URL or glob: local, s3://, https://."""

    kind: Literal["files"]
    url: str
    format: Literal["csv", "jsonl", "parquet"]
    options: dict[str, str] = Field(
        default_factory=dict, description="fsspec storage options; values may be ${ENV_VAR}."
    )


class KafkaSource(_Model):
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


class SqlSource(_Model):
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


Source = Annotated[FileSource | KafkaSource | SqlSource, Field(discriminator="kind")]


# --- quality ---------------------------------------------------------------------------------


class _CheckBase(_Model):
    severity: Literal["error", "warn"] = Field(
        "error", description="error blocks publishing and quarantines the batch; warn only shows."
    )


class SchemaCheck(_CheckBase):
    """The batch has the dataset's declared schema."""

    check: Literal["schema"]


class NotNullCheck(_CheckBase):
    check: Literal["not_null"]
    columns: list[str] = Field(min_length=1)


class UniqueCheck(_CheckBase):
    check: Literal["unique"]
    columns: list[str] = Field(min_length=1)


class AcceptedValuesCheck(_CheckBase):
    check: Literal["accepted_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class RangeCheck(_CheckBase):
    check: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> RangeCheck:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class CompletenessCheck(_CheckBase):
    """At least ``min_ratio`` of the column's values are non-null."""

    check: Literal["completeness"]
    column: str
    min_ratio: float = Field(gt=0, le=1)


class RowCountCheck(_CheckBase):
    """The batch's row count is at least ``min_rows`` and within ``max_change`` of recent ones."""

    check: Literal["row_count"]
    min_rows: int = Field(1, ge=0)
    max_change: float | None = Field(
        None, gt=0, description="largest allowed relative change against the previous versions"
    )


class FreshnessCheck(_CheckBase):
    """The newest value of ``column`` is younger than ``max_age`` (e.g. 1h, 30m, 7d)."""

    check: Literal["freshness"]
    column: str
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


Check = Annotated[
    SchemaCheck
    | NotNullCheck
    | UniqueCheck
    | AcceptedValuesCheck
    | RangeCheck
    | CompletenessCheck
    | RowCountCheck
    | FreshnessCheck,
    Field(discriminator="check"),
]


class QualityConfig(_Model):
    checks: list[Check] = Field(default_factory=list)
    suite: str | None = Field(None, description="path to a Great Expectations suite (JSON)")


PiiAction = Literal["allow", "mask", "hash", "drop", "block", "generalize"]
"""What happens to a column that holds personal data, between decode and stage:

- ``allow``: stored in clear (the loader still refuses it unless ``allow_pii`` names it);
- ``mask``: every character but the last ``keep`` replaced with ``*``;
- ``hash``: keyed HMAC-SHA256 (hex), the same value gives the same hash in every dataset;
- ``drop``: the column is not stored;
- ``block``: the batch is quarantined with the PII reason, nothing is published;
- ``generalize``: truncated (dates to ``to``: year or month; coordinates to 2 decimals;
  IPv4 to /24, IPv6 to /48).
"""


class PiiColumnRule(_Model):
    """The policy of one column, when it needs more than the action's name."""

    action: PiiAction
    keep: int = Field(4, ge=0, description="mask: how many trailing characters stay in clear")
    to: Literal["year", "month"] = Field(
        "year", description="generalize: what a date keeps (year or month)"
    )


class PiiPolicy(_Model):
    """What happens to columns that hold personal data (see :data:`PiiAction`).

    ``columns`` names a rule per column, as an action (``rider_email: hash``) or a rule
    (``card: {action: mask, keep: 4}``). A column the scan classifies as PII that ``columns``
    does not list (also one that appears in a later batch) gets ``default_action``; ``block``,
    the default, keeps clear PII out of every Parquet file until a person decides.
    """

    scan: bool = Field(True, description="classify the columns of every batch")
    sample_rows: int = Field(
        10_000, ge=1, description="values sampled per column per batch (all of a smaller batch)"
    )
    default_action: PiiAction = Field(
        "block", description="for detected PII columns not listed in `columns`"
    )
    columns: dict[str, PiiAction | PiiColumnRule] = Field(default_factory=dict)

    def rule(self, column: str) -> PiiColumnRule | None:
        """The configured rule of ``column``, or None when ``columns`` does not list it."""
        rule = self.columns.get(column)
        if rule is None or isinstance(rule, PiiColumnRule):
            return rule
        return PiiColumnRule(action=rule)


class PiiSettings(_Model):
    """Project-wide PII settings: the HMAC key is one for the whole project, so a value hashes
    the same in every dataset and joins on hashed columns still work."""

    hash_key_env: str = Field(
        "THERMOCLINE_PII_KEY",
        description="environment variable that holds the HMAC key of `hash` (never logged)",
    )


class TieringPolicy(_Model):
    """When data moves from hot to warm to cold, by partition age."""

    warm_after_days: int = Field(30, ge=1)
    cold_after_days: int | None = Field(180, ge=1)
    target_file_mb: int = Field(128, ge=1, description="compaction target")

    @model_validator(mode="after")
    def _cold_after_warm(self) -> TieringPolicy:
        if self.cold_after_days is not None and self.cold_after_days <= self.warm_after_days:
            raise ValueError(
                f"cold_after_days ({self.cold_after_days}) must be greater than "
                f"warm_after_days ({self.warm_after_days})"
            )
        return self


# --- datasets and the project ----------------------------------------------------------------


class DatasetSpec(_Model):
    """One dataset: where it comes from, its shape, and the rules it is kept under.

    ``primary_key`` makes every key unique across the whole table, not only within a batch:
    a batch row whose key is already published (or that repeats a key of its own batch) is
    handled by ``on_duplicate``. The default, ``reject``, quarantines the batch naming the keys
    and publishes nothing: a replayed or overlapping export is the usual cause, and neither
    silently rewriting rows a training run may already have read (``update``) nor silently
    dropping data (``ignore``) is safe to assume. Choose ``update`` for change feeds (the
    latest row of a key wins, also within one batch) and ``ignore`` for at-least-once sources
    whose repeats are identical (the first row of a key wins).
    """

    description: str = ""
    owners: list[str] = Field(default_factory=list)
    source: Source | None = None
    schema_: dict[str, str] | Literal["infer"] = Field(
        "infer",
        alias="schema",
        description="column -> Arrow type (int64, string, timestamp[us, tz=UTC], list<float32>)"
        ", or `infer`",
    )
    partition_by: list[str] = Field(default_factory=list)
    partition_start: date | None = Field(
        None,
        description="first day of the Dagster partitions (daily, one per value of the first "
        "partition_by column); each run of a partition replaces that Delta partition",
    )
    primary_key: list[str] = Field(default_factory=list)
    on_duplicate: Literal["reject", "update", "ignore"] = Field(
        "reject",
        description="what a batch row whose primary key is already in the table does: reject "
        "(the batch is quarantined naming the keys), update (merged: the new row replaces the "
        "old) or ignore (dropped, counted in the commit)",
    )
    tiering: TieringPolicy = Field(default_factory=TieringPolicy)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _arrow_types(cls, schema: dict[str, str] | str) -> dict[str, str] | str:
        if isinstance(schema, dict):
            for column, type_name in schema.items():
                try:
                    parse_arrow_type(type_name)
                except ValueError as error:
                    raise ValueError(f"column {column!r}: {error}") from None
        return schema

    def arrow_schema(self) -> pa.Schema | None:
        """The declared schema as Arrow, or None when it is inferred."""
        if not isinstance(self.schema_, dict):
            return None
        return pa.schema([(c, parse_arrow_type(t)) for c, t in self.schema_.items()])

    @model_validator(mode="after")
    def _known_columns(self) -> DatasetSpec:
        if self.partition_start is not None and not self.partition_by:
            raise ValueError("partition_start needs partition_by: the column holding the day")
        if "on_duplicate" in self.model_fields_set and not self.primary_key:
            raise ValueError("on_duplicate needs primary_key: the columns that identify a row")
        if not isinstance(self.schema_, dict):
            return self
        for key, columns in self._column_references():
            unknown = [c for c in columns if c not in self.schema_]
            if unknown:
                raise ValueError(
                    f"{key} names {unknown} which are not in `schema` "
                    f"(columns: {', '.join(self.schema_)}); fix: add the column to `schema` "
                    "or correct the name"
                )
        dropped = {c for c in self.pii.columns if (r := self.pii.rule(c)) and r.action == "drop"}
        for key, columns in self._column_references():
            gone = [c for c in columns if c in dropped and key != "pii.columns"]
            if gone:
                raise ValueError(
                    f"{key} names {gone} which pii.columns drops (the column is gone before "
                    "checks and staging); fix: hash or mask it instead, or leave it out of "
                    f"{key.split(' ')[0]}"
                )
        for column in self.pii.columns:
            rule = self.pii.rule(column)
            type_name = self.schema_[column]
            if rule is not None and rule.action == "generalize" and not _generalizes(type_name):
                raise ValueError(
                    f"pii.columns.{column}: cannot generalize a {type_name} column (dates, "
                    "timestamps, floating-point coordinates and strings holding dates, "
                    "coordinates or IP addresses can); fix: use hash, mask or drop"
                )
        return self

    def _column_references(self) -> Iterator[tuple[str, list[str]]]:
        """(key as written, the columns it names) for every key that names columns."""
        yield "partition_by", self.partition_by
        yield "primary_key", self.primary_key
        for index, check in enumerate(self.quality.checks):
            named = getattr(check, "columns", None) or [getattr(check, "column", None)]
            yield f"quality.checks[{index}] ({check.check})", [c for c in named if c]
        yield "pii.columns", list(self.pii.columns)


def _generalizes(type_name: str) -> bool:
    """Whether ``generalize`` has a meaning for a declared column type (the ingest-time rule
    lives in :mod:`thermocline.quality.pii.policy`; this one reads the declared name)."""
    type_ = parse_arrow_type(type_name)
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return bool(
        pa.types.is_date(type_)
        or pa.types.is_timestamp(type_)
        or pa.types.is_floating(type_)
        or pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
    )


class Project(_Model):
    """The whole project file. Load it with :func:`load_project`."""

    lake: LakeConfig = Field(default_factory=LakeConfig)
    kafka: KafkaConfig | None = None
    pii: PiiSettings = Field(default_factory=PiiSettings)
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, datasets: dict[str, DatasetSpec]) -> dict[str, DatasetSpec]:
        for name in datasets:
            if not _DATASET_NAME.match(name):
                raise ValueError(
                    f"dataset name {name!r} must be lowercase letters, digits and _ and start "
                    "with a letter (it names a folder in the lake and a Dagster asset)"
                )
        return datasets

    @property
    def path(self) -> Path | None:
        """The file this project was loaded from; relative paths resolve against its folder."""
        return self._path

    @property
    def root(self) -> Path:
        return self._path.parent if self._path is not None else Path.cwd()

    def resolve_url(self, url: str) -> str:
        """``url`` as written in the project file, with a relative path made absolute."""
        return url if "://" in url or Path(url).is_absolute() else str(self.root / url)

    def dataset(self, name: str) -> DatasetSpec:
        """The spec of ``name``, or a :class:`ConfigError` listing the datasets there are."""
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise ConfigError(
                f"unknown dataset {name!r} in {self._path or 'the project'}; datasets: {known}"
            ) from None


def expand_env(value: str, environ: Mapping[str, str] | None = None, field: str = "value") -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in ``value`` from the environment."""
    environ = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{field}: environment variable {name} is not set; fix: export {name}=... "
            f"or write ${{{name}:-default}}",
            field=field,
        )

    return _ENV_REFERENCE.sub(replace, value)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``15m``, ``1h``, ``7d``, ``2w``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 1h, 7d")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def field_names() -> list[str]:
    """Every key the project file accepts, for "did you mean" in its errors."""
    models = [v for v in globals().values() if isinstance(v, type) and issubclass(v, _Model)]
    return sorted({info.alias or name for m in models for name, info in m.model_fields.items()})
