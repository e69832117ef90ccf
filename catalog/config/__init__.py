"""The project file's models: the lake, Kafka, a spec per dataset (sources, checks, PII,
tiering, automation, log retention), lineage export and models trained on datasets;
:mod:`thermocline.catalog.project_file` finds and loads the file into them.

One file describes a project: the lake (URI and storage options), the Kafka connection and a
spec per dataset. Values may reference environment variables as ``${NAME}`` or
``${NAME:-default}``; the model keeps the reference and :func:`expand_env` resolves it where the
value is used, so secrets never sit in a model that could be printed or logged.

>>> from thermocline.catalog.project_file import load_project
>>> project = load_project("thermocline.yaml")      # doctest: +SKIP
>>> project.datasets["rides"].partition_by           # doctest: +SKIP
['day']
"""

from thermocline.catalog.config.automation import AutomationPolicy
from thermocline.catalog.config.base import expand_env, parse_duration
from thermocline.catalog.config.history import DEFAULT_LOG_RETENTION, HistoryPolicy
from thermocline.catalog.config.lake import KafkaConfig, LakeConfig
from thermocline.catalog.config.lineage import LineageSettings, OpenLineageConfig
from thermocline.catalog.config.models import ModelSpec
from thermocline.catalog.config.pii import PiiAction, PiiColumnRule, PiiPolicy, PiiSettings
from thermocline.catalog.config.project import DatasetSpec, Project, field_names
from thermocline.catalog.config.quality import (
    AcceptedValuesCheck,
    Check,
    CompletenessCheck,
    DistributionDriftCheck,
    FreshnessCheck,
    NotNullCheck,
    QualityConfig,
    QualitySettings,
    RangeCheck,
    ReferentialCheck,
    RowCountCheck,
    SchemaCheck,
    SchemaDriftCheck,
    UniqueCheck,
    VolumeCheck,
)
from thermocline.catalog.config.sources import (
    DerivedSource,
    FileSource,
    KafkaSource,
    Source,
    SqlSource,
)
from thermocline.catalog.config.tiering import (
    AWS_PRICES,
    AWS_STORAGE_CLASSES,
    TIERS,
    Tier,
    TieringPolicy,
    TieringSettings,
)

__all__ = [
    "AWS_PRICES",
    "AWS_STORAGE_CLASSES",
    "DEFAULT_LOG_RETENTION",
    "TIERS",
    "AcceptedValuesCheck",
    "AutomationPolicy",
    "Check",
    "CompletenessCheck",
    "DatasetSpec",
    "DerivedSource",
    "DistributionDriftCheck",
    "FileSource",
    "FreshnessCheck",
    "HistoryPolicy",
    "KafkaConfig",
    "KafkaSource",
    "LakeConfig",
    "LineageSettings",
    "ModelSpec",
    "NotNullCheck",
    "OpenLineageConfig",
    "PiiAction",
    "PiiColumnRule",
    "PiiPolicy",
    "PiiSettings",
    "Project",
    "QualityConfig",
    "QualitySettings",
    "RangeCheck",
    "ReferentialCheck",
    "RowCountCheck",
    "SchemaCheck",
    "SchemaDriftCheck",
    "Source",
    "SqlSource",
    "Tier",
    "TieringPolicy",
    "TieringSettings",
    "UniqueCheck",
    "VolumeCheck",
    "expand_env",
    "field_names",
    "parse_duration",
]
