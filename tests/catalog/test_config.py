import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.config import FileSource, KafkaSource, expand_env, parse_duration
from thermocline.catalog.errors import ConfigError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import PROJECT_FILENAME, find_project_file, load_project

REPO_ROOT = Path(__file__).resolve().parents[2]

GOOD = """
lake:
  uri: s3://bucket/lake
  storage_options:
    AWS_ENDPOINT_URL: ${TEST_ENDPOINT:-http://127.0.0.1:7480}
    AWS_SECRET_ACCESS_KEY: ${TEST_SECRET}
    AWS_ALLOW_HTTP: "true"
kafka:
  bootstrap_servers: 127.0.0.1:19092
datasets:
  events:
    description: clicks
    owners: [ml@example.com]
    source: {kind: kafka, topic: clicks}
    schema: {id: int64, day: date32, embedding: 'fixed_size_list<float32>[4]', email: string}
    partition_by: [day]
    primary_key: [id]
    tiering: {warm_after_days: 7, cold_after_days: 90}
    quality:
      checks:
        - {check: not_null, columns: [id]}
        - {check: completeness, column: day, min_ratio: 0.95, severity: warn}
        - {check: freshness, column: day, max_age: 1h}
    pii: {default_action: block, columns: {email: hash}}
  files:
    source: {kind: files, url: data/*.csv, format: csv}
"""


def write_project(folder: Path, text: str) -> Path:
    path = folder / PROJECT_FILENAME
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = write_project(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_project(path, environ=environ or {})
    return str(caught.value)


def test_loads_a_full_project(tmp_path: Path) -> None:
    path = write_project(tmp_path, GOOD)
    project = load_project(path, environ={"TEST_SECRET": "s3cret"})
    events = project.dataset("events")
    assert events.partition_by == ["day"]
    assert events.arrow_schema() == pa.schema(
        [
            ("id", pa.int64()),
            ("day", pa.date32()),
            ("embedding", pa.list_(pa.float32(), 4)),
            ("email", pa.string()),
        ]
    )
    assert [c.check for c in events.quality.checks] == ["not_null", "completeness", "freshness"]
    assert events.quality.checks[1].severity == "warn"
    files_source = project.dataset("files").source
    assert isinstance(files_source, FileSource)
    assert project.resolve_url(files_source.url) == str(tmp_path / "data/*.csv")
    # The model keeps the reference, never the secret.
    assert "s3cret" not in repr(project)
    assert project.lake.storage_options["AWS_SECRET_ACCESS_KEY"] == "${TEST_SECRET}"


def test_lake_from_project_resolves_environment(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, GOOD), environ={"TEST_SECRET": "s3cret"})
    lake = Lake.from_project(project, environ={"TEST_SECRET": "s3cret"})
    assert lake.uri == "s3://bucket/lake"
    assert lake.delta_storage_options()["AWS_SECRET_ACCESS_KEY"] == "s3cret"
    assert lake.delta_storage_options()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:7480"
    assert "s3cret" not in repr(lake)


def test_local_lake_uri_is_relative_to_the_project_file(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, "lake: {uri: ./my-lake}\n"), environ={})
    assert Lake.from_project(project, environ={}).uri == str(tmp_path / "my-lake")


def test_unknown_key_names_the_field_and_suggests_the_fix(tmp_path: Path) -> None:
    message = load_error(tmp_path, "datasets:\n  a:\n    partiton_by: [day]\n")
    assert message == (
        f"{tmp_path / PROJECT_FILENAME}: datasets.a.partiton_by: unknown key; "
        "fix: did you mean 'partition_by'?"
    )


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    message = load_error(tmp_path, "datasets:\n  a:\n    partition_by: day\n")
    assert "\n" not in message
    assert "datasets.a.partition_by: Input should be a valid list (got 'day')" in message
    assert "fix: write a list, e.g. [day]" in message


def test_missing_environment_variable_names_the_field(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD)
    assert message == (
        f"{tmp_path / PROJECT_FILENAME}: lake.storage_options.AWS_SECRET_ACCESS_KEY: environment "
        "variable TEST_SECRET is not set; fix: export TEST_SECRET=... or write "
        "${TEST_SECRET:-default}"
    )


def test_union_members_are_named_as_written(tmp_path: Path) -> None:
    text = """
    datasets:
      a:
        source: {kind: files, url: x.csv, format: xml}
        quality:
          checks: [{check: range, column: fare}]
    """
    first, *rest = load_error(tmp_path, text).splitlines()
    assert first.endswith(
        "datasets.a.source.format: Input should be 'csv', 'jsonl' or 'parquet' (got 'xml'); "
        "fix: use one of the values listed  (+1 more below)"
    )
    assert rest == [
        f"{tmp_path / PROJECT_FILENAME}: datasets.a.quality.checks[0]: give `min`, `max` or both"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("datasets: {Bad-Name: {}}\n", "name 'Bad-Name' must be lowercase"),
        (
            "datasets: {a: {schema: {id: int64}, partition_by: [day]}}\n",
            "partition_by names ['day'] which are not in `schema`",
        ),
        ("datasets: {a: {schema: {id: int65}}}\n", "column 'id': unknown Arrow type 'int65'"),
        (
            "datasets: {a: {tiering: {warm_after_days: 30, cold_after_days: 10}}}\n",
            "cold_after_days (10) must be greater than warm_after_days (30)",
        ),
        ("lake: {uri: 'gs://bucket/x'}\n", "unsupported scheme 'gs'"),
        ("datasets: {a: {partition_start: 2026-11-01}}\n", "partition_start needs partition_by"),
        (
            "datasets: {a: {source: {kind: sql, url: 'sqlite://'}}}\n",
            "give exactly one of `table` or `query`",
        ),
        (
            "datasets: {a: {quality: {checks: [{check: freshness, column: t, max_age: soon}]}}}\n",
            "'soon' is not a duration",
        ),
        (
            "datasets: {a: {source: {kind: kafka, topic: t}, "
            "quality: {checks: [{check: volume}]}}}\n",
            "(volume) compares batch row counts, and a Kafka micro-batch's size follows",
        ),
        (
            "datasets: {a: {source: {kind: kafka, topic: t}, "
            "quality: {checks: [{check: row_count, max_change: 0.5}]}}}\n",
            "(row_count) compares batch row counts",
        ),
        (
            "datasets: {a: {source: {kind: kafka, topic: t}, "
            "quality: {checks: [{check: schema_drift, removed: warn}]}}}\n",
            "(schema_drift): removed cannot happen on a Kafka topic",
        ),
        (
            "datasets: {a: {quality: {checks: [{check: volume, window: 3, min_history: 5}]}}}\n",
            "min_history (5) is larger than window (3)",
        ),
        (
            "datasets: {a: {schema: {city: string}, quality: {checks: "
            "[{check: distribution_drift, column: city, method: ks}]}}}\n",
            "method ks needs a numeric column, city is string; fix: use method: psi",
        ),
        (
            "datasets: {a: {schema: {id: int64}, quality: {checks: "
            "[{check: distribution_drift, column: idd}]}}}\n",
            "names ['idd'] which are not in `schema`",
        ),
        (
            "datasets: {a: {quality: {checks: "
            "[{check: referential, column: x, dataset: zones, key: id}]}}}\n",
            "names dataset 'zones', which the project lacks (datasets: a)",
        ),
        (
            "datasets: {zones: {schema: {zone_id: int64}}, a: {quality: {checks: "
            "[{check: referential, column: x, dataset: zones, key: id}]}}}\n",
            "names key 'id', which zones does not declare (columns: zone_id)",
        ),
        (
            "datasets: {a: {schema: {id: int64}, quality: {defaults: true}}}\n",
            "quality.defaults: true needs a timestamp or date column for its freshness check",
        ),
        (
            "datasets: {a: {quality: {checks: [{check: schema_drift, removed: maybe}]}}}\n",
            "removed: Input should be 'error', 'warn' or 'ignore'",
        ),
        (
            "tiering: {storage_classes: {hot: STANDARD_IA}}\n",
            "storage_classes.hot is 'STANDARD_IA': hot data, the Delta log and the catalog stay",
        ),
        (
            "tiering: {storage_classes: {cold: COLDLINE}}\n",
            "storage_classes.cold is 'COLDLINE', which has no price; add prices.COLDLINE",
        ),
        ("tiering: {prices: {STANDARD: -1}}\n", "a price per GB-month is 0 or more"),
        ("tiering: {schedule: daily}\n", "is not a cron line of 5 fields"),
        ("tiering: {schedule: '99 4 * * *'}\n", "the minute field '99' is not *, a number"),
        ("tiering: {schedule: '0 4 * * MON'}\n", "the weekday field 'MON' is not *"),
        ("tiering: {prices: {standard_ia: 0.01}}\n", "write prices.STANDARD_IA"),
        ("tiering: {prices: {COLDLINE: 0.01}}\n", "prices.COLDLINE prices a class no tier uses"),
        (
            "datasets: {a: {tiering: {target_file_mb: 8192}}}\n",
            "target_file_mb: Input should be less than or equal to 4096",
        ),
        (
            "datasets: {a: {tiering: {zstd_level: 30}}}\n",
            "zstd_level: Input should be less than or equal to 22",
        ),
        (
            "datasets: {a: {source: {kind: kafka, topic: t, compact_every: 0s}}}\n",
            "'0s': compact at an interval above zero, or write `off`",
        ),
        (
            "datasets: {a: {source: {kind: kafka, topic: t, compact_every: hourly}}}\n",
            "'hourly' is not a duration",
        ),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("lake: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_discovery_prefers_explicit_then_environment_then_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "explicit").mkdir()
    explicit = write_project(tmp_path / "explicit", "{}\n")
    from_env = tmp_path / "env.yaml"
    from_env.write_text("{}\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    in_parent = write_project(tmp_path / "a", "{}\n")

    env = {"THERMOCLINE_PROJECT": str(from_env)}
    assert find_project_file(explicit.parent, env, cwd=nested) == explicit
    assert find_project_file(None, env, cwd=nested) == from_env
    assert find_project_file(None, {}, cwd=nested) == in_parent
    with pytest.raises(ConfigError, match=r"--project points at .*missing\.yaml"):
        find_project_file(tmp_path / "missing.yaml", {})


def test_no_project_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --project PATH or set THERMOCLINE_PROJECT"):
        find_project_file(None, {}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("", 300.0), (", compact_every: 90s", 90.0), (", compact_every: off", None)],
)
def test_kafka_compaction_interval(tmp_path: Path, written: str, seconds: float | None) -> None:
    """Five minutes unless the source says otherwise; a bare YAML `off` (a boolean) turns
    it off."""
    text = f"datasets: {{a: {{source: {{kind: kafka, topic: t{written}}}}}}}\n"
    source = load_project(write_project(tmp_path, text), environ={}).dataset("a").source
    assert isinstance(source, KafkaSource)
    assert source.compact_every_s == seconds


def test_expand_env_and_durations() -> None:
    assert expand_env("${A}-${B:-two}", {"A": "one"}) == "one-two"
    assert expand_env("plain", {}) == "plain"
    assert parse_duration("1h") == 3600
    assert parse_duration("1.5d") == 129600


def test_cli_config_check_fails_with_one_line_and_non_zero_exit(tmp_path: Path) -> None:
    write_project(tmp_path, "datasets:\n  a:\n    partition_by: day\n")
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "datasets.a.partition_by" in lines[0]
    assert "fix:" in lines[0]


def test_cli_config_check_and_schema_on_the_repository_project() -> None:
    check = thermocline("config", "check", "--json", cwd=REPO_ROOT)
    assert check.exit_code == 0, check.stderr
    assert "rides" in json.loads(check.stdout)["datasets"]
    schema = thermocline("config", "schema", cwd=REPO_ROOT)
    assert schema.exit_code == 0, schema.stderr
    properties = json.loads(schema.stdout)["properties"]
    assert set(properties) == {
        "lake",
        "kafka",
        "pii",
        "quality",
        "tiering",
        "lineage",
        "datasets",
        "models",
    }


def test_tiering_settings_default_to_aws_and_merge_what_the_file_sets(tmp_path: Path) -> None:
    text = (
        "tiering: {storage_classes: {cold: GLACIER, archive: GLACIER}, prices: {GLACIER: 0.01}}\n"
    )
    settings = load_project(write_project(tmp_path, text), environ={}).tiering
    assert settings.storage_classes == {
        "hot": "STANDARD",
        "warm": "STANDARD_IA",
        "cold": "GLACIER",
        "archive": "GLACIER",
    }
    assert (settings.price_of("cold"), settings.price_of("warm")) == (0.01, 0.0125)
    assert settings.schedule == "0 4 * * *"
    every = "tiering: {schedule: '*/15 0-6,22 1 1-12/2 0'}\n"
    assert load_project(write_project(tmp_path, every), environ={}).tiering.schedule is not None
