"""Local development services on 127.0.0.1: an S3 server and a Kafka-compatible broker.

S3 is Ceph RADOS Gateway (installed with apt on first use when root), or moto_server as a
loudly announced fallback; Kafka is Tansu, with a Confluent-compatible schema registry for
Avro next to it. Each state dir (default ``.thermocline/dev``)
holds one stack: data, logs, PID files and ``stack.json``.

    info = up(log=print)
    write_deltalake("s3://thermocline/t", table, storage_options=info.s3_storage_options())
    down()
"""

from .info import KafkaInfo, Log, RegistryInfo, S3Choice, S3Info, S3Kind, StackInfo
from .stack import (
    DEFAULT_KAFKA_PORT,
    DEFAULT_REGISTRY_PORT,
    DEFAULT_S3_PORT,
    default_state_dir,
    down,
    status,
    up,
)

__all__ = [
    "DEFAULT_KAFKA_PORT",
    "DEFAULT_REGISTRY_PORT",
    "DEFAULT_S3_PORT",
    "KafkaInfo",
    "Log",
    "RegistryInfo",
    "S3Choice",
    "S3Info",
    "S3Kind",
    "StackInfo",
    "default_state_dir",
    "down",
    "status",
    "up",
]
