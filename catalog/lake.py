"""The lake handle: one object that knows the lake root and how to reach it.

All storage IO goes through a :class:`Lake`: delta-rs gets :meth:`Lake.delta_storage_options`
and a table URI, pyarrow readers get :meth:`Lake.table_filesystem`, a *native* pyarrow
filesystem (delta-rs's own filesystem over-reads projected columns and can abort the process at
exit, DESIGN.md > Decision 1).

Opening a lake checks the URI and the options; it neither creates nor reaches anything.

>>> from thermocline.catalog.lake import Lake
>>> Lake.open("/tmp/lake").table_uri("rides")
'/tmp/lake/rides'
>>> lake = Lake.open("s3://bucket/lake/", {"endpoint_url": "http://127.0.0.1:7480",
...                                        "allow_http": "true"})
>>> lake.table_uri("rides"), lake.delta_storage_options()
('s3://bucket/lake/rides', {'AWS_ENDPOINT_URL': 'http://127.0.0.1:7480', 'AWS_ALLOW_HTTP': 'true'})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from thermocline.catalog.config import Project, expand_env
from thermocline.catalog.config.lineage import OpenLineageConfig
from thermocline.catalog.errors import LakeError

__all__ = ["Lake"]

# delta-rs accepts several spellings of each option; pyarrow needs them mapped by hand.
_ALIASES = {
    "AWS_ENDPOINT": "AWS_ENDPOINT_URL",
    "ENDPOINT": "AWS_ENDPOINT_URL",
    "ENDPOINT_URL": "AWS_ENDPOINT_URL",
    "ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
    "SESSION_TOKEN": "AWS_SESSION_TOKEN",
    "REGION": "AWS_REGION",
    "AWS_DEFAULT_REGION": "AWS_REGION",
    "ALLOW_HTTP": "AWS_ALLOW_HTTP",
}


@dataclass(frozen=True)
class Lake:
    """A lake root (``/abs/path`` or ``s3://bucket/prefix``) and the options to reach it.

    Build one with :meth:`open` or :meth:`from_project`; the storage options may hold secrets,
    so they stay out of ``repr``. A lake from a project also carries the project's OpenLineage
    export (``lineage``, its file path made absolute), so code that holds only the catalog (the
    training loader) sends its events where the project says.
    """

    uri: str
    storage_options: Mapping[str, str] = field(default_factory=dict, repr=False)
    lineage: OpenLineageConfig | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        uri: str | os.PathLike[str],
        storage_options: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> Lake:
        """Normalize ``uri`` (relative local paths resolve against ``base_dir``) and validate."""
        text = os.fspath(uri)
        options = {
            _ALIASES.get(k.upper(), k.upper()): v for k, v in (storage_options or {}).items()
        }
        parts = urlsplit(text)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise LakeError(f"lake URI {text!r} has no bucket; write s3://bucket/prefix")
            endpoint = options.get("AWS_ENDPOINT_URL", "")
            if (
                endpoint.startswith("http://")
                and options.get("AWS_ALLOW_HTTP", "").lower() != "true"
            ):
                raise LakeError(
                    f"endpoint {endpoint} is plain http; set storage option AWS_ALLOW_HTTP: 'true' "
                    "or use https"
                )
            return cls(f"s3://{parts.netloc}{parts.path.rstrip('/')}", options)
        if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # len 1: a Windows drive
            path = Path(parts.path if parts.scheme == "file" else text).expanduser()
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            return cls(str(path.resolve()), {})
        raise LakeError(
            f"lake URI {text!r}: unsupported scheme {parts.scheme!r}; use a path or s3://"
        )

    @classmethod
    def from_project(cls, project: Project, environ: Mapping[str, str] | None = None) -> Lake:
        """The lake a project file describes, with ``${ENV}`` references resolved now."""
        options = {
            key: expand_env(value, environ, f"lake.storage_options.{key}")
            for key, value in project.lake.storage_options.items()
        }
        uri = expand_env(project.lake.uri, environ, "lake.uri")
        lineage = project.lineage.openlineage
        path = project.resolve_url(lineage.path)
        return replace(
            cls.open(uri, options, base_dir=project.root),
            lineage=lineage.model_copy(update={"path": path}),
        )

    @property
    def is_local(self) -> bool:
        return not self.uri.startswith("s3://")

    def table_uri(self, name: str) -> str:
        """Where the Delta table ``name`` lives, as delta-rs wants it."""
        return f"{self.uri}/{name}"

    def delta_storage_options(self) -> dict[str, str]:
        """Options for ``deltalake`` calls (a copy; empty for a local lake)."""
        return dict(self.storage_options)

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        """A native pyarrow filesystem rooted at the lake root (paths are relative to it)."""
        if self.is_local:
            return pafs.SubTreeFileSystem(self.uri, pafs.LocalFileSystem())
        return pafs.SubTreeFileSystem(self.uri.removeprefix("s3://"), self._s3())

    def table_filesystem(self, name: str) -> pafs.FileSystem:
        """A pyarrow filesystem rooted at table ``name``: what Delta's relative paths resolve in."""
        return pafs.SubTreeFileSystem(name, self.filesystem)

    def _s3(self) -> pafs.S3FileSystem:
        options = self.storage_options
        endpoint = urlsplit(options.get("AWS_ENDPOINT_URL", ""))
        if endpoint.netloc:
            # S3-compatible servers (Ceph RGW 16 among them) reject the streaming checksums the
            # AWS SDK sends by default (HTTP 411 MissingContentLength); AWS needs none either.
            # The SDK reads this only from the environment, when each client is made.
            os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
        return pafs.S3FileSystem(
            access_key=options.get("AWS_ACCESS_KEY_ID"),
            secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
            session_token=options.get("AWS_SESSION_TOKEN"),
            region=options.get("AWS_REGION", "us-east-1"),
            endpoint_override=endpoint.netloc or None,
            scheme=endpoint.scheme or "https",
        )
