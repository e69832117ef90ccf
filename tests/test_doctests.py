"""Every docstring example in the four packages runs, and prints what it shows.

The examples are the first code a newcomer copies, so a wrong one is a bug. Modules are found
by walking the package folders (a module added later is covered without editing this file) and
imported by name, the way users import them. Examples that need a lake, a broker or a project
file are marked ``# doctest: +SKIP`` in the docstring itself.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("catalog", "datasets", "quality", "pipelines")
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_names() -> list[str]:
    """``thermocline.<folder>.<...>`` for every ``.py`` file under the four folders."""
    names = []
    for folder in FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(("thermocline", *parts)))
    return names


def test_every_package_folder_has_modules() -> None:
    """The walk finds the tree (a wrong root would make every doctest test pass vacuously)."""
    names = module_names()
    for folder in FOLDERS:
        assert any(name.startswith(f"thermocline.{folder}.") for name in names), folder
    assert "thermocline.quality.builtin" in names
    assert "thermocline.catalog.commits" in names


def run_examples(name: str) -> tuple[doctest.TestResults, str]:
    """Run the examples of module ``name``'s own objects (a name it imports is run where it is
    defined); returns the counts and the report of every failure."""
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name, module=module):
        runner.run(test, out=report.append)
    return doctest.TestResults(runner.failures, runner.tries), "".join(report)


def test_examples_that_are_not_skipped_do_run() -> None:
    """A module with live examples reports them as tried (SKIP ones are not counted)."""
    results, report = run_examples("thermocline.quality.builtin")
    assert results.attempted >= 5, report
    assert results.failed == 0, report


def test_a_wrong_example_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "thermocline_doctest_probe.py"
    module.write_text('''"""
>>> 1 + 1
3
>>> 1 + 1
2
>>> 1 / 0  # doctest: +SKIP
"""
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    results, report = run_examples("thermocline_doctest_probe")
    assert (results.failed, results.attempted) == (1, 2)
    assert "Expected:\n    3\nGot:\n    2" in report


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples(name: str) -> None:
    results, report = run_examples(name)
    if results.failed:
        failed = f"{name}: {results.failed} docstring example(s) failed:\n{report}"
        pytest.fail(failed, pytrace=False)
