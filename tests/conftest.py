"""Shared fixtures: a local lake, an S3 lake on the dev stack's server, and Kafka.

The S3 server and the broker are real (Ceph RGW or the announced moto fallback, and Tansu),
started by the project's own dev stack on 127.0.0.1 the first time a test needs them; what
already runs is reused. Only tests marked ``s3`` or ``kafka`` may use them (``dev_stack``
checks). Storage tests take the ``lake`` fixture and run on both lakes. Helpers that tests
import live in ``tests/support/`` (on ``sys.path``), tests of the dev stack itself in
``tests/devstack/``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from thermocline.catalog.lake import Lake
from thermocline.pipelines import devstack

REPO_ROOT = Path(__file__).resolve().parents[1]


STACK_MARKERS = ("s3", "kafka")

# The HMAC key of `pii: {columns: {x: hash}}` (and of sealed dead letters) for every test and
# the subprocesses they start; a test of the key itself sets or unsets it with monkeypatch.
TEST_PII_KEY = "thermocline-test-pii-key-4f1c9a"
os.environ.setdefault("THERMOCLINE_PII_KEY", TEST_PII_KEY)


@pytest.fixture(scope="session")
def _running_stack() -> devstack.StackInfo:
    return devstack.up(REPO_ROOT / ".thermocline" / "dev", log=print)


@pytest.fixture
def dev_stack(request: pytest.FixtureRequest) -> devstack.StackInfo:
    """The running dev stack (started here when it is not up yet), for tests marked ``s3`` or
    ``kafka`` only: so ``-m "not s3 and not kafka and not ui"`` never starts or touches it."""
    if not any(request.node.get_closest_marker(name) for name in STACK_MARKERS):
        pytest.fail(
            f"{request.node.nodeid} uses the dev stack but is not marked "
            "@pytest.mark.s3 or @pytest.mark.kafka",
            pytrace=False,
        )
    stack: devstack.StackInfo = request.getfixturevalue("_running_stack")
    return stack


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake.open(tmp_path / "lake")


@pytest.fixture
def s3_lake(dev_stack: devstack.StackInfo) -> Iterator[Lake]:
    """A fresh prefix in the dev bucket, removed afterwards."""
    s3 = dev_stack.s3
    assert s3 is not None, "the dev stack has no S3 server"
    assert s3.running, "the dev stack's S3 server is not running"
    prefix = f"s3://{s3.bucket}/tests/{uuid.uuid4().hex[:12]}"
    lake = Lake.open(prefix, dev_stack.s3_storage_options())
    yield lake
    root = lake.filesystem  # a SubTreeFileSystem at the prefix: delete the prefix itself
    prefix_path = root.base_path.rstrip("/")
    if root.base_fs.get_file_info(prefix_path).type != pafs.FileType.NotFound:
        root.base_fs.delete_dir(prefix_path)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake(request: pytest.FixtureRequest) -> Lake:
    """Runs the test once on a local lake and once on the S3 lake."""
    result: Lake = request.getfixturevalue(f"{request.param}_lake")
    return result


@pytest.fixture
def kafka_bootstrap(dev_stack: devstack.StackInfo) -> str:
    kafka = dev_stack.kafka
    assert kafka is not None, "the dev stack has no Kafka broker"
    assert kafka.running, "the dev stack's Kafka broker is not running"
    return kafka.bootstrap_servers


@pytest.fixture
def fresh_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Unique names for topics and groups: the broker keeps them for its whole life."""

    def make(prefix: str) -> str:
        test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
        return f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"

    return make
