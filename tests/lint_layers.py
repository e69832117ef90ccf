"""Run import-linter's contracts (``[tool.importlinter]`` in pyproject.toml) over the source tree.

``make lint`` runs this; ``tests/test_layers.py`` runs it over copies that break each contract.

Why not plain ``lint-imports``: grimp finds the root package with ``importlib.util.find_spec``
and walks the directories it names. The four folders become ``thermocline.<folder>`` only
through setuptools' ``package-dir`` mapping, and the editable install hands grimp a placeholder
path for ``thermocline``, so plain ``lint-imports`` analyses no module at all and fails with
"module thermocline.pipelines does not exist". Here ``thermocline/`` is a temporary directory
of links to the four folders, first on the path of a Python started with ``-S``: no ``.pth``
file runs, so neither the editable finder nor a strict editable install's link tree (which
misses modules added since) can add a second, different copy of the package.

Usage: ``python tests/lint_layers.py [--source DIR] [lint-imports options, e.g. --verbose]``;
``--source`` is the folder that holds ``catalog/``, ``datasets/``, ``quality/``,
``pipelines/`` (the repository root by default). The exit status is lint-imports' own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FOLDERS", "REPO_ROOT", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("catalog", "datasets", "quality", "pipelines")
_RUN_LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def main(argv: Sequence[str] | None = None) -> int:
    """Lint ``--source`` against the repository's contracts; return lint-imports' exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO_ROOT)
    args, lint_args = parser.parse_known_args(argv)
    source: Path = args.source.resolve()
    missing = [folder for folder in FOLDERS if not (source / folder).is_dir()]
    if missing:
        raise SystemExit(f"{source} lacks the folder(s) {', '.join(missing)}")
    libraries = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    with tempfile.TemporaryDirectory(prefix="thermocline-layers-") as tree:
        package = Path(tree) / "thermocline"
        package.mkdir()
        for folder in FOLDERS:
            (package / folder).symlink_to(source / folder, target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, *libraries])}
        command = [sys.executable, "-S", "-c", _RUN_LINT_IMPORTS]
        command += ["--no-cache", "--no-logo", *lint_args, str(REPO_ROOT / "pyproject.toml")]
        # lint-imports puts its working directory first on sys.path: the tree, not the repository.
        return subprocess.run(command, cwd=tree, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
