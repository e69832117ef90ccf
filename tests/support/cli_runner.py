"""The ``thermocline`` command line run in-process, as a user runs it from a folder.

click's ``CliRunner`` calls the root command the console script calls, so exit codes, stdout
and the one-line errors on stderr are what a user sees, without a process start per call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from thermocline.pipelines.cli import cli

__all__ = ["HEAVY", "thermocline"]

# What the CLI must not load to show help or reject arguments (modules and their submodules):
# each is imported only by the commands that use it.
HEAVY = (
    "great_expectations",
    "dagster",
    "torch",
    "pandas",
    "pyarrow.dataset",
    "deltalake",
    "duckdb",
    "sqlalchemy",
    "openlineage",
)


def thermocline(*args: str, cwd: Path) -> Result:
    """``thermocline ARGS`` run from ``cwd``. An exception the command line did not turn into
    an exit (a traceback for the user) fails the test with that exception."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = CliRunner().invoke(cli, list(args), prog_name="thermocline")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
