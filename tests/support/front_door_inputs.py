"""Generated inputs for the front-door fuzz test (``tests/pipelines/test_front_door_fuzz.py``):
project files mutated from a valid one, and argument lists from the real click command tree.

Pure functions of a seeded ``random.Random``, so a failing case replays from its seed and index.
Strings never hold "/" or "://" and the commands that need the dev stack or start services are
left out (:data:`LEFT_OUT`): nothing generated here reaches S3, Kafka or the network.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import click
import yaml

from thermocline.pipelines.cli import cli

__all__ = ["BASE", "LEFT_OUT", "arguments_case", "commands", "project_case"]

# Commands that start services or need the dev stack: never generated.
LEFT_OUT = {("dev",), ("ui",), ("demo",), ("ingest", "kafka")}

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
    # `train` reaches a model whose function does not import: exit 2, and no torch in the fuzz.
    "models": {
        "fare_model": {
            "dataset": "rides",
            "columns": ["fare"],
            "train": "thermocline_fuzz_no_such_module:fit",
        }
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
    "model": ["fare_model", "nope", "", "Fare_model", "rides", "fare_model@1", "m" * 300],
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
    "depth": "number",
    "sample_rows": "number",
    "retention_hours": "number",
    "partition": "partition",
    "reason": "reason",
    "model": "model",
    "run_id": "name",
}


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
    for _ in range(rng.choice([0, 1, 1, 2, 3])):  # some valid ones reach the commands
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


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if here in LEFT_OUT:
            continue
        if isinstance(command, click.Group):
            yield from commands(command, here)
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
