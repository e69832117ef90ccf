"""A dataset's spec and the whole project file, with the checks that span keys (a check, a
PII rule or a key naming a column the schema lacks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from thermocline.catalog.arrow_types import parse_arrow_type
from thermocline.catalog.config.automation import AutomationPolicy
from thermocline.catalog.config.base import Model
from thermocline.catalog.config.history import HistoryPolicy
from thermocline.catalog.config.lake import KafkaConfig, LakeConfig
from thermocline.catalog.config.lineage import LineageSettings
from thermocline.catalog.config.models import ModelSpec
from thermocline.catalog.config.pii import PiiPolicy, PiiSettings
from thermocline.catalog.config.quality import Check, QualityConfig, QualitySettings
from thermocline.catalog.config.sources import DerivedSource, Source
from thermocline.catalog.config.tiering import TieringPolicy, TieringSettings
from thermocline.catalog.errors import ConfigError

__all__ = ["DatasetSpec", "Project", "field_names"]

_DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class DatasetSpec(Model):
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
    history: HistoryPolicy = Field(default_factory=HistoryPolicy)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    automation: AutomationPolicy = Field(default_factory=AutomationPolicy)

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
        if isinstance(self.source, DerivedSource):
            if self.source.partition_wise and not self.partition_by:
                raise ValueError(
                    "source.partition_wise needs partition_by: the column whose partitions "
                    "the query computes one by one"
                )
            if self.partition_start is not None and not self.source.partition_wise:
                raise ValueError(
                    "partition_start on a derived dataset runs one partition at a time, which "
                    "is right only for a per-partition query; fix: set source.partition_wise: "
                    "true if each day depends only on the same day of its inputs, or remove "
                    "partition_start"
                )
        if "on_duplicate" in self.model_fields_set and not self.primary_key:
            raise ValueError("on_duplicate needs primary_key: the columns that identify a row")
        if self.source is not None and self.source.kind == "kafka":
            for index, check in enumerate(self.quality.checks):
                key = f"quality.checks[{index}] ({check.check})"
                if check.check == "volume" or (
                    check.check == "row_count" and check.max_change is not None
                ):
                    raise ValueError(
                        f"{key} compares batch row counts, and a Kafka micro-batch's size "
                        "follows the traffic; fix: remove it (or row_count's max_change; a "
                        "freshness check tells a stalled topic)"
                    )
                if check.check == "schema_drift":
                    never = sorted({"removed", "retyped"} & check.model_fields_set)
                    if never:
                        raise ValueError(
                            f"{key}: {' and '.join(never)} cannot happen on a Kafka topic (a "
                            "record without a field is a null, one of another type a dead "
                            f"letter); fix: remove {', '.join(never)} (added is judged)"
                        )
        if not isinstance(self.schema_, dict):
            return self
        for index, check in enumerate(self.quality.checks):
            if check.check == "distribution_drift" and check.method == "ks":
                type_ = parse_arrow_type(self.schema_.get(check.column, "int64"))
                if not (pa.types.is_integer(type_) or pa.types.is_floating(type_)):
                    raise ValueError(
                        f"quality.checks[{index}] (distribution_drift): method ks needs a numeric "
                        f"column, {check.column} is {self.schema_[check.column]}; fix: use "
                        "method: psi (it bins categories by value)"
                    )
        if self.quality.defaults and _time_column(self) == "*":
            raise ValueError(
                "quality.defaults: true needs a timestamp or date column for its freshness "
                f"check, and `schema` declares none (columns: {', '.join(self.schema_)}); fix: "
                "declare the event-time column, or list a completeness check instead"
            )
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
            # "*" is every column (completeness) or the first timestamp column (freshness)
            yield f"quality.checks[{index}] ({check.check})", [c for c in named if c and c != "*"]
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


class Project(Model):
    """The whole project file. Load it with :func:`load_project`."""

    lake: LakeConfig = Field(default_factory=LakeConfig)
    kafka: KafkaConfig | None = None
    pii: PiiSettings = Field(default_factory=PiiSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    tiering: TieringSettings = Field(default_factory=TieringSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="models trained on a dataset, one Dagster asset each"
    )

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("datasets", "models")
    @classmethod
    def _names(cls, named: dict[str, Any]) -> dict[str, Any]:
        for name in named:
            if not _DATASET_NAME.match(name):
                raise ValueError(
                    f"name {name!r} must be lowercase letters, digits and _ and start with a "
                    "letter (a dataset name names a folder in the lake; a dataset or model "
                    "name, a Dagster asset)"
                )
        return named

    @model_validator(mode="after")
    def _derived_inputs(self) -> Project:
        """A derived dataset reads datasets of this project, and no dataset reads itself
        through its inputs (the asset graph must be acyclic)."""
        known = ", ".join(sorted(self.datasets))
        inputs: dict[str, list[str]] = {}
        for name, spec in self.datasets.items():
            if not isinstance(spec.source, DerivedSource):
                continue
            for input_name in spec.source.inputs:
                if input_name not in self.datasets:
                    raise ValueError(
                        f"datasets.{name}.source.inputs names {input_name!r}, which the project "
                        f"lacks (datasets: {known}); fix: correct the name or add the dataset"
                    )
            inputs[name] = spec.source.inputs
        for start in inputs:
            path = _cycle(start, inputs)
            if path:
                raise ValueError(
                    f"datasets.{start}.source.inputs: the datasets read each other in a cycle "
                    f"({' -> '.join(path)}); fix: a derived dataset must not read itself"
                )
        return self

    @model_validator(mode="after")
    def _model_datasets(self) -> Project:
        """A model trains on a dataset of this project, on columns it declares, and its name
        is not a dataset's (both are Dagster assets)."""
        for name, model in self.models.items():
            key = f"models.{name}"
            if name in self.datasets:
                raise ValueError(
                    f"{key}: a dataset has the same name (both are Dagster assets); fix: "
                    "rename the model"
                )
            spec = self.datasets.get(model.dataset)
            if spec is None:
                known = ", ".join(sorted(self.datasets)) or "none"
                raise ValueError(
                    f"{key}.dataset names {model.dataset!r}, which the project lacks "
                    f"(datasets: {known}); fix: correct the name or add the dataset"
                )
            if isinstance(spec.schema_, dict):
                unknown = [c for c in model.columns if c not in spec.schema_]
                if unknown:
                    raise ValueError(
                        f"{key}.columns names {unknown} which {model.dataset} does not declare "
                        f"(columns: {', '.join(spec.schema_)}); fix: correct the names"
                    )
        return self

    @model_validator(mode="after")
    def _references(self) -> Project:
        """A referential check names a dataset of this project and a column it declares."""
        for name, spec in self.datasets.items():
            for index, check in enumerate(spec.quality.checks):
                if check.check != "referential":
                    continue
                key = f"datasets.{name}.quality.checks[{index}] (referential)"
                other = self.datasets.get(check.dataset)
                if other is None:
                    known = ", ".join(sorted(self.datasets))
                    raise ValueError(
                        f"{key} names dataset {check.dataset!r}, which the project lacks "
                        f"(datasets: {known}); fix: correct the name or add the dataset"
                    )
                if isinstance(other.schema_, dict) and check.key not in other.schema_:
                    raise ValueError(
                        f"{key} names key {check.key!r}, which {check.dataset} does not declare "
                        f"(columns: {', '.join(other.schema_)}); fix: correct `key`"
                    )
        return self

    def checks(self, name: str) -> list[Check]:
        """Every check of dataset ``name`` as it runs: its own, then the project's defaults
        when it switches them on (freshness on its first declared timestamp column, or on
        each batch's first one when the schema is inferred)."""
        spec = self.dataset(name)
        if not spec.quality.defaults:
            return list(spec.quality.checks)
        return [*spec.quality.checks, *self.quality.checks(_time_column(spec))]

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


def _cycle(start: str, inputs: dict[str, list[str]]) -> list[str]:
    """A path of inputs from ``start`` back to itself, or [] when there is none."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for input_name in inputs.get(name, []):
            if input_name == start:
                return [*path, start]
            if input_name not in seen:
                seen.add(input_name)
                stack.append((input_name, [*path, input_name]))
    return []


def _time_column(spec: DatasetSpec) -> str:
    """The first declared timestamp or date column, or ``*`` (decided per batch)."""
    if isinstance(spec.schema_, dict):
        for column, type_name in spec.schema_.items():
            type_ = parse_arrow_type(type_name)
            if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
                return column
    return "*"


def field_names() -> list[str]:
    """Every key the project file accepts, for "did you mean" in its errors."""
    models = _models(Model)
    return sorted({info.alias or name for m in models for name, info in m.model_fields.items()})


def _models(base: type[Model]) -> list[type[Model]]:
    """Every model class below ``base`` (the project file's whole schema)."""
    found: list[type[Model]] = []
    for sub in base.__subclasses__():
        found += [sub, *_models(sub)]
    return found
