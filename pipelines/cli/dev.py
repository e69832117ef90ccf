"""``thermocline dev``: the local S3 server and Kafka broker for development and tests."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, cast

import click

from thermocline.pipelines.cli.output import err, json_option, out, print_json, table

if TYPE_CHECKING:
    from thermocline.pipelines.devstack import StackInfo

__all__ = ["dev", "register"]


@click.group()
def dev() -> None:
    """Local services for development and tests: S3 (Ceph RGW) and Kafka (Tansu) on 127.0.0.1."""


@dev.command("up")
@click.option("--s3/--no-s3", default=True, help="Start the S3 server.")
@click.option("--kafka/--no-kafka", default=True, help="Start the Kafka broker.")
@click.option(
    "--s3-kind",
    type=click.Choice(["auto", "ceph", "moto"]),
    default=None,
    help="S3 server: Ceph RGW, or the moto fallback (default: $THERMOCLINE_DEV_S3, else auto).",
)
@json_option
def dev_up(s3: bool, kafka: bool, s3_kind: str | None, as_json: bool) -> None:
    """Start the dev stack (idempotent: what already runs is left alone)."""
    from thermocline.pipelines import devstack

    choice = cast("devstack.S3Choice | None", s3_kind)
    info = devstack.up(s3=s3, kafka=kafka, s3_kind=choice, log=err.print)
    _print_stack(info, as_json)


@dev.command("down")
@json_option
def dev_down(as_json: bool) -> None:
    """Stop the dev stack's processes (by PID)."""
    from thermocline.pipelines import devstack

    stopped = devstack.down()
    if as_json:
        print_json({"stopped": stopped})
    else:
        out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@dev.command("status")
@json_option
def dev_status(as_json: bool) -> None:
    """Say what runs where."""
    from thermocline.pipelines import devstack

    _print_stack(devstack.status(), as_json)


@dev.command("env")
def dev_env() -> None:
    """Print `export` lines pointing a shell at the stack: eval "$(thermocline dev env)"."""
    from thermocline.pipelines import devstack

    info = devstack.status()
    variables = dict(info.s3_storage_options()) if info.s3 and info.s3.running else {}
    if info.kafka and info.kafka.running:
        variables["THERMOCLINE_KAFKA_BOOTSTRAP"] = info.kafka.bootstrap_servers
    if info.registry and info.registry.running:
        variables["THERMOCLINE_SCHEMA_REGISTRY_URL"] = info.registry.url
    for key, value in variables.items():
        click.echo(f"export {key}={shlex.quote(value)}")


def _print_stack(info: StackInfo, as_json: bool) -> None:
    if as_json:
        print_json(info.to_dict())
        return
    rows: list[tuple[str, ...]] = []
    if info.s3 is not None:
        s3 = info.s3
        state = "running" if s3.running else "stopped"
        rows.append(
            (
                "s3",
                s3.kind,
                state,
                f"{s3.endpoint_url} bucket {s3.bucket}",
                " ".join(map(str, s3.pids)),
            )
        )
    if info.kafka is not None:
        kafka = info.kafka
        state = "running" if kafka.running else "stopped"
        rows.append(("kafka", kafka.kind, state, kafka.bootstrap_servers, str(kafka.pid or "")))
    if info.registry is not None:
        schemas = info.registry
        state = "running" if schemas.running else "stopped"
        rows.append(("registry", "thermocline", state, schemas.url, str(schemas.pid or "")))
    if not rows:
        out.print(f"nothing was started from {info.state_dir}; run `thermocline dev up`")
        return
    table(f"dev stack ({info.state_dir})", ["service", "kind", "state", "address", "pids"], rows)


def register(group: click.Group) -> None:
    """Add ``dev`` to the root command."""
    group.add_command(dev)
