"""The commit-metadata keys have one home: ``thermocline.catalog.commits``.

A key spelled out anywhere else can drift from the one its reader uses, so the test walks every
Python file of the repository and fails on any ``"thermocline.<name>"`` string constant that is
not a module path, outside commits.py.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from thermocline.catalog import commits

REPO_ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("catalog", "datasets", "quality", "pipelines", "tests", "benchmarks")
HOME = REPO_ROOT / "catalog" / "commits.py"
KEY_LIKE = re.compile(r"^thermocline(\.[a-z_]+)+$")
FILE_NAMES = ("thermocline.yaml", "thermocline.yml")


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _key_literals(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and KEY_LIKE.match(node.value)
            and node.value not in FILE_NAMES
            and not _is_module(node.value)
        ):
            found.append((node.lineno, node.value))
    return found


def test_no_commit_key_is_spelled_outside_its_home() -> None:
    strays = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {value!r}"
        for folder in FOLDERS
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        if path not in (HOME, Path(__file__).resolve())
        for line, value in _key_literals(path)
    ]
    assert strays == [], "import the key from thermocline.catalog.commits instead:\n" + "\n".join(
        strays
    )


def test_the_scan_sees_a_stray_key(tmp_path: Path) -> None:
    """The scan is live: a key literal outside commits.py is found, a module path is not."""
    stray = tmp_path / "stray.py"
    stray.write_text(
        'metadata = {"thermocline.reason": "x"}\nmodule = "thermocline.catalog.commits"\n'
    )
    assert _key_literals(stray) == [(1, "thermocline.reason")]


def test_every_key_is_exported_and_distinct() -> None:
    keys = {name: getattr(commits, name) for name in commits.__all__ if name.endswith("_KEY")}
    assert len(set(keys.values())) == len(keys), "two names for one key"
    assert all(value.startswith("thermocline.") for value in keys.values())
    assert _key_literals(HOME) == sorted(
        (line, value) for line, value in _key_literals(HOME) if value in keys.values()
    ), "commits.py holds only exported keys"
