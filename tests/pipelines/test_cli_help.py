"""Every command answers ``--help``, the console script starts, and starting imports no heavy
stack: dagster, Great Expectations and torch load only inside the commands that need them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from cli_runner import HEAVY
from click.testing import CliRunner

from thermocline.pipelines.cli import cli


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The root, every group and every command below it, as the words that name it."""
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from command_paths(command, (*path, name))
        else:
            yield (*path, name)


COMMANDS = sorted(command_paths(cli))


def test_the_split_kept_every_command() -> None:
    assert {" ".join(path) for path in COMMANDS} == {
        "",
        "checks",
        "config",
        "config check",
        "config schema",
        "datasets",
        "datasets list",
        "demo",
        "describe",
        "dev",
        "dev down",
        "dev env",
        "dev status",
        "dev up",
        "diff",
        "erase",
        "history",
        "ingest",
        "ingest batch",
        "ingest kafka",
        "lineage",
        "maintain",
        "pii",
        "pii list",
        "pii review",
        "pii scan",
        "quality",
        "quality suite",
        "quality suite init",
        "quarantine",
        "quarantine discard",
        "quarantine list",
        "quarantine replay",
        "quarantine show",
        "release",
        "release create",
        "release list",
        "release rollback",
        "rollback",
        "runs",
        "search",
        "tag",
        "tags",
        "tier",
        "tier apply",
        "tier plan",
        "tier report",
        "tier restore",
        "train",
        "ui",
        "ui down",
        "ui status",
        "ui up",
        "vacuum",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "thermocline")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="thermocline")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(" ".join(("Usage: thermocline", *path)) + " ")
    assert result.stderr == ""


def test_help_imports_no_heavy_stack() -> None:
    """In a fresh interpreter, so that what other tests imported does not count."""
    script = (
        "import json, sys\n"
        "from thermocline.pipelines.cli import main\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        main([*path, '--help'])\n"
        "    except SystemExit as stop:\n"
        "        if stop.code != 0:\n"
        "            raise RuntimeError(f'{path} --help exited {stop.code}') from stop\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               for h in json.loads(sys.argv[2]) if m == h or m.startswith(h + '.'))\n"
        "print(json.dumps(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(COMMANDS), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: thermocline datasets list" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_console_script_starts_and_exits_with_the_error_code(tmp_path: Path) -> None:
    """The installed ``thermocline`` script itself: help, and an error's one line and code."""
    script = str(Path(sys.executable).parent / "thermocline")
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: thermocline [OPTIONS] COMMAND [ARGS]...")

    failed = subprocess.run(
        [script, "--project", str(tmp_path / "missing.yaml"), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith("error: ")
