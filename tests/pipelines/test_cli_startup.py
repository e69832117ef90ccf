"""Starting the CLI and the ingest paths imports neither Great Expectations nor dagster (issue
#15: GX takes seconds to import; it loads only when a dataset has a suite, dagster only in the
commands that serve or run Dagster). Issue #18: ``thermocline --help`` and argument errors load
no data stack at all (pandas, pyarrow.dataset, deltalake, duckdb, sqlalchemy, openlineage,
torch), only click and the standard library, so they answer in well under 0.3 s.

Every check runs in a fresh interpreter, so that what other tests imported does not count; the
console-script test reads ``python -X importtime``, which names every module the process loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import HEAVY

from thermocline.catalog.project_file import PROJECT_FILENAME
from thermocline.pipelines.cli import cli

# What the ingest paths must not load for a dataset without a suite (they do need the rest).
NOT_FOR_INGEST = ("great_expectations", "dagster")
# The groups issue #15 adds, where they exist: their --help must stay as light as the root's.
GROUPS = [name for name in ("checks", "quality") if name in cli.commands]


def heavy_of(module: str) -> str | None:
    """The entry of :data:`HEAVY` that ``module`` is or lies under, else None."""
    for heavy in HEAVY:
        if module == heavy or module.startswith(heavy + "."):
            return heavy
    return None


def imported_heavy(stderr: str) -> list[str]:
    """The heavy packages named in ``-X importtime`` output."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            heavy = heavy_of(line.rsplit("|", 1)[1].strip())
            if heavy is not None:
                found.add(heavy)
    return sorted(found)


@pytest.mark.parametrize("words", [[], *([g] for g in GROUPS)], ids=lambda w: " ".join(w) or "root")
def test_console_script_help_imports_no_gx_nor_dagster(words: list[str]) -> None:
    """The installed ``thermocline`` script itself, as a user starts it."""
    script = str(Path(sys.executable).parent / "thermocline")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", script, *words, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(" ".join(["Usage: thermocline", *words]) + " ")
    assert "import time:" in result.stderr  # the probe itself works
    assert imported_heavy(result.stderr) == []


# In the child: import the ingest paths, then judge a batch of a dataset without a suite the
# way every path does (judge.judge), and name the heavy packages that got loaded.
_INGEST = """
import json, sys
from datetime import UTC, datetime
import pyarrow as pa
import thermocline.datasets.ingest.kafka
import thermocline.datasets.ingest.run
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.judge import declared_checks, judge
from thermocline.quality.results import CheckContext

heavy = json.loads(sys.argv[2])
loaded = lambda: sorted({m.split('.')[0] for m in sys.modules} & set(heavy))
after_import = loaded()
project = load_project(sys.argv[1], environ={})
batch = pa.table({"ride_id": [1, 2, 3], "fare": [9.5, None, 12.0]})
results = judge(project, "rides", batch, CheckContext(now=datetime.now(UTC)))
names = [check.name for check in declared_checks(project, "rides")]
print(json.dumps({"after_import": after_import, "after_judge": loaded(),
                  "results": {r.name: r.passed for r in results}, "declared": names}))
"""


def test_ingest_paths_import_no_gx_nor_dagster_without_a_suite(tmp_path: Path) -> None:
    project = tmp_path / PROJECT_FILENAME
    project.write_text(
        "datasets:\n"
        "  rides:\n"
        "    schema: {ride_id: int64, fare: float64}\n"
        "    quality:\n"
        "      checks:\n"
        "        - {check: not_null, columns: [ride_id]}\n"
        "        - {check: completeness, column: fare, min_ratio: 0.9}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", _INGEST, str(project), json.dumps(NOT_FOR_INGEST)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["after_import"] == []
    # The checks really ran (a fare is missing: 2 of 3 is below 90%) and still no GX.
    assert seen["results"] == {"not_null_ride_id": True, "completeness_fare": False}
    assert seen["declared"] == ["not_null_ride_id", "completeness_fare"]
    assert seen["after_judge"] == []


# In the child: run the installed console script as the shell would (its own __main__), then
# print every module the process holds. The script exits through SystemExit; catch it.
_RUN_SCRIPT = """
import json, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def modules_after(*words: str) -> tuple[int, list[str], str]:
    """The exit code, the modules loaded and stderr of ``thermocline WORDS`` in a fresh
    interpreter."""
    script = str(Path(sys.executable).parent / "thermocline")
    result = subprocess.run(
        [sys.executable, "-c", _RUN_SCRIPT, script, *words],
        capture_output=True,
        text=True,
        check=False,
    )
    seen = json.loads(result.stderr.splitlines()[-1])
    return seen["code"], seen["modules"], result.stderr


ARGUMENT_ERRORS = [
    ["no-such-command"],
    ["history"],  # a missing argument
    ["lineage", "rides", "--depth", "many"],  # a bad option value
    ["datasets", "list", "--bogus"],
    ["tag", "--json"],  # the error as JSON too
]


@pytest.mark.parametrize("words", [["--help"], *ARGUMENT_ERRORS], ids=lambda w: " ".join(w))
def test_help_and_argument_errors_load_only_click_and_the_standard_library(
    words: list[str],
) -> None:
    """Checked on ``sys.modules``, not a clock: no heavy package, and no third-party package
    but click (pydantic, yaml, pyarrow, rich load with the commands that use them)."""
    code, modules, stderr = modules_after(*words)
    assert code == (0 if words == ["--help"] else 2), stderr
    if words != ["--help"]:
        assert stderr.startswith("error: "), stderr
    assert sorted({h for m in modules if (h := heavy_of(m)) is not None}) == []
    third_party = {
        top
        for top in {m.split(".")[0] for m in modules}
        if top not in sys.stdlib_module_names and not top.startswith("_")
    }
    assert third_party <= {"click", "thermocline"}, sorted(third_party)
