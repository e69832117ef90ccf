"""The ``thermocline`` command line, run in-process as a user runs it, on a copy of the demo
project.

click's ``CliRunner`` calls the root command the console script calls, so the exit codes, the
``--json`` output and the one-line errors are the ones a user gets; a test that needs the
console script itself is in ``test_cli_help.py``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cli_runner import thermocline
from deltalake import DeltaTable, write_deltalake

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.commits import FILES_KEY, INPUTS_KEY
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.demo import write_next_demo_batch
from thermocline.datasets.tables.versions import open_table, read_dataset
from thermocline.datasets.tables.writes import write
from thermocline.pipelines.cli.demo import LINEAGE_COMMITS
from thermocline.pipelines.ui import dagster_instance

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    for name in ("thermocline.yaml", "rides.suite.json", "dagster.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def test_demo_ingests_a_new_version_per_run(project: Path) -> None:
    for run in range(2):
        result = thermocline("demo", "--rows", "1000", cwd=project)
        assert result.exit_code == 0, result.stderr
        assert f"published version {run} of rides" in result.stdout
        assert "history of rides" in result.stdout
        assert f"tier report of rides: {run + 1} file(s)" in result.stdout  # a day per batch
        assert "tiering of rides: " in result.stdout

    listing = thermocline("history", "rides", "--json", cwd=project)
    assert listing.exit_code == 0, listing.stderr
    commits = json.loads(listing.stdout)
    assert [c["version"] for c in commits] == [1, 0]
    assert [c["rows_added"] for c in commits] == [1000, 1000]
    assert commits[0]["reason"] == (
        "1 new file(s) from .thermocline/demo/rides/*.csv: rides-0001.csv (0.1 MB)"
    )

    table = read_dataset(Catalog(Lake.open(project / "lake")), "rides").to_table()
    assert table.num_rows == 2000
    assert pc.count_distinct(table["ride_id"]).as_py() == 2000
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert Catalog(Lake.open(project / "lake")).registered()["rides"]["partition_by"] == ["day"]
    assert (project / "lake" / "rides").is_dir()
    assert any(p.name.startswith("day=") for p in (project / "lake" / "rides").iterdir())


def test_the_demo_table_holds_no_clear_email(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THERMOCLINE_PII_KEY")  # a fresh machine: the demo's own key
    result = thermocline("demo", "--rows", "300", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert "THERMOCLINE_PII_KEY is not set" in result.stderr
    assert "PII  rider_email: email (100% of 300 sampled values), stored as hash" in result.stdout
    # Every Parquet file under the table root, read directly (not through the Delta log).
    files = sorted((project / "lake" / "rides").rglob("*.parquet"))
    assert files
    emails = pa.chunked_array(
        [pq.read_table(f, columns=["rider_email"])["rider_email"] for f in files]
    )
    assert len(emails) == 300
    assert not pc.any(pc.match_substring(emails, "@")).as_py()
    assert pc.all(pc.match_substring_regex(emails, "^[0-9a-f]{64}$")).as_py()
    listed = json.loads(thermocline("pii", "list", "--json", cwd=project).stdout)
    assert [(c["column"], c["pii_class"], c["action"]) for c in listed] == [
        ("rider_email", "email", "hash")
    ]


def test_the_demo_bad_batch_names_the_expectation_it_failed(project: Path) -> None:
    good = thermocline("demo", "--rows", "300", cwd=project)
    assert good.exit_code == 0, good.stderr
    assert "ok   gx_column_values_to_be_in_set_city:" in good.stdout
    assert "published version 0 of rides" in good.stdout

    bad = thermocline("demo", "--rows", "300", "--bad", cwd=project)
    assert bad.exit_code == 0, bad.stderr  # the quarantine is what --bad shows
    assert "wrote 300 bad rides" in bad.stdout
    failed = [line for line in bad.stdout.splitlines() if line.startswith("  FAIL ")]
    assert len(failed) == 1, bad.stdout
    assert failed[0].startswith("  FAIL gx_column_values_to_be_in_set_city: ")
    assert "6 of 300 rows" in failed[0]
    assert "'atlantis'" in failed[0]
    assert "failed gx_column_values_to_be_in_set_city and was quarantined" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    table = read_dataset(Catalog(Lake.open(project / "lake")), "rides").to_table()
    assert table.num_rows == 300, "nothing of the bad batch was published"


@pytest.mark.kafka
def test_demo_events_go_through_kafka_exactly_once_with_dead_letters(
    project: Path,
    kafka_bootstrap: str,
    fresh_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THERMOCLINE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("THERMOCLINE_DEMO_TOPIC", fresh_name("demo-events"))
    for run in (1, 2):
        result = thermocline("demo", "--rows", "100", "--events", "2000", cwd=project)
        assert result.exit_code == 0, result.stderr
        assert "produced 2000 ride events (10 malformed)" in result.stdout
        assert "1990 rows and 10 dead letters" in result.stdout
        lake = Lake.open(project / "lake")
        events = read_dataset(Catalog(lake), "ride_events").to_table()
        assert events.num_rows == pc.count_distinct(events["event_id"]).as_py() == 1990 * run
        assert read_dataset(Catalog(lake), "_dead_letters/ride_events").count_rows() == 10 * run
        points = Catalog(lake).pinned_files.restore_points("ride_events")
        newest = max(points, key=lambda version: points[version])
        assert f"restore point at version {newest}" in " ".join(result.stdout.split())
    assert len(points) == 1, "the second run's point was not due yet (every 15m)"


def test_ingest_batch_prints_the_outcome_and_its_checks_as_json(project: Path) -> None:
    write_next_demo_batch(load_project(project / "thermocline.yaml"), rows=100)
    outcome = as_json(project, "ingest", "batch", "rides")
    assert (outcome["status"], outcome["rows"], outcome["version"]) == ("published", 100, 0)
    assert [c["name"] for c in outcome["checks"]] == [
        "not_null_ride_id_started_at",
        "unique_ride_id",
        "range_fare",
        "distribution_drift_fare",
        "gx_column_values_to_be_in_set_city",
        "gx_column_values_to_be_between_distance_km",
        "gx_column_mean_to_be_between_fare",
        "gx_table_row_count_to_be_between",
    ]
    assert all(c["passed"] for c in outcome["checks"])
    assert outcome["checks"][0]["metadata"]["rows"] == 100
    assert as_json(project, "ingest", "batch", "rides")["status"] == "nothing_new"


def test_unknown_dataset_is_one_line_and_non_zero(project: Path) -> None:
    result = thermocline("history", "nope", cwd=project)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: unknown dataset 'nope' in {project / 'thermocline.yaml'}; "
        "datasets: ride_events, ride_features, rides"
    )


def test_dataset_without_a_table_says_what_to_do(project: Path) -> None:
    result = thermocline("history", "rides", cwd=project)
    assert result.exit_code == 2
    assert "dataset 'rides' has no table" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_failure_that_is_not_the_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "thermocline.yaml").write_text(
        "lake:\n  uri: s3://bucket/lake\n"
        "  storage_options: {AWS_ENDPOINT_URL: 'http://127.0.0.1:9'}\n"
        "datasets: {}\n"
    )
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: endpoint http://127.0.0.1:9 is plain http; "
        "set storage option AWS_ALLOW_HTTP: 'true' or use https"
    )


@pytest.fixture(scope="module")
def two_versions_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two-versions")
    for name in ("thermocline.yaml", "rides.suite.json"):
        shutil.copy(REPO_ROOT / name, folder / name)
    ingest_demo(folder, 2)
    return folder


@pytest.fixture
def two_versions(two_versions_template: Path, project: Path) -> Path:
    """A copy of a demo project whose rides table has versions 0 and 1."""
    shutil.copytree(two_versions_template, project, dirs_exist_ok=True)
    return project


def ingest_demo(project: Path, batches: int) -> None:
    for _ in range(batches):
        assert thermocline("demo", "--rows", "100", cwd=project).exit_code == 0


def as_json(project: Path, *args: str) -> Any:
    result = thermocline(*args, "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_versions_through_the_command_line(project: Path) -> None:
    ingest_demo(project, 3)
    listed = {d["dataset"]: d["version"] for d in as_json(project, "datasets", "list")}
    assert listed == {"rides": 2, "ride_events": None, "ride_features": None}, (
        "ride_events has no table yet, so the features are not built"
    )
    described = as_json(project, "describe", "rides")
    assert (described["version"], described["rows"], described["files"]) == (2, 300, 3)
    assert described["owners"] == ["data-platform@thermocline.dev"]

    assert thermocline("tag", "rides@1", "golden", cwd=project).exit_code == 0
    assert as_json(project, "tags")[0]["version"] == 1
    change = as_json(project, "diff", "rides", "golden", "2", "--rows", "2")
    assert (change["rows_added"], change["rows_removed"]) == (100, 0)
    assert len(change["rows_added_sample"]) == 2

    dry = thermocline("rollback", "rides", "--to", "golden", "--dry-run", cwd=project)
    assert dry.exit_code == 0
    assert "dry run: rides: version 2 -> contents of version 1" in dry.stdout
    assert as_json(project, "describe", "rides")["version"] == 2

    done = as_json(project, "rollback", "rides", "--to", "golden", "--yes", "--reason", "bad")
    assert (done["target_version"], done["new_version"]) == (1, 3)
    newest = as_json(project, "history", "rides", "--limit", "1")[0]
    assert (newest["operation"], newest["reason"]) == ("RESTORE", "bad")

    assert thermocline("release", "create", "r1", "rides@2", cwd=project).exit_code == 0
    vacuumed = as_json(project, "vacuum", "rides", "--retention-hours", "0")
    assert vacuumed["kept_versions"] == [1, 2]
    assert vacuumed["removed"] == []
    released = as_json(project, "release", "rollback", "r1", "--yes")
    assert [r["target_version"] for r in released["rolled_back"]] == [2]
    assert as_json(project, "describe", "rides")["rows"] == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "nope", "--to", "1", "--yes"], "unknown dataset 'nope'"),
        (
            ["rollback", "rides", "--to", "9", "--yes"],
            "rides has no version 9; its versions are 0..1",
        ),
        (["rollback", "rides", "--to", "2026-13-45", "--yes"], "malformed timestamp '2026-13-45'"),
        (["rollback", "rides", "--to", "silver", "--yes"], "unknown tag 'silver'"),
        (["rollback", "rides", "--to", "2099-01-01", "--yes"], "is in the future"),
        (["diff", "rides", "0", "5"], "rides has no version 5"),
        (["tag", "rides", "golden"], "write DATASET@VERSION"),
        (["tag", "rides@1", "7"], "tag name '7' reads as a version number or a time"),
        (["tag", "rides@1", "2026-11-01"], "tag name '2026-11-01' reads as a version"),
        (["history", "rides", "--limit", "-1"], "limit must be at least 1, not -1"),
        (["history", "rides", "--limit", "0"], "limit must be at least 1, not 0"),
        (["vacuum", "rides", "--retention-hours", "-5"], "retention must be 0 hours or more"),
        (["vacuum", "rides", "--retention-hours", "nan"], "retention must be 0 hours or more"),
        (["diff", "rides", "0", "1", "--rows", "-5"], "rows must be 0 or more, not -5"),
        (
            ["ingest", "batch", "rides", "--partition", "2026-11-99"],
            "partition '2026-11-99' is not a day value (day is date32[day])",
        ),
    ],
)
def test_bad_input_is_one_line_non_zero_and_changes_nothing(
    two_versions: Path, args: list[str], message: str
) -> None:
    project = two_versions
    result = thermocline(*args, cwd=project)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert as_json(project, "describe", "rides")["version"] == 1
    assert as_json(project, "tags") == []


def test_history_shows_the_files_a_vacuum_removed(two_versions: Path) -> None:
    project = two_versions
    assert as_json(project, "rollback", "rides", "--to", "0", "--yes")["new_version"] == 2
    vacuumed = as_json(project, "vacuum", "rides", "--retention-hours", "0")
    assert vacuumed["removed"], "version 1's files are needed by no version any more"
    commits = as_json(project, "history", "rides")
    ledgers = [c for c in commits if "vacuumed_files" in c]
    assert [c["vacuumed_files"] for c in ledgers] == [vacuumed["removed"]]
    assert ledgers[0]["version"] == commits[0]["version"], "the vacuum's own commit, the newest"

    shown = thermocline("history", "rides", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert f"ledger: {len(vacuumed['removed'])} file(s) removed" in shown.stdout


def test_tags_are_per_dataset_through_the_command_line(project: Path) -> None:
    """``tag rides@1 prod`` and ``tag ride_events@0 prod`` are two tags; releases name them."""
    ingest_demo(project, 2)
    lake = Lake.from_project(load_project(project / "thermocline.yaml"))
    write(Catalog(lake), "ride_events", pa.table({"event_id": pa.array([1], pa.int64())}))
    assert thermocline("tag", "rides@1", "prod", cwd=project).exit_code == 0
    assert thermocline("tag", "ride_events@0", "prod", cwd=project).exit_code == 0
    tags = {(t["dataset"], t["name"]): t["version"] for t in as_json(project, "tags")}
    assert tags == {("rides", "prod"): 1, ("ride_events", "prod"): 0}
    created = as_json(project, "release", "create", "r1", "rides@prod", "ride_events@prod")
    assert created["versions"] == {"rides": 1, "ride_events": 0}


@pytest.mark.kafka
def test_the_demo_trains_a_model_and_prints_its_lineage_back_to_files_and_offsets(
    project: Path,
    kafka_bootstrap: str,
    fresh_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole story: rides from a file and events from Kafka -> ride_features -> a model
    trained on a pinned version, tagged, with the lineage of its run printed back to the
    source file and the offset ranges the commits hold."""
    topic = fresh_name("demo-story")
    monkeypatch.setenv("THERMOCLINE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("THERMOCLINE_DEMO_TOPIC", topic)
    result = thermocline("demo", "--rows", "300", "--events", "400", cwd=project)
    assert result.exit_code == 0, result.stderr
    printed = result.stdout
    catalog = Catalog(Lake.open(project / "lake"))

    features = open_table(catalog.lake, "ride_features").version()
    assert f" built ride_features@{features} " in printed
    assert catalog.tag("ride_features", "ride_fare_model").version == features
    assert f"tagged ride_features@ride_fare_model -> version {features}\n" in printed
    [run] = catalog.runs.find("ride_features")
    assert run.version == features, "the tag points at the version trained on"
    assert f"trained ride_fare_model on ride_features@{features} in Dagster run" in printed
    lineage = printed[printed.index(f"lineage of training run {run.run_id} ") :]
    read = f"ride_features@{features} (derived, 300 rows) | checks: 3 passed, 0 failed\n"
    assert read in lineage, "the long line of the read is printed whole"
    assert "rider_email: email -> hash" in lineage, "the PII decision on rides is shown"

    # The versions the features were computed from, as their commit records them.
    inputs = json.loads(history_of(catalog, "ride_features")[features][INPUTS_KEY])
    rides_commits = history_of(catalog, "rides")
    assert inputs["rides"] == max(rides_commits)
    for url in json.loads(rides_commits[inputs["rides"]][FILES_KEY]):
        assert f"consumed: file {url}\n" in lineage
    assert f"input: rides@{inputs['rides']} (files, 300 rows) | checks: 8 passed, 0 failed" in (
        lineage
    )
    # The offsets of each ride_events commit, from the app transactions in its log.
    ranges = kafka_ranges(project / "lake" / "ride_events", topic)
    assert max(ranges) == inputs["ride_events"]
    assert sum(r[2] - r[1] + 1 for commit in ranges.values() for r in commit) == 400
    newest, *earlier = sorted(ranges, reverse=True)
    shown = [newest, *sorted(earlier)[:LINEAGE_COMMITS]]
    for version in shown:
        for partition, first, last in ranges[version]:
            assert f"consumed: kafka {topic}[{partition}] offsets {first}..{last}\n" in lineage
    hidden = sorted(earlier)[LINEAGE_COMMITS:]
    assert ("more commit(s) ride_events@" in lineage) == bool(hidden)

    with dagster_instance(load_project(project / "thermocline.yaml")) as instance:
        for asset in ("ride_features", "ride_fare_model"):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None, f"no materialization of {asset} in the project's instance"
        model = event.asset_materialization
        assert model is not None
        assert event.run_id == run.run_id, "the training run is the Dagster run"
        assert model.metadata["dataset"].value == f"ride_features@{features}"


def history_of(catalog: Catalog, dataset: str) -> dict[int, dict[str, Any]]:
    """Commit info by version."""
    return {c["version"]: c for c in open_table(catalog.lake, dataset).history()}


def kafka_ranges(table: Path, topic: str) -> dict[int, list[tuple[int, int, int]]]:
    """(partition, first, last) per commit that added rows, from the app transactions
    ``kafka:<topic>:<partition>`` of the raw log: each range starts after the last one."""
    last: dict[int, int] = {}
    ranges: dict[int, list[tuple[int, int, int]]] = {}
    for path in sorted((table / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line]
        moved = []
        prefix = f"kafka:{topic}:"
        for txn in (a["txn"] for a in actions if "txn" in a):
            if not txn["appId"].startswith(prefix):
                continue  # another app's position (the primary key index)
            partition = int(txn["appId"].removeprefix(prefix))
            moved.append((partition, last.get(partition, -1) + 1, int(txn["version"])))
            last[partition] = int(txn["version"])
        if moved and any("add" in a for a in actions):
            ranges[int(path.stem)] = sorted(moved)
    return ranges


def test_history_shows_a_page_by_default_and_more_when_asked(two_versions: Path) -> None:
    """20 newest by default (with a line saying there are more), --limit N, --all, and --json
    as one array written an element at a time."""
    project = two_versions
    uri = str(project / "lake" / "rides")
    one_row = DeltaTable(uri).to_pyarrow_table().slice(0, 1)
    for _ in range(23):  # versions 2..24: 25 in all
        write_deltalake(uri, one_row, mode="append")

    page = as_json(project, "history", "rides")
    assert [c["version"] for c in page] == list(range(24, 4, -1))
    shown = thermocline("history", "rides", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert "the newest 20 of 25 versions; --limit N or --all shows more" in shown.stdout
    assert [c["version"] for c in as_json(project, "history", "rides", "--limit", "3")] == [
        24,
        23,
        22,
    ]
    everything = as_json(project, "history", "rides", "--all")
    assert [c["version"] for c in everything] == list(range(24, -1, -1))
    assert everything[-1]["reason"].startswith("1 new file(s) from"), "commit metadata kept"
    listed = thermocline("history", "rides", "--all", cwd=project)
    assert "shows more" not in listed.stdout

    both = thermocline("history", "rides", "--all", "--limit", "3", cwd=project)
    assert both.exit_code == 2
    assert "--limit and --all contradict each other" in both.stderr
