"""A fuzz test of the front door: generated project files and argument lists never get a
traceback, only an exit the README documents.

Two seeded generators (no new dependency; a failure names its seed and case, so it replays):

- **project files**: a valid project, then one to three mutations: a value of the wrong type,
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

import copy
import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner, Result

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.cli import cli

CASES = int(os.environ.get("THERMOCLINE_FUZZ_CASES", "500"))
SEED = int(os.environ.get("THERMOCLINE_FUZZ_SEED", "13"))
# Commands that start services or need the dev stack: never generated.
LEFT_OUT = {("dev",), ("ui",), ("demo",), ("ingest", "kafka")}
REPORTED = 20  # failures shown in full

BASE: dict[str, Any] = {
    "lake": {"uri": "./lake"},
    "kafka": {"bootstrap_servers": "127.0.0.1:9"},
    "datasets": {
        "rides": {
            "description": "fuzzed rides",
            "owners": ["data@example.com"],
            "source": {"kind": "files", "url": "incoming/*.csv", "format": "csv"},
            "schema": {"ride_id": "int64", "day": "date32", "fare": "float64", "email": "string"},
            "partition_by": ["day"],
            "primary_key": ["ride_id"],
            "tiering": {"warm_after_days": 30, "cold_after_days": 180},
            "quality": {
                "checks": [
                    {"check": "not_null", "columns": ["ride_id"]},
                    {"check": "range", "column": "fare", "min": 0},
                    {"check": "freshness", "column": "day", "max_age": "1d", "severity": "warn"},
                ]
            },
            "pii": {"columns": {"email": "hash"}},
        },
        "events": {"source": {"kind": "kafka", "topic": "events"}, "schema": {"id": "int64"}},
    },
}

# Strings never hold "/" or "://": a mutated lake URI stays a folder inside the test's own.
WORDS = ["", " ", "x", "rides", "Rides", "day", "fare", "nope", "1h", "7d", "-1", "0", "null"]
WORDS += ["true", "no", "~", "é", "a b", "[x]", "{x: 1}", "${UNSET_FUZZ_VAR}", "x" * 300, "%"]
DURATIONS = ["soon", "1x", "-1h", "", "1.5.5h", "10", "h", "1 h", "1e3h", "99999999999w", "0s"]
BREAKERS = [*list(":[]{}\t'\"&*!|>%@`,#-?"), "\n  - ", ": :", "\x00", "\ufeff"]

VERSIONS = ["0", "1", "2", "-1", "99", "golden", "nope", "2026-11-01", "2026-13-45", "1.5", ""]
VERSIONS += ["2999-01-01T00:00:00Z", "2000-01-01T00:00:00+00:00", "latest", "0x1", " 1"]
NUMBERS = ["0", "1", "3", "-1", "-5", "abc", "1e3", "99999999999999999999", "nan", "inf", ""]
POOLS: dict[str, list[str]] = {
    "dataset": ["rides", "events", "nope", "Rides", "", "rides@1", "../x", "r" * 70, "_catalog"],
    "ref": [
        "rides@0",
        "rides@1",
        "rides@golden",
        "rides@99",
        "rides@-1",
        "rides",
        "@1",
        "nope@1",
        "rides@2026-11-01T00:00:00Z",
        "rides@",
        "events@0",
        "rides@1@2",
    ],
    "version": VERSIONS,
    "name": ["golden", "prod", "r1", "r2", "7", "2026-11-01", "a b", "", "x" * 300, "-x", "é"],
    "number": NUMBERS,
    "partition": ["2026-11-01", "2026-11-02", "2026-11-99", "abc", "", "2026-02-30", "1"],
    "reason": ["fuzz", "", "x" * 500, "line\nbreak", "[bold]markup[/]"],
}
PARAM_POOLS = {
    "dataset": "dataset",
    "ref": "ref",
    "refs": "ref",
    "a": "version",
    "b": "version",
    "to": "version",
    "name": "name",
    "limit": "number",
    "sample_rows": "number",
    "retention_hours": "number",
    "partition": "partition",
    "reason": "reason",
}


@dataclass
class Case:
    """One generated invocation: what it ran, and what to show when it fails."""

    family: str
    index: int
    args: list[str]
    project: str | None = None


# --- project files ---------------------------------------------------------------------------


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _random_value(rng: random.Random) -> Any:
    return rng.choice(
        [
            rng.choice(WORDS),
            rng.randint(-(10**20), 10**20),
            rng.choice([0, 1, -1, 0.5, float("inf")]),
            rng.choice([True, False, None]),
            [rng.choice(WORDS) for _ in range(rng.randint(0, 3))],
            {rng.choice(WORDS): rng.choice(WORDS)},
            {},
            [],
        ]
    )


def _mutate(rng: random.Random, project: dict[str, Any]) -> None:
    """One mutation of the project, in place."""
    paths = [p for p in _paths(project) if p]
    mappings = [p for p in _paths(project) if isinstance(_get(project, p), dict)]
    strings = [p for p in paths if isinstance(_get(project, p), str)]
    datasets = project.get("datasets")
    rides = datasets.get("rides") if isinstance(datasets, dict) else None
    quality = rides.get("quality", {}) if isinstance(rides, dict) else None
    checks = quality.setdefault("checks", []) if isinstance(quality, dict) else None
    kind = rng.choice(
        ["type", "unknown_key", "delete", "env", "duration", "column", "name", "swap_value"]
    )
    if kind == "type" and paths:
        path = rng.choice(paths)
        _get(project, path[:-1])[path[-1]] = _random_value(rng)
    elif kind == "unknown_key" and mappings:
        target = _get(project, rng.choice(mappings))
        keys = list(target) or ["uri"]
        word = rng.choice(keys)
        typo = word[:-1] if len(word) > 1 and rng.random() < 0.5 else f"{word}_{rng.randint(0, 9)}"
        target[typo] = _random_value(rng)
    elif kind == "delete" and paths:
        path = rng.choice(paths)
        del _get(project, path[:-1])[path[-1]]
    elif kind == "env" and strings:
        path = rng.choice(strings)
        name = f"THERMOCLINE_FUZZ_UNSET_{rng.randint(0, 99)}"
        choice = rng.choice([f"${{{name}}}", f"${{{name}:-x}}", "${", "${1BAD}", f"a${{{name}}}b"])
        _get(project, path[:-1])[path[-1]] = choice
    elif kind == "duration" and isinstance(checks, list):
        checks.append({"check": "freshness", "column": "day", "max_age": rng.choice(DURATIONS)})
    elif kind == "column" and isinstance(rides, dict):
        column = rng.choice(["nope", "Fare", "", "ride id", "day"])
        where = rng.choice(["not_null", "range", "unique", "pii", "partition_by", "primary_key"])
        if where == "pii" and isinstance(rides.get("pii"), dict):
            rides["pii"].setdefault("columns", {})[column] = "hash"
        elif where in ("partition_by", "primary_key"):
            rides[where] = [column]
        elif isinstance(checks, list):
            columns = {"columns": [column]} if where != "range" else {"column": column, "max": 1}
            checks.append({"check": where, **columns})
    elif kind == "name" and isinstance(datasets, dict):
        datasets[rng.choice(["Bad-Name", "9x", "", "a" * 70, "é", "_x"])] = {}
    elif kind == "swap_value" and strings:
        path = rng.choice(strings)
        _get(project, path[:-1])[path[-1]] = rng.choice(WORDS)


def _mangle(rng: random.Random, text: str) -> str:
    """A line written twice (a duplicate key, mostly) or a character that breaks the YAML."""
    lines = text.splitlines(keepends=True)
    if rng.random() < 0.5 and lines:
        at = rng.randrange(len(lines))
        return "".join(lines[: at + 1] + lines[at:])
    at = rng.randrange(len(text) + 1)
    if rng.random() < 0.2:
        return text[:at]
    return text[:at] + rng.choice(BREAKERS) + text[at:]


def project_case(rng: random.Random, index: int) -> tuple[str, list[str]]:
    project = copy.deepcopy(BASE)
    for _ in range(rng.randint(1, 3)):
        _mutate(rng, project)
    text = yaml.safe_dump(project, sort_keys=False, allow_unicode=True)
    if rng.random() < 0.3:
        text = _mangle(rng, text)
    args = rng.choice(
        [
            ["config", "check"],
            ["config", "check", "--json"],
            ["datasets", "list", "--json"],
            ["describe", "rides"],
            ["history", "rides", "--json"],
            ["tags", "--json"],
        ]
    )
    return text, args


# --- argument lists --------------------------------------------------------------------------


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if here in LEFT_OUT:
            continue
        if isinstance(command, click.Group):
            yield from _commands(command, here)
        else:
            yield here


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _value(rng: random.Random, param: click.Parameter) -> str:
    pool = PARAM_POOLS.get(param.name or "")
    if pool is None or rng.random() < 0.1:
        pool = rng.choice(list(POOLS))
    return rng.choice(POOLS[pool])


def arguments_case(rng: random.Random, commands: list[tuple[str, ...]]) -> list[str]:
    path = rng.choice(commands)
    command = _command(path)
    args = list(path)
    for param in command.params:
        if isinstance(param, click.Argument):
            if param.required and rng.random() < 0.05:
                continue  # a missing argument
            count = rng.randint(1, 3) if param.nargs == -1 else 1
            args += [_value(rng, param) for _ in range(count)]
        elif isinstance(param, click.Option) and (param.required or rng.random() < 0.5):
            if param.required and rng.random() < 0.05:
                continue  # a missing required option
            flag = max(param.opts, key=len)
            if param.is_flag:
                args.append(
                    rng.choice(param.secondary_opts or [flag]) if rng.random() < 0.2 else flag
                )
            else:
                args += [flag, _value(rng, param)]
    roll = rng.random()
    if roll < 0.05:
        args.append("--no-such-option")
    elif roll < 0.08:
        args.append(rng.choice(VERSIONS))  # one argument too many
    elif roll < 0.10:
        args.append("--help")
    elif roll < 0.12:
        args = args[:-1]  # an option's value missing, or a command cut short
    if rng.random() < 0.3 and "--json" not in args:
        args.append("--json")
    if rng.random() < 0.05:
        rng.shuffle(args)
    return args


# --- the checks ------------------------------------------------------------------------------


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
    wants_json = (
        "--json" in case.args[: case.args.index("--")]
        if "--" in case.args
        else ("--json" in case.args)
    )
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
        if wants_json:
            try:
                error = json.loads(result.stdout)
            except json.JSONDecodeError:
                found.append(f"--json error is not JSON: {result.stdout[:300]!r}")
            else:
                if not isinstance(error, dict) or set(error) != {
                    "error",
                    "field",
                    "fix",
                    "exit_code",
                }:
                    found.append(f"--json error object has other keys: {error!r}")
                elif error["exit_code"] != result.exit_code:
                    found.append(f"--json exit_code {error['exit_code']} != {result.exit_code}")
    elif result.exit_code == 0 and wants_json and not help_shown:
        try:
            json.loads(result.stdout)
        except json.JSONDecodeError:
            found.append(f"--json output is not JSON: {result.stdout[:300]!r}")
    return found


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
    commands = list(_commands(cli))
    assert ("rollback",) in commands
    assert not [c for c in commands if c[0] in ("dev", "ui", "demo")]

    def cases() -> Iterator[Case]:
        for index in range(CASES - CASES // 2):
            yield Case("arguments", index, arguments_case(rng, commands))

    report("arguments", run_cases(versioned_project, cases(), monkeypatch))
