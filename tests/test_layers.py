"""The import-linter contracts are live: the real tree keeps them all, and a copy with one
deliberate violation breaks exactly the contract it violates.

Every case runs ``tests/lint_layers.py``, the command ``make lint`` runs, so a contract that
silently analyses nothing (the editable install hides the namespace portions from grimp) fails
here. Needs no dev stack; about a second per case.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT = REPO_ROOT / "tests" / "lint_layers.py"
FOLDERS = ("catalog", "datasets", "quality", "pipelines")
CONTRACTS: dict[str, str] = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]["contracts"]
}

# (contract id, new module relative to the source root, its text, the illegal import reported)
VIOLATIONS = [
    pytest.param(
        "layers",
        "catalog/upward.py",
        "from thermocline.datasets.tables import versions\n",
        "thermocline.catalog.upward -> thermocline.datasets.tables.versions",
        id="catalog-imports-datasets",
    ),
    # devstack.info reaches no dagster and no storage client, so only the layers contract breaks.
    pytest.param(
        "layers",
        "quality/upward.py",
        "import thermocline.pipelines.devstack.info\n",
        "thermocline.quality.upward -> thermocline.pipelines.devstack.info",
        id="quality-imports-pipelines",
    ),
    pytest.param(
        "dagster",
        "datasets/ingest/orchestrated.py",
        "import dagster\n",
        "thermocline.datasets.ingest.orchestrated -> dagster",
        id="datasets-subpackage-imports-dagster",
    ),
    pytest.param(
        "dagster",
        "catalog/lazy.py",
        "def run() -> None:\n    import dagster_webserver\n",
        "thermocline.catalog.lazy -> dagster_webserver",
        id="catalog-imports-dagster-webserver-in-a-function",
    ),
    pytest.param(
        "pure-quality",
        "quality/storage.py",
        "from deltalake import DeltaTable\n",
        "thermocline.quality.storage -> deltalake",
        id="quality-imports-deltalake",
    ),
    pytest.param(
        "pure-quality",
        "quality/stream.py",
        "import confluent_kafka\n",
        "thermocline.quality.stream -> confluent_kafka",
        id="quality-imports-confluent-kafka",
    ),
]


def lint(source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LINT), "--source", str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def copy_tree(destination: Path) -> Path:
    for folder in FOLDERS:
        shutil.copytree(
            REPO_ROOT / folder,
            destination / folder,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return destination


def test_every_contract_has_a_violation_case() -> None:
    assert CONTRACTS.keys() == {"layers", "dagster", "pure-quality"}
    assert {case.values[0] for case in VIOLATIONS} == CONTRACTS.keys()


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("contract", "module", "text", "chain"), VIOLATIONS)
def test_a_violation_breaks_its_contract(
    tmp_path: Path, contract: str, module: str, text: str, chain: str
) -> None:
    source = copy_tree(tmp_path)
    (source / module).write_text(text)
    result = lint(source)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"{CONTRACTS[contract]} BROKEN" in result.stdout, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS) - 1} kept, 1 broken." in result.stdout
    assert chain in result.stdout
