"""Finding and loading ``thermocline.yaml`` into :class:`~thermocline.catalog.config.Project`.

Every mistake in the file is a :class:`ConfigError` whose first line names the file, the line or
field, and the fix: YAML syntax, a key written twice, unknown keys (with the nearest known one),
wrong types, unset environment variables. The models themselves live in
:mod:`thermocline.catalog.config`.

>>> project = load_project("thermocline.yaml")      # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from thermocline.catalog.config import Project, expand_env, field_names
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.yaml_files import DuplicateKeyError, load_unique_yaml

__all__ = ["PROJECT_ENV", "PROJECT_FILENAME", "find_project_file", "load_project"]

PROJECT_FILENAME = "thermocline.yaml"
PROJECT_ENV = "THERMOCLINE_PROJECT"


def find_project_file(
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """Find the project file: ``explicit`` (``--project``), then ``$THERMOCLINE_PROJECT``, then
    ``thermocline.yaml`` in the working directory or its nearest parent that has one."""
    environ = os.environ if environ is None else environ
    given = explicit if explicit is not None else environ.get(PROJECT_ENV)
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            path = path / PROJECT_FILENAME
        if not path.is_file():
            origin = "--project" if explicit is not None else PROJECT_ENV
            raise ConfigError(f"{origin} points at {path}, which is not a file; fix the path")
        return path.resolve()
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILENAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {PROJECT_FILENAME} in {start} or its parents; run from the project folder, "
        f"pass --project PATH or set {PROJECT_ENV}"
    )


def load_project(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Project:
    """Load and validate the project file (see :func:`find_project_file` for ``path``).

    Every problem raises :class:`ConfigError` whose first line names the file, the field and the
    fix; environment references are checked here so a missing variable fails early.
    """
    environ = os.environ if environ is None else environ
    file = find_project_file(path, environ)
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {error.start}); fix: save the file as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{file}: cannot be read ({error.strerror}); fix: check it") from None
    try:
        raw = load_unique_yaml(text) or {}
    except DuplicateKeyError as error:
        where = _where(file, error.problem_mark)
        raise ConfigError(
            f"{where}: {error.problem}; fix: keep one of them "
            "(YAML would silently keep only the last)",
            field=str(error.key),
        ) from None
    except yaml.MarkedYAMLError as error:
        where = _where(file, error.problem_mark)
        raise ConfigError(
            f"{where}: not valid YAML: {error.problem}; fix: check quoting and indentation there "
            "(quote values with [ ] { } : #)"
        ) from None
    except yaml.YAMLError as error:  # a character YAML does not allow, such as NUL
        problem = str(error).split("\n", 1)[0]
        raise ConfigError(
            f"{file}: not valid YAML: {problem}; fix: remove that character"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping with lake, kafka, datasets")
    problems = _model_problems(raw) + _missing_env(raw, environ)
    if problems:
        field, first = problems[0]
        fix = first.split("fix: ", 1)[1] if "fix: " in first else None
        raise ConfigError(_summarize(file, [p for _, p in problems]), field=field, fix=fix)
    project = Project.model_validate(raw)
    project._path = file
    return project


def _where(file: Path, mark: yaml.Mark | None) -> str:
    """``file:line:column`` of a YAML mark, or the file alone."""
    return f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)


def _model_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, one line) per problem pydantic finds."""
    try:
        Project.model_validate(raw)
    except ValidationError as error:
        return [(_field_path(e["loc"], raw), _describe(e, raw)) for e in error.errors()]
    return []


def _missing_env(raw: Any, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = []
    for field, value in _strings(raw):
        try:
            expand_env(value, environ, field)
        except ConfigError as error:
            problems.append((field, str(error)))
    return problems


def _strings(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{prefix}[{index}]")
    elif isinstance(node, str):
        yield prefix, node


def _describe(error: Any, raw: dict[str, Any]) -> str:
    field = _field_path(error["loc"], raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        guess = difflib.get_close_matches(key, field_names(), n=1)
        hint = f"did you mean {guess[0]!r}?" if guess else "remove it"
        return f"{field}: unknown key; fix: {hint}"
    if kind == "missing":
        return f"{field}: required but missing; fix: add it"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return f"{field}: {message}"
    shown = error.get("input")
    fix = _TYPE_FIXES.get(kind, "fix: correct the value").format(shown)
    return f"{field}: {message} (got {shown!r}); {fix}"


_TYPE_FIXES = {
    "list_type": "fix: write a list, e.g. [{0}]",
    "dict_type": "fix: write a mapping of key: value lines",
    "literal_error": "fix: use one of the values listed",
    "union_tag_invalid": "fix: use one of the values listed",
    "union_tag_not_found": "fix: add the tag field named above",
    "int_parsing": "fix: write a whole number",
    "int_type": "fix: write a whole number",
    "float_parsing": "fix: write a number",
    "bool_parsing": "fix: write true or false",
    "string_type": "fix: write text (quote it in YAML)",
}


def _field_path(loc: tuple[Any, ...], raw: Any) -> str:
    """Dotted path of ``loc`` as the user wrote it, without pydantic's union tags."""
    parts: list[str] = []
    node = raw
    for element in loc:
        if isinstance(node, list) and isinstance(element, int) and element < len(node):
            parts[-1] += f"[{element}]"
            node = node[element]
        elif isinstance(node, dict) and element in node:
            parts.append(str(element))
            node = node[element]
        elif isinstance(node, dict) and element in (node.get("kind"), node.get("check")):
            continue  # the discriminator value pydantic puts in the path of a tagged union
        else:
            parts.append("schema" if element == "schema_" else str(element))
            node = None
    return ".".join(parts) or "(top level)"


def _summarize(file: Path, problems: list[str]) -> str:
    first = f"{file}: {problems[0]}"
    if len(problems) == 1:
        return first
    rest = "\n".join(f"{file}: {p}" for p in problems[1:])
    return f"{first}  (+{len(problems) - 1} more below)\n{rest}"
