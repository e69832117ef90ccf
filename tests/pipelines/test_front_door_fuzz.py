"""A fuzz test of the front door: generated project files and argument lists never get a
traceback, only an exit the README documents.

Two seeded generators in ``tests/support/front_door_inputs.py`` (no new dependency; a failure
names its seed and case, so it replays):

- **project files**: a valid project, then up to three mutations: a value of the wrong type,
  an unknown or misspelt key, a deleted key, an unset ``${VARIABLE}``, a bad duration, a
  column the schema lacks, a bad dataset name, a line written twice (a duplicate key) or a
  character that breaks the YAML; then ``config check`` or a read-only command on it.
- **argument lists**: a command from the real click tree, its arguments and options filled
  from pools of good and bad values (versions, tags, times, numbers, names), sometimes with an
  option dropped, an unknown option, an extra argument, ``--json`` or ``--help``; run against a
  local-lake project whose table has versions, a tag and a release.

Every case must exit 0, 2 (bad input) or 1 (a runtime failure), or 130 when a confirmation
prompt was answered no; a non-zero exit prints one ``error: ...`` line on stderr (a project file
with several problems adds one line per further problem), and with ``--json`` stdout is one
JSON object (the result, or the error with ``error``, ``field``, ``fix``, ``exit_code``).
Commands that need the dev stack or start services (``dev``, ``ui``, ``demo``,
``ingest kafka``) are left out by construction: nothing here touches S3, Kafka or the network.

``THERMOCLINE_FUZZ_CASES`` sets the number of cases (default 500, split over the two
generators); ``THERMOCLINE_FUZZ_SEED`` the seed (default 13).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner, Result
from front_door_inputs import BASE, arguments_case, commands, project_case

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.cli import cli
from thermocline.pipelines.cli.output import wants_json

CASES = int(os.environ.get("THERMOCLINE_FUZZ_CASES", "500"))
SEED = int(os.environ.get("THERMOCLINE_FUZZ_SEED", "13"))
REPORTED = 20  # failures shown in full


@dataclass
class Case:
    """One generated invocation: what it ran, and what to show when it fails."""

    family: str
    index: int
    args: list[str]
    project: str | None = None


def problems(result: Result, case: Case, project_file: Path, prompts: bool) -> list[str]:
    """What is wrong with how ``case`` ended; empty when its exit is a documented one."""
    found = []
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        error = result.exception
        return [f"traceback: {type(error).__name__}: {error}"]
    allowed = {0, 1, 2} | ({130} if prompts else set())
    if result.exit_code not in allowed:
        found.append(f"exit {result.exit_code}")
    if "Traceback (most recent call last)" in result.output:
        found.append("a traceback in the output")
    as_json = wants_json(case.args)
    help_shown = "--help" in case.args or "-h" in case.args or result.stderr.startswith("Usage:")
    if result.exit_code == 130:  # the question asked on stderr, then one line
        if not result.stderr.endswith("\nerror: aborted\n"):
            found.append(f"a declined prompt did not end in one line: {result.stderr[:300]!r}")
    elif result.exit_code != 0 and not help_shown:
        lines = result.stderr.rstrip("\n").splitlines()
        if not lines or not lines[0].startswith("error: "):
            found.append(f"stderr is not one error line: {result.stderr[:300]!r}")
        elif any(not line.startswith(str(project_file)) for line in lines[1:]):
            found.append(f"more than one stderr line: {result.stderr[:300]!r}")
        if as_json:
            found += _json_error_problems(result)
    elif result.exit_code == 0 and as_json and not help_shown:
        try:
            json.loads(result.stdout)
        except json.JSONDecodeError:
            found.append(f"--json output is not JSON: {result.stdout[:300]!r}")
    return found


def _json_error_problems(result: Result) -> list[str]:
    """An error under ``--json`` is one object on stdout: error, field, fix, exit_code."""
    try:
        error = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"--json error is not JSON: {result.stdout[:300]!r}"]
    if not isinstance(error, dict) or set(error) != {"error", "field", "fix", "exit_code"}:
        return [f"--json error object has other keys: {error!r}"]
    if error["exit_code"] != result.exit_code:
        return [f"--json exit_code {error['exit_code']} != {result.exit_code}"]
    return []


@dataclass
class Outcome:
    """What a family of cases did: how many, how long, the exits seen, what failed."""

    count: int
    seconds: float
    exits: Counter[int]
    failures: list[str]
    runtime_failures: Counter[str]  # exit 1: the error lines, to read that each is documented


def run_cases(folder: Path, cases: Iterator[Case], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run every case from ``folder``."""
    monkeypatch.chdir(folder)
    runner = CliRunner()
    failures: list[str] = []
    exits: Counter[int] = Counter()
    runtime_failures: Counter[str] = Counter()
    count, start = 0, time.perf_counter()
    project_file = folder / "thermocline.yaml"
    for case in cases:
        count += 1
        if case.project is not None:
            project_file.write_text(case.project)
        prompts = any(p.name == "yes" for p in _params(case.args)) and "--yes" not in case.args
        result = runner.invoke(cli, case.args, prog_name="thermocline", input="n\n")
        found = problems(result, case, project_file, prompts)
        exits[result.exit_code] += 1
        if result.exit_code == 1:
            runtime_failures[result.stderr.split(";")[0].strip()[:200]] += 1
        if found:
            shown = f"\n--- project file ---\n{case.project}" if case.project else ""
            failures.append(
                f"{case.family} case {case.index} (seed {SEED}): thermocline "
                f"{' '.join(map(repr, case.args))}: {'; '.join(found)}{shown}"
            )
    return Outcome(count, time.perf_counter() - start, exits, failures, runtime_failures)


def _params(args: list[str]) -> list[click.Parameter]:
    command: click.Command = cli
    for word in args:
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
        else:
            break
    return list(command.params)


def report(name: str, outcome: Outcome) -> None:
    """Print the tally (``pytest -s`` shows it); fail with the first failures in full."""
    count, failures = outcome.count, outcome.failures
    exits = ", ".join(f"exit {code}: {n}" for code, n in sorted(outcome.exits.items()))
    print(f"{name}: {count} cases in {outcome.seconds:.1f} s ({exits}), {len(failures)} failed")
    for line, times in outcome.runtime_failures.most_common():
        print(f"  exit 1 x{times}: {line}")
    assert not failures, f"{len(failures)} of {count} {name} cases failed:\n" + "\n".join(
        failures[:REPORTED]
    )
    if count >= 100:  # the generators reach both sides of the door
        assert outcome.exits[0] >= count // 20, outcome.exits
        assert outcome.exits[2] >= count // 5, outcome.exits


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("THERMOCLINE_", "AWS_")):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environment")
def test_generated_project_files_never_get_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)

    def cases() -> Iterator[Case]:
        for index in range(CASES // 2):
            text, args = project_case(rng, index)
            yield Case("project-file", index, args, text)

    report("project-file", run_cases(tmp_path, cases(), monkeypatch))


@pytest.fixture
def versioned_project(tmp_path: Path) -> Path:
    """The base project with a ``rides`` table (versions 0 and 1, tag golden, release r1)
    and one new CSV file in its source folder."""
    (tmp_path / "thermocline.yaml").write_text(yaml.safe_dump(BASE, sort_keys=False))
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    for ids, day in (([1, 2], "2026-11-01"), ([3], "2026-11-02")):
        table = pa.table(
            {
                "ride_id": pa.array(ids, pa.int64()),
                "day": pa.array([day] * len(ids)).cast(pa.date32()),
                "fare": [1.0] * len(ids),
                "email": ["h"] * len(ids),
            }
        )
        write(catalog, "rides", table, partition_by=["day"])
    catalog.set_tag("golden", "rides", 0)
    catalog.create_release("r1", {"rides": 1})
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "a.csv").write_text(
        "ride_id,day,fare,email\n4,2026-11-01,2.5,a@example.com\n5,2026-11-03,3.0,b@example.com\n"
    )
    return tmp_path


@pytest.mark.usefixtures("clean_environment")
def test_generated_argument_lists_never_get_a_traceback(
    versioned_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED + 1)
    tree = list(commands(cli))
    assert ("rollback",) in tree
    assert not [c for c in tree if c[0] in ("dev", "ui", "demo")], "left out by construction"

    def cases() -> Iterator[Case]:
        for index in range(CASES - CASES // 2):
            yield Case("arguments", index, arguments_case(rng, tree))

    report("arguments", run_cases(versioned_project, cases(), monkeypatch))
