"""Where the lake lives and how to reach Kafka."""

from __future__ import annotations

from pydantic import Field, field_validator

from thermocline.catalog.config.base import Model

__all__ = ["KafkaConfig", "LakeConfig"]


class LakeConfig(Model):
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


class KafkaConfig(Model):
    """How to reach Kafka; ``options`` are extra librdkafka settings (values may be ${ENV_VAR})."""

    bootstrap_servers: str
    schema_registry_url: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
