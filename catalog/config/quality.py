"""The checks a dataset's batches must pass before they are published (``quality:``).

Three judges read this: the built-in checks (one DuckDB query over the batch), the
history-aware ones (``volume``, ``schema_drift``, ``distribution_drift``, ``referential``: the
batch against earlier versions or another dataset, which the caller reads and hands over) and a
Great Expectations suite (``suite``). ``defaults: true`` switches on the project's standard
completeness and freshness checks (:class:`QualitySettings`) with one line.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from thermocline.catalog.config.base import Model, parse_duration

__all__ = [
    "AcceptedValuesCheck",
    "Check",
    "CompletenessCheck",
    "DistributionDriftCheck",
    "FreshnessCheck",
    "NotNullCheck",
    "QualityConfig",
    "QualitySettings",
    "RangeCheck",
    "ReferentialCheck",
    "RowCountCheck",
    "SchemaCheck",
    "SchemaDriftCheck",
    "UniqueCheck",
    "VolumeCheck",
]


class _CheckBase(Model):
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
    """At least ``min_ratio`` of the column's values are non-null; ``column: "*"`` judges every
    column of the batch (the result names the worst)."""

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
    """The newest value of ``column`` is younger than ``max_age`` (e.g. 1h, 30m, 7d);
    ``column: "*"`` takes the batch's first timestamp (or date) column."""

    check: Literal["freshness"]
    column: str
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class VolumeCheck(_CheckBase):
    """The batch's row count is no outlier against recent publishes: within ``max_deviation``
    robust standard deviations (1.4826 times the median absolute deviation) of their median, and,
    with ``max_change``, within that relative change of the median. Judged once ``min_history``
    earlier publishes exist. Batch sources only: a Kafka micro-batch's size follows the traffic.
    """

    check: Literal["volume"]
    window: int = Field(20, ge=2, description="how many recent publishes make the baseline")
    min_history: int = Field(5, ge=2, description="publishes needed before the count is judged")
    max_deviation: float = Field(
        3.5, gt=0, description="robust z-score: |rows - median| / (1.4826 * MAD)"
    )
    max_change: float | None = Field(
        None, gt=0, description="largest allowed relative change against the median"
    )

    @model_validator(mode="after")
    def _history_fits_window(self) -> VolumeCheck:
        if self.min_history > self.window:
            raise ValueError(
                f"min_history ({self.min_history}) is larger than window ({self.window}); "
                "fix: lower min_history or widen the window"
            )
        return self


DriftSeverity = Literal["error", "warn", "ignore"]


class SchemaDriftCheck(Model):
    """A column added, removed or retyped against the version before, each kind of change with
    its own severity (``ignore`` lets it through without a result)."""

    check: Literal["schema_drift"]
    added: DriftSeverity = Field("warn", description="a column the table did not have")
    removed: DriftSeverity = Field("error", description="a table column the batch lacks")
    retyped: DriftSeverity = Field(
        "warn",
        description="a column the batch brought in another type, cast to the table's without "
        "changing a value (whole numbers into a double column, text that parses): the stored "
        "type stays; error refuses a source that changes its types",
    )

    @property
    def severity(self) -> Literal["error", "warn"]:
        """The most severe of the three: a failure of this check can block when it is error."""
        kinds = (self.added, self.removed, self.retyped)
        return "error" if "error" in kinds else "warn"


class DistributionDriftCheck(_CheckBase):
    """The distribution of ``column`` against a reference version: population stability index
    (numeric columns binned by the reference's quantiles, categorical ones by value) or the
    Kolmogorov-Smirnov statistic (numeric only), failing above ``threshold``."""

    check: Literal["distribution_drift"]
    column: str
    reference: int | str | None = Field(
        None, description="a version number or a tag; unset: the latest version before the batch"
    )
    method: Literal["psi", "ks"] = "psi"
    threshold: float | None = Field(
        None, gt=0, description="largest allowed statistic (default: psi 0.2, ks 0.1)"
    )
    bins: int = Field(10, ge=2, le=100, description="psi: quantile bins of a numeric column")
    min_rows: int = Field(
        100,
        ge=1,
        description="a batch with fewer non-null values is not judged: sampling alone moves "
        "PSI and KS that far (the limit in force also grows for small batches)",
    )

    @property
    def limit(self) -> float:
        """The threshold in force."""
        if self.threshold is not None:
            return self.threshold
        return 0.2 if self.method == "psi" else 0.1


class ReferentialCheck(_CheckBase):
    """Every non-null value of ``column`` exists in ``key`` of another dataset, at its latest
    version or at ``version`` (a number or a tag)."""

    check: Literal["referential"]
    column: str
    dataset: str = Field(description="the dataset that holds the keys")
    key: str = Field(description="its column")
    version: int | str | None = Field(None, description="a version number or tag; unset: latest")


Check = Annotated[
    SchemaCheck
    | NotNullCheck
    | UniqueCheck
    | AcceptedValuesCheck
    | RangeCheck
    | CompletenessCheck
    | RowCountCheck
    | FreshnessCheck
    | VolumeCheck
    | SchemaDriftCheck
    | DistributionDriftCheck
    | ReferentialCheck,
    Field(discriminator="check"),
]


class QualityConfig(Model):
    """A dataset's checks, its Great Expectations suite and whether the project's default
    checks apply."""

    checks: list[Check] = Field(default_factory=list)
    suite: str | None = Field(
        None,
        description="path to a Great Expectations 1.x expectation suite (JSON), relative to the "
        "project file; run on every staged batch",
    )
    defaults: bool = Field(
        False, description="add the project's completeness and freshness checks (quality:)"
    )


class QualitySettings(Model):
    """Project-wide defaults that a dataset switches on with ``quality: {defaults: true}``:
    every column at least ``completeness`` non-null, the newest timestamp younger than
    ``freshness``."""

    completeness: float = Field(0.95, gt=0, le=1, description="least share of non-null values")
    freshness: str = Field("1h", description="largest age of the newest timestamp (1h, 30m)")
    severity: Literal["error", "warn"] = Field(
        "warn", description="of both default checks: warn shows, error also blocks publishing"
    )

    @field_validator("freshness")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def checks(self, freshness_column: str) -> list[Check]:
        """The default checks, with freshness on ``freshness_column`` (``*``: the first
        timestamp column of each batch)."""
        return [
            CompletenessCheck(
                check="completeness",
                column="*",
                min_ratio=self.completeness,
                severity=self.severity,
            ),
            FreshnessCheck(
                check="freshness",
                column=freshness_column,
                max_age=self.freshness,
                severity=self.severity,
            ),
        ]
