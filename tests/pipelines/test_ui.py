"""The Dagster UI end to end: ``dagster dev`` (webserver and daemon) for a copy of the repository's
project, one run launched and checked through GraphQL, and a headless-Chromium screenshot.

Everything goes through the real webserver at ``http://127.0.0.1:PORT/graphql`` with plain
``urllib`` POSTs: the assertions need queries (materialization metadata, check executions) that
``DagsterGraphQLClient`` only offers through its private ``_execute``, and the queries written
out here are the ones a person can paste into the UI's GraphQL playground.

Chromium is Debian's ``chromium`` package, installed by ``make chromium`` (``make test`` runs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from waits import wait_until

from thermocline.catalog.config import Project
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import write_demo_rides_csv
from thermocline.pipelines.devstack.processes import log_tail
from thermocline.pipelines.ui import UiInfo, ui_down, ui_up

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ROWS = 1_000
CHECKS = {
    "not_null_ride_id_started_at",
    "unique_ride_id",
    "range_fare",
    "distribution_drift_fare",
    "gx_column_values_to_be_in_set_city",
    "gx_column_values_to_be_between_distance_km",
    "gx_column_mean_to_be_between_fare",
    "gx_table_row_count_to_be_between",
    "pii",
}
RUN_SECONDS = 120.0
LOAD_SECONDS = 60.0
# about:blank at 1400x900 is a 5.7 KB PNG; Dagster's pages (graph, catalog, "Empty graph",
# overview) are 48-63 KB. The size only proves that a page was painted: that the graph holds
# the `rides` node is asserted on the DOM of the same load.
MIN_SCREENSHOT_BYTES = 20_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.ui


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``: ``dagster dev`` and everything it started."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(stat.parent.name))
    return members


def _stop(project: Project, pid: int | None) -> None:
    """``ui_down``, then check by PID that dagster dev and its whole session are gone."""
    stopped = ui_down(project)
    if pid is None:
        return
    assert stopped == pid, f"ui_down stopped {stopped}, expected dagster dev's PID {pid}"
    assert pid not in _session_members(pid), f"dagster dev (PID {pid}) still runs after ui_down"
    # Its code server notices the parent is gone and exits a moment later.
    wait_until(
        lambda: not _session_members(pid),
        30,
        lambda: f"the processes of dagster dev's session {pid} to exit: {_session_members(pid)}",
        every=0.2,
    )


@pytest.fixture
def dagster_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, UiInfo]]:
    """``dagster dev`` for a copy of the repository's project with one 1,000-row demo batch."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("thermocline.yaml", "rides.suite.json", "dagster.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    # The test launches the run itself: rides' source sensor (on by default) would take the
    # batch first. test_daemon.py is where the sensor runs it.
    config = yaml.safe_load((root / "thermocline.yaml").read_text())
    config["datasets"]["rides"]["automation"] = {"enabled": False}
    (root / "thermocline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    write_demo_rides_csv(root / ".thermocline" / "demo" / "rides", ROWS)
    # The lake must be <root>/lake, whatever the developer's shell exports; dagster dev inherits
    # this environment (and the working directory, as when run from the project folder).
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    monkeypatch.chdir(root)
    project = load_project(root / "thermocline.yaml")
    try:
        info = ui_up(project, _free_port())
    except BaseException:
        ui_down(project)  # ui_up raises on a timeout without stopping what it started
        raise
    assert info.pid is not None
    print(f"dagster dev PID {info.pid} at {info.url}, log {info.log}")
    yield project, info
    _stop(project, info.pid)


class GraphQL:
    """POSTs to the webserver's /graphql; any GraphQL error fails the test with the log's tail."""

    def __init__(self, info: UiInfo) -> None:
        self.url = f"{info.url}/graphql"
        self.log = info.log

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.load(response)
        except urllib.error.URLError as exc:
            pytest.fail(f"POST {self.url} failed: {exc}{self.tail()}")
        if answer.get("errors"):
            pytest.fail(f"GraphQL errors: {json.dumps(answer['errors'], indent=1)}{self.tail()}")
        data: dict[str, Any] = answer["data"]
        return data

    def tail(self) -> str:
        return f"\n--- last lines of {self.log} ---\n{log_tail(self.log, 40)}"


WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            name
            repositories { name assetNodes { assetKey { path } jobNames } }
          }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($selector: JobOrPipelineSelector!) {
  launchRun(executionParams: {selector: $selector}) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}
"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId
      status
      jobName
      assetSelection { path }
      assetMaterializations { assetKey { path } }
    }
    ... on Error { message }
  }
}
"""

RUN_ERRORS = """
query RunErrors($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(limit: 1000) {
        events {
          __typename
          ... on MessageEvent { message stepKey }
          ... on ErrorEvent { error { message causes { message } } }
        }
      }
    }
  }
}
"""

ASSET = """
query Asset($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          __typename
          label
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
        }
      }
      assetChecksOrError {
        __typename
        ... on AssetChecks {
          checks {
            name
            executionForLatestMaterialization {
              runId
              status
              evaluation { success description }
            }
          }
        }
      }
    }
  }
}
"""


RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry { name loadStatus }
    ... on Error { message }
  }
}
"""

DISCOVERY = """
query Discovery($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode {
      description
      owners {
        __typename
        ... on UserAssetOwner { email }
        ... on TeamAssetOwner { team }
      }
      tags { key value }
      metadataEntries {
        label
        ... on TableSchemaMetadataEntry {
          schema { columns { name type description tags { key value } } }
        }
      }
    }
  }
}
"""
# Dagster OSS's catalog search resolves tag:, owner:, kind:, group: (column: and column_tag:
# parse, but only Dagster+ resolves them): a PII class is the asset tag pii/<class>.
SEARCH = 'tag:"pii/email"'
SEARCH_PNG = Path("/work/notes/ui-search.png")


def _asset_job_selector(gql: GraphQL, asset: str) -> dict[str, Any]:
    """The location and repository that define ``asset``, once the code location has loaded."""

    seen: list[dict[str, Any]] = []

    def loaded() -> list[dict[str, Any]]:
        workspace = gql(WORKSPACE)["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", workspace
        seen[:] = workspace["locationEntries"]
        return list(seen) if all(entry["loadStatus"] == "LOADED" for entry in seen) else []

    entries = wait_until(
        loaded, LOAD_SECONDS, lambda: f"the code location to load: {seen}", every=0.5
    )
    found = []
    for entry in entries:
        location = entry["locationOrLoadError"]
        if location["__typename"] != "RepositoryLocation":
            pytest.fail(f"code location {entry['name']} failed to load: {location}{gql.tail()}")
        for repository in location["repositories"]:
            for node in repository["assetNodes"]:
                if node["assetKey"]["path"] == [asset]:
                    found.append((location["name"], repository["name"], node["jobNames"]))
    assert len(found) == 1, f"expected one definition of asset {asset!r}, found {found}"
    location_name, repository_name, job_names = found[0]
    assert "__ASSET_JOB" in job_names, job_names
    return {
        "repositoryLocationName": location_name,
        "repositoryName": repository_name,
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": [asset]}],
    }


def _run_errors(gql: GraphQL, run_id: str) -> str:
    """The run's failure events, each with its error and the error's causes."""
    events = gql(RUN_ERRORS, runId=run_id)["runOrError"]["eventConnection"]["events"]
    lines = []
    for event in events:
        error = event.get("error")
        if error is None and not event["__typename"].endswith("FailureEvent"):
            continue
        lines.append(f"{event['__typename']} {event.get('stepKey') or ''}: {event['message']}")
        for part in [error, *error["causes"]] if error else []:
            lines.append(f"  {part['message'].strip()}")
    return "\n".join(lines)


def _wait_for_run(gql: GraphQL, run_id: str) -> dict[str, Any]:
    """Poll until the run ends; the queued run coordinator leaves starting it to the daemon."""
    last: dict[str, Any] = {}

    def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = gql(RUN, runId=run_id)["runOrError"]
        assert run["__typename"] == "Run", run
        last.update(run)
        return run if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"} else None

    run = wait_until(
        ended,
        RUN_SECONDS,
        lambda: (
            f"run {run_id} to end; it is {last.get('status')} "
            f"(QUEUED means the daemon did not pick it up){gql.tail()}"
        ),
        every=0.5,
    )
    if run["status"] != "SUCCESS":
        pytest.fail(f"run {run_id} ended {run['status']}:\n{_run_errors(gql, run_id)}")
    return run


def _screenshot(url: str, png: Path, profile: Path) -> str:
    """Headless Chromium's screenshot of ``url`` into ``png``; returns the DOM of that load."""
    argv = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,900",
        # Virtual time runs ahead while the page is idle: the app's queries finish first.
        "--virtual-time-budget=15000",
        f"--screenshot={png}",
        "--dump-dom",
        url,
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within 90 s: {' '.join(argv)}")
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def test_ui_runs_asset_and_shows_graph(dagster_ui: tuple[Project, UiInfo], tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    project, info = dagster_ui
    gql = GraphQL(info)

    selector = _asset_job_selector(gql, "rides")
    launched = gql(LAUNCH_RUN, selector=selector)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    run = _wait_for_run(gql, run_id)

    assert run["status"] == "SUCCESS"
    assert run["jobName"] == "__ASSET_JOB"
    assert run["assetSelection"] == [{"path": ["rides"]}]
    assert run["assetMaterializations"] == [{"assetKey": {"path": ["rides"]}}]

    node = gql(ASSET, path=["rides"])["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    (materialization,) = node["assetMaterializations"]
    assert materialization["runId"] == run_id
    metadata = {entry["label"]: entry for entry in materialization["metadataEntries"]}
    assert metadata["dagster/row_count"]["intValue"] == ROWS
    assert metadata["delta/version"]["intValue"] == 0
    table_uri = metadata["delta/table_uri"]["text"]
    assert table_uri.endswith("/lake/rides"), table_uri
    assert table_uri == str(project.root / "lake" / "rides")
    assert (Path(table_uri) / "_delta_log" / "00000000000000000000.json").is_file()
    # The classifications ride in the metadata; the `pii` check below passing means the run
    # hashed rider_email as the demo project says (the dev UI's demo key).
    assert metadata["pii/classifications"]["__typename"] == "MarkdownMetadataEntry"

    checks = node["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    executions = {c["name"]: c["executionForLatestMaterialization"] for c in checks["checks"]}
    assert set(executions) == CHECKS
    for name, execution in executions.items():
        assert execution is not None, f"check {name} has no execution"
        assert execution["runId"] == run_id, (name, execution)
        assert execution["status"] == "SUCCEEDED", (name, execution)
        assert execution["evaluation"]["success"] is True, (name, execution)

    # The first visit opens a "what's new" modal over the page; mark it seen.
    assert gql("mutation { setNuxSeen }") == {"setNuxSeen": True}
    png = tmp_path / "asset-graph.png"
    # The rides asset's lineage: the global graph collapses each group (files_sources,
    # kafka_sources) to one box once there are several.
    dom = _screenshot(f"{info.url}/assets/rides?view=lineage", png, tmp_path / "chromium-profile")
    print(f"asset graph screenshot: {png}")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{png} is not a PNG"
    assert data[12:16] == b"IHDR"
    assert (int.from_bytes(data[16:20]), int.from_bytes(data[20:24])) == (1400, 900)
    assert len(data) > MIN_SCREENSHOT_BYTES, f"{png} is {len(data)} bytes: a blank page?"
    # The graph (not only the page title) has a node titled `rides` with its checks' summary.
    assert 'data-tooltip="rides"' in dom, "the asset graph has no `rides` node"
    assert f"{len(CHECKS)} / {len(CHECKS)} Passed" in dom
    assert "Empty graph" not in dom

    _check_discovery(gql, selector["repositoryLocationName"], info, tmp_path)


def _check_discovery(gql: GraphQL, location: str, info: UiInfo, tmp_path: Path) -> None:
    """After the run's PII scan, a reload of the code location gives rides its PII column tags
    and the asset tag pii/email; the catalog searched by that tag lists rides alone."""
    reloaded = gql(RELOAD, name=location)["reloadRepositoryLocation"]
    assert reloaded["__typename"] == "WorkspaceLocationEntry", reloaded

    def discovered() -> dict[str, Any] | None:
        node: dict[str, Any] = gql(DISCOVERY, path=["rides"])["assetNodeOrError"]
        tags = {t["key"]: t["value"] for t in node.get("tags", [])}
        return node if "pii/email" in tags else None

    node = wait_until(discovered, LOAD_SECONDS, "the reloaded rides asset to carry pii/email")
    tags = {t["key"]: t["value"] for t in node["tags"]}
    assert tags["thermocline/source"] == "files"
    assert tags["column/rider_email"] == ""
    assert node["owners"] == [
        {"__typename": "UserAssetOwner", "email": "data-platform@thermocline.dev"}
    ]
    assert node["description"].startswith("Synthetic taxi rides")
    (schema,) = [e for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
    columns = {c["name"]: c for c in schema["schema"]["columns"]}
    email_tags = {t["key"]: t["value"] for t in columns["rider_email"]["tags"]}
    assert email_tags == {"pii_class": "email", "pii_review": "detected", "pii_action": "hash"}
    assert columns["rider_email"]["description"] == "PII: email (hash; detected)"
    assert {t["key"] for t in columns["fare"]["tags"]} == {"pii_class", "pii_review"}
    events = gql(DISCOVERY, path=["ride_events"])["assetNodeOrError"]
    assert not any(t["key"].startswith("pii/") for t in events["tags"]), events["tags"]

    png = tmp_path / "catalog-search.png"
    query = urllib.parse.urlencode({"asset-selection": SEARCH})
    dom = _screenshot(f"{info.url}/assets?{query}", png, tmp_path / "chromium-profile")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{png} is not a PNG"
    assert len(data) > MIN_SCREENSHOT_BYTES, f"{png} is {len(data)} bytes: a blank page?"
    assert 'href="/assets/rides' in dom, "the catalog search for a PII class lists rides"
    assert 'href="/assets/ride_events' not in dom, "ride_events holds no email"
    if SEARCH_PNG.parent.is_dir():
        shutil.copy(png, SEARCH_PNG)
    print(f"catalog search screenshot: {png}")
