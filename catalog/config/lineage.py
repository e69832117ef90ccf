"""Where lineage goes besides the catalog: OpenLineage events (DESIGN.md > Decision 13).

The catalog always records lineage (commits, training reads); OpenLineage is an export of the
same facts to a receiver such as Marquez or DataHub, off by default. It never blocks or fails a
publish: events go through a bounded background queue, and a receiver that is down costs at
most ``timeout_s`` once.

>>> OpenLineageConfig().transport
'off'
>>> OpenLineageConfig(transport="http", url="http://127.0.0.1:5000").endpoint
'api/v1/lineage'
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from thermocline.catalog.config.base import Model

__all__ = ["LineageSettings", "OpenLineageConfig"]


class OpenLineageConfig(Model):
    """How OpenLineage events leave the process: ``off`` (the default), ``console`` (one JSON
    event a line on stderr), ``file`` (JSON lines under ``path``, relative to the project file)
    or ``http`` (POST to ``url`` + ``endpoint``, as Marquez and DataHub accept)."""

    transport: Literal["off", "console", "file", "http"] = "off"
    path: str = Field(
        ".thermocline/openlineage", description="file transport: folder of the JSON-lines files"
    )
    url: str | None = Field(None, description="http transport: the receiver, e.g. Marquez's")
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = Field(
        None, description="http transport: the environment variable holding a bearer token"
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="http transport: per event")
    namespace: str = Field("thermocline", min_length=1, description="the OpenLineage job namespace")

    @field_validator("transport", mode="before")
    @classmethod
    def _bare_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `transport: off` as false: that is the `off` it means.
        return "off" if value is False else value

    @model_validator(mode="after")
    def _url_for_http(self) -> OpenLineageConfig:
        if self.transport == "http" and not self.url:
            raise ValueError("transport http needs `url` (the receiver, e.g. http://host:5000)")
        if self.url and self.transport != "http":
            raise ValueError(f"`url` is for transport http; this transport is {self.transport}")
        return self


class LineageSettings(Model):
    """Project-level lineage export."""

    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)
