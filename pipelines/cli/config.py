"""``thermocline config``: validate the project file, or print its JSON schema."""

from __future__ import annotations

import click

from thermocline.catalog.errors import ConfigError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json

__all__ = ["config", "register"]


@click.group()
def config() -> None:
    """Validate the project file or print its JSON schema."""


@config.command("schema")
def config_schema() -> None:
    """Print the JSON schema of thermocline.yaml (for editor completion and checks)."""
    from thermocline.catalog.config import Project

    print_json(Project.model_json_schema(by_alias=True))


@config.command("check")
@json_option
@click.pass_obj
def config_check(ctx: Context, as_json: bool) -> None:
    """Validate the project file, including the environment variables it references (and the
    HMAC key's, when a dataset hashes a column) and every dataset's Great Expectations suite
    (it parses, its expectation types exist, its columns are declared)."""
    from thermocline.datasets.ingest.pii import hashing_key_problem  # lazily: the CLI starts fast
    from thermocline.datasets.ingest.suites import suite_problems

    project = ctx.project
    problem = hashing_key_problem(project)
    if problem is not None:
        raise ConfigError(problem, field="pii.hash_key_env")
    suites = suite_problems(project)
    if suites:
        more = f" (and {len(suites) - 1} more problem(s))" if len(suites) > 1 else ""
        raise ConfigError(suites[0] + more, field=suites[0].split(":", 1)[0])
    lake = ctx.lake
    if as_json:
        print_json(
            {
                "ok": True,
                "file": project.path,
                "lake": lake.uri,
                "datasets": sorted(project.datasets),
            }
        )
        return
    out.print(
        f"ok: {project.path}: lake {lake.uri}, {len(project.datasets)} dataset(s): "
        + ", ".join(sorted(project.datasets))
    )


def register(group: click.Group) -> None:
    """Add ``config`` to the root command."""
    group.add_command(config)
