"""What the dev stack runs, as plain data that round-trips through ``stack.json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from thermocline.catalog.errors import DevStackError

__all__ = ["KafkaInfo", "Log", "RegistryInfo", "S3Choice", "S3Info", "S3Kind", "StackInfo"]

S3Kind = Literal["ceph", "moto"]
S3Choice = Literal["auto", "ceph", "moto"]  # what `up` is asked for; auto prefers Ceph
Log = Callable[[str], None]  # receives human progress lines, one per call


@dataclass(frozen=True)
class S3Info:
    """The S3 server: where it listens, the dev credentials, and the PIDs behind it."""

    kind: S3Kind
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    pids: tuple[int, ...]
    storage_classes: tuple[str, ...]
    running: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "running": self.running,
            "endpoint_url": self.endpoint_url,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "bucket": self.bucket,
            "pid": list(self.pids),
            "storage_classes": list(self.storage_classes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> S3Info:
        return cls(
            kind=data["kind"],
            endpoint_url=data["endpoint_url"],
            access_key=data["access_key"],
            secret_key=data["secret_key"],
            region=data["region"],
            bucket=data["bucket"],
            pids=tuple(data["pid"]),
            storage_classes=tuple(data["storage_classes"]),
            running=data.get("running", False),
        )


@dataclass(frozen=True)
class KafkaInfo:
    """The Kafka-compatible broker: its bootstrap address and PID."""

    kind: Literal["tansu"]
    bootstrap_servers: str
    pid: int | None
    running: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "running": self.running,
            "bootstrap_servers": self.bootstrap_servers,
            "pid": self.pid,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KafkaInfo:
        return cls(
            kind=data["kind"],
            bootstrap_servers=data["bootstrap_servers"],
            pid=data["pid"],
            running=data.get("running", False),
        )


@dataclass(frozen=True)
class RegistryInfo:
    """The schema registry (Confluent REST API) next to the broker: its URL and PID."""

    url: str
    pid: int | None
    running: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "pid": self.pid, "running": self.running}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistryInfo:
        return cls(url=data["url"], pid=data["pid"], running=data.get("running", False))


@dataclass(frozen=True)
class StackInfo:
    """Every service of one state dir; a service is None when it was never started there."""

    state_dir: Path
    s3: S3Info | None = None
    kafka: KafkaInfo | None = None
    registry: RegistryInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "s3": self.s3.to_dict() if self.s3 else None,
            "kafka": self.kafka.to_dict() if self.kafka else None,
            "registry": self.registry.to_dict() if self.registry else None,
        }

    def s3_storage_options(self) -> dict[str, str]:
        """Options for delta-rs / object_store (``storage_options=``) to reach the dev S3."""
        if self.s3 is None or not self.s3.running:
            raise DevStackError(
                f"the dev S3 server of {self.state_dir} is not running; "
                "start it with `thermocline dev up`"
            )
        return {
            "AWS_ENDPOINT_URL": self.s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AWS_REGION": self.s3.region,
            "AWS_ALLOW_HTTP": "true",
        }
