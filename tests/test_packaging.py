"""The wheel holds every module as ``thermocline.<folder>...`` and nothing at the top level
that could shadow another distribution (Hugging Face ``datasets`` above all)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("catalog", "datasets", "quality", "pipelines")


def build_wheel(project: Path, out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a clean copy, so no stale ``build/`` output of an earlier build leaks in."""
    source = tmp_path_factory.mktemp("source") / "thermocline"
    shutil.copytree(
        REPO_ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".thermocline",
            "build",
            "dist",
            "lake",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
        ),
    )
    return build_wheel(source, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def other_datasets_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for Hugging Face ``datasets``: a distribution with a top-level ``datasets``."""
    project = tmp_path_factory.mktemp("other")
    (project / "datasets").mkdir()
    (project / "datasets" / "__init__.py").write_text('WHO = "the other datasets"\n')
    (project / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=80"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "other-datasets"
        version = "1.0"
        [tool.setuptools]
        packages = ["datasets"]
    """)
    )
    return build_wheel(project, tmp_path_factory.mktemp("other-wheel"))


def source_modules() -> set[str]:
    modules = set()
    for folder in FOLDERS:
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.is_file() and (path.suffix == ".py" or path.name == "py.typed"):
                modules.add(f"thermocline/{path.relative_to(REPO_ROOT).as_posix()}")
    return modules


def test_every_module_is_in_the_wheel_under_thermocline(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = source_modules()
    assert len(expected) > 10
    assert expected - names == set()
    # Package data: the person-name lexicons (quality/pii/data, scripts/build_pii_lexicons.py).
    assert {
        "thermocline/quality/pii/data/given_names.txt.gz",
        "thermocline/quality/pii/data/surnames.txt.gz",
    } <= names
    for folder in FOLDERS:
        assert f"thermocline/{folder}/py.typed" in names
        assert f"thermocline/{folder}/__init__.py" not in names, "the four folders stay namespaces"


def test_nothing_but_thermocline_at_the_top_level(wheel: Path) -> None:
    top = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert top == {
        "thermocline",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "thermocline = thermocline.pipelines.cli:main" in entry_points


def test_another_top_level_datasets_still_wins(
    wheel: Path, other_datasets_wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            str(python),
            str(other_datasets_wheel),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "import datasets, thermocline.datasets as ours; "
        "print(datasets.WHO); print(list(ours.__path__)[0])"
    )
    # Run from the repository root too: its datasets/ folder is on sys.path there, and must
    # still lose to the installed regular package.
    for cwd in (tmp_path, REPO_ROOT):
        result = subprocess.run(
            [str(python), "-c", probe], cwd=cwd, capture_output=True, text=True, check=True
        )
        who, ours = result.stdout.splitlines()
        assert who == "the other datasets"
        assert ours.endswith("site-packages/thermocline/datasets")


def test_development_install_adds_no_top_level_datasets(tmp_path: Path) -> None:
    probe = "import importlib.util as u; s = u.find_spec('datasets'); print(s and s.origin)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    origin = result.stdout.strip()
    assert origin == "None" or str(REPO_ROOT) not in origin
