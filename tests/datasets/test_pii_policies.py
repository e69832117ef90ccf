"""PII policies at ingest, end to end: what lands in the Delta table, in quarantine, in dead
letters and in the catalog, on the batch path (local lake and RGW) and the Kafka path (Tansu)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from cli_runner import thermocline
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.errors import ConfigError, QuarantineError
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project
from thermocline.datasets.ingest.dead_letters import dead_letter_table
from thermocline.datasets.ingest.kafka import KafkaIngester
from thermocline.datasets.ingest.quarantine import replay
from thermocline.datasets.ingest.run import ingest
from thermocline.datasets.ingest.sealing import unseal
from thermocline.datasets.tables.quarantine import list_quarantined, read_quarantined
from thermocline.datasets.tables.versions import read_dataset

KEY = os.environ["THERMOCLINE_PII_KEY"]  # tests/conftest.py sets it for the suite
EMAILS = ["ada@example.com", "grace@example.org", "alan@example.net"]


def digest(value: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), value.encode(), "sha256").hexdigest()


def write_project(root: Path, lake: Lake, body: str, kafka: str | None = None) -> Project:
    options = json.dumps(dict(lake.storage_options))
    head = f"lake: {{uri: {json.dumps(lake.uri)}, storage_options: {options}}}\n"
    if kafka:
        head += f'kafka: {{bootstrap_servers: "{kafka}"}}\n'
    (root / "thermocline.yaml").write_text(head + textwrap.dedent(body))
    return load_project(root / "thermocline.yaml", environ={})


def land(root: Path, name: str, text: str) -> None:
    (root / "incoming").mkdir(exist_ok=True)
    (root / "incoming" / name).write_text(textwrap.dedent(text).lstrip())


def rows(lake: Lake, dataset: str = "people") -> list[dict[str, object]]:
    table = read_dataset(Catalog(lake), dataset).to_table()
    return sorted(table.to_pylist(), key=lambda r: (r["id"] is None, r["id"] or 0))


def lake_bytes(lake: Lake, under: str = "") -> bytes:
    """Every byte of every file in the lake (or under a folder of it)."""
    fs = lake.filesystem
    found = fs.get_file_info(pafs.FileSelector(under, recursive=True, allow_not_found=True))
    data = b""
    for info in found:
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as stream:
                data += stream.read()
    return data


EVERY_POLICY = """
datasets:
  people:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema:
      {id: int64, email: string, card: string, born: date32, ip: string, spot: string,
       home: string, note: string}
    pii:
      columns:
        email: hash
        card: {action: mask, keep: 4}
        born: {action: generalize, to: year}
        ip: generalize
        spot: generalize
        home: drop
        note: allow
"""
PEOPLE = (
    "id,email,card,born,ip,spot,home,note\n"
    '1,ada@example.com,4111 1111 1111 1111,1815-12-10,10.1.2.3,"51.5072, -0.1276",12 Baker St,'
    "hello ada@example.com\n"
    "2,grace@example.org,5500005555555559,1906-12-09,2001:db8:85a3::8a2e:370:7334,"
    '"40.7128, -74.0060",1 Main St,\n'
)


def test_every_policy_lands_transformed_in_the_table(tmp_path: Path, lake: Lake) -> None:
    """On the local lake and on RGW: each action's result is what the Delta table holds, the
    catalog records each column's class and action at the published version, and no clear
    email or card number is in any file of the table."""
    project = write_project(tmp_path, lake, EVERY_POLICY)
    land(tmp_path, "a.csv", PEOPLE)
    outcome = ingest(project, Catalog(lake), "people")
    assert (outcome.status, outcome.version) == ("published", 0)
    got = rows(lake)
    assert [r["email"] for r in got] == [digest("ada@example.com"), digest("grace@example.org")]
    assert [r["card"] for r in got] == ["***************1111", "************5559"]
    assert [r["born"] for r in got] == [dt.date(1815, 1, 1), dt.date(1906, 1, 1)]
    assert [r["ip"] for r in got] == ["10.1.2.0", "2001:db8:85a3::"]
    assert [r["spot"] for r in got] == ["51.51, -0.13", "40.71, -74.01"]
    assert "home" not in got[0]
    assert got[0]["note"] == "hello ada@example.com"
    current = Catalog(lake).pii.current("people")
    assert current["email"].action == "hash"
    assert current["email"].version == 0
    assert current["email"].pii_class == "email"
    assert current["home"].action == "drop"
    assert Catalog(lake).pii.in_clear("people") == {"note"}, "allowed PII is PII in clear"
    stored = lake_bytes(lake, "people")
    assert b"grace@example.org" not in stored
    assert b"5500005555555559" not in stored
    assert b"Baker St" not in stored


BLOCKING = """
datasets:
  people:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, contact: string}
    pii: {default_action: block}
"""


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_block_quarantines_and_replay_applies_the_policy_then_in_force(
    tmp_path: Path, lake: Lake
) -> None:
    project = write_project(tmp_path, lake, BLOCKING)
    land(tmp_path, "a.csv", "id,contact\n" + "".join(f"{i},{e}\n" for i, e in enumerate(EMAILS)))
    outcome = ingest(project, Catalog(lake), "people")
    assert outcome.status == "quarantined"
    assert "contact (email, detected)" in outcome.description
    assert "pii: {columns: {contact: hash}}" in outcome.description
    [held] = list_quarantined(Catalog(lake), "people")
    assert held.pii == "clear"
    assert held.sources[0].sample[0]["contact"] == "<email>", "the sample shows no PII"
    assert "@" not in json.dumps(held.reasons)
    assert rows(lake) == [], "nothing published"
    assert Catalog(lake).pii.current("people")["contact"].action == "block"
    with pytest.raises(QuarantineError, match="still blocked"):
        replay(project, Catalog(lake), held.id)

    project = write_project(
        tmp_path, lake, BLOCKING.replace("block}", "block, columns: {contact: hash}}")
    )
    done = replay(project, Catalog(lake), held.id)
    assert done.status == "published"
    assert [r["contact"] for r in rows(lake)] == [digest(e) for e in EMAILS]
    current = Catalog(lake).pii.current("people")["contact"]
    assert (current.action, current.version) == ("hash", done.version)


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_a_batch_quarantined_by_a_check_holds_policy_rows_and_is_not_hashed_twice(
    tmp_path: Path, lake: Lake
) -> None:
    body = BLOCKING.replace(
        "pii: {default_action: block}",
        "pii: {columns: {contact: hash}}\n"
        "    quality: {checks: [{check: not_null, columns: [id]}]}",
    )
    project = write_project(tmp_path, lake, body)
    land(tmp_path, "a.csv", "id,contact\n1,ada@example.com\n,grace@example.org\n")
    assert ingest(project, Catalog(lake), "people").status == "quarantined"
    [held] = list_quarantined(Catalog(lake), "people")
    assert held.pii == "applied"
    kept = read_quarantined(Catalog(lake), held)["contact"].to_pylist()
    assert sorted(kept) == sorted([digest("ada@example.com"), digest("grace@example.org")])
    assert b"ada@example.com" not in lake_bytes(lake, "_quarantine")
    body = body.replace("[{check: not_null, columns: [id]}]", "[]")
    replay(write_project(tmp_path, lake, body), Catalog(lake), held.id)
    assert sorted(r["contact"] for r in rows(lake)) == sorted(kept), "hashed once, not twice"


DEFAULTING = """
datasets:
  people:
    source: {kind: files, url: incoming/*.csv, format: csv}
    schema: {id: int64, city: string}
    pii: {default_action: hash}
"""


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_default_action_for_a_detected_column_and_a_new_column_in_a_later_batch(
    tmp_path: Path, lake: Lake
) -> None:
    project = write_project(tmp_path, lake, DEFAULTING)
    land(tmp_path, "a.csv", "id,city\n1,oslo\n2,lima\n")
    assert ingest(project, Catalog(lake), "people").status == "published"
    assert [r["city"] for r in rows(lake)] == ["oslo", "lima"], "no PII, nothing done"
    land(tmp_path, "b.csv", "id,city,contact\n3,rome,ada@example.com\n4,pune,grace@example.org\n")
    assert ingest(project, Catalog(lake), "people").status == "published"
    got = rows(lake)
    assert [r["contact"] for r in got] == [None, None, digest(EMAILS[0]), digest(EMAILS[1])]
    assert Catalog(lake).pii.current("people")["contact"].action == "hash"


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_a_rejected_review_stops_the_default_action(tmp_path: Path, lake: Lake) -> None:
    project = write_project(tmp_path, lake, DEFAULTING.replace("city", "contact"))
    land(tmp_path, "a.csv", "id,contact\n1,ada@example.com\n")
    ingest(project, Catalog(lake), "people")
    assert rows(lake)[0]["contact"] == digest("ada@example.com")
    Catalog(lake).pii.review("people", "contact", user="dpo", reject=True, reason="test inbox")
    land(tmp_path, "b.csv", "id,contact\n2,grace@example.org\n")
    ingest(project, Catalog(lake), "people")
    assert rows(lake)[1]["contact"] == "grace@example.org", "a person said: not PII"


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_the_key_never_appears_and_a_missing_key_is_one_line(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, lake, EVERY_POLICY)
    land(tmp_path, "a.csv", PEOPLE)
    result = thermocline("ingest", "batch", "people", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    everything = lake_bytes(lake) + result.output.encode() + capfd.readouterr().out.encode()
    assert KEY.encode() not in everything, "not in the lake (data, log, catalog) nor the output"

    monkeypatch.delenv("THERMOCLINE_PII_KEY")
    land(tmp_path, "b.csv", PEOPLE.replace("1,ada", "3,ada").replace("2,grace", "4,grace"))
    failed = thermocline("ingest", "batch", "people", cwd=tmp_path)
    assert failed.exit_code == 2
    assert "THERMOCLINE_PII_KEY" in failed.stderr
    assert "fix: export" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    check = thermocline("config", "check", cwd=tmp_path)
    assert check.exit_code == 2
    assert "datasets that hash: people" in check.stderr
    with pytest.raises(ConfigError):
        ingest(load_project(tmp_path / "thermocline.yaml", environ={}), Catalog(lake), "people")


def test_generalize_on_a_type_that_cannot_generalize_fails_config_check(tmp_path: Path) -> None:
    (tmp_path / "thermocline.yaml").write_text(
        "datasets:\n  people:\n    schema: {id: int64}\n    pii: {columns: {id: generalize}}\n"
    )
    result = thermocline("config", "check", cwd=tmp_path)
    assert result.exit_code == 2
    assert "pii.columns.id: cannot generalize a int64 column" in result.stderr


# --- Kafka -----------------------------------------------------------------------------------

STREAM = """
datasets:
  people:
    source: {{kind: kafka, topic: {topic}, group: g-{topic}}}
    schema: {{id: int64, email: string, card: string, ip: string, home: string}}
    pii:
      default_action: {default}
      columns: {{{columns}}}
"""


def stream_project(
    root: Path, lake: Lake, bootstrap: str, topic: str, default: str, columns: str
) -> Project:
    body = STREAM.format(topic=topic, default=default, columns=columns)
    return write_project(root, lake, body, kafka=bootstrap)


def produce(bootstrap: str, topic: str, values: list[bytes], partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for number, value in enumerate(values):
        producer.produce(topic, key=str(number).encode(), value=value)
    assert producer.flush(30) == 0


def person(number: int, **extra: object) -> bytes:
    record = {
        "id": number,
        "email": f"user{number}@example.com",
        "card": "4111111111111111",
        "ip": f"10.0.{number % 250}.{number % 200}",
        "home": f"{number} Baker St",
        **extra,
    }
    return json.dumps(record).encode()


@pytest.mark.kafka
@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_kafka_policies_land_transformed_and_dead_letters_are_sealed(
    tmp_path: Path, lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("pii")
    columns = "email: hash, card: {action: mask, keep: 4}, ip: generalize, home: drop"
    project = stream_project(tmp_path, lake, kafka_bootstrap, topic, "block", columns)
    poison = b'{"id": "x", "email": "leak@example.com", "card": "4111111111111111"'
    produce(kafka_bootstrap, topic, [person(n) for n in range(400)] + [poison])
    KafkaIngester(project, Catalog(lake), "people", max_records=100).run(until_caught_up=True)

    got = rows(lake)
    assert len(got) == 400
    assert got[7]["email"] == digest("user7@example.com")
    assert got[7]["card"] == "************1111"
    assert got[7]["ip"] == "10.0.7.0"
    assert "home" not in got[7]
    history = Catalog(lake).pii.history("people")
    assert {r.column for r in history} == {"id", "email", "card", "ip", "home"}
    assert len(history) == 5, "recorded once, not per micro-batch"

    dead_table = read_dataset(Catalog(lake), dead_letter_table("people")).to_table()
    assert dead_table["sealed"].to_pylist() == [True]
    assert "<pii>" in dead_table["preview"][0].as_py()
    assert "leak@" not in dead_table["preview"][0].as_py()
    assert b"leak@example.com" not in lake_bytes(lake, dead_letter_table("people"))
    assert unseal(dead_table, KEY.encode())["raw"][0].as_py() == poison
    everything = lake_bytes(lake)
    assert b"user7@example.com" not in everything
    assert KEY.encode() not in everything


@pytest.mark.kafka
@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_kafka_block_quarantines_per_partition_and_a_new_column_gets_the_default(
    tmp_path: Path, lake: Lake, kafka_bootstrap: str, fresh_name: Callable[[str], str]
) -> None:
    topic = fresh_name("pii-block")
    project = stream_project(tmp_path, lake, kafka_bootstrap, topic, "block", "email: hash")
    produce(kafka_bootstrap, topic, [person(n, contact=f"c{n}@example.org") for n in range(50)])
    KafkaIngester(project, Catalog(lake), "people").run(until_caught_up=True)
    assert rows(lake) == []
    [held] = list_quarantined(Catalog(lake), "people")
    assert held.kind == "kafka"
    assert held.pii == "clear"
    assert held.rows == 50
    assert {s.source for s in held.sources} == {f"{topic}:0", f"{topic}:1"}
    assert any("contact (email, detected)" in r for r in held.reasons)
    assert all(s.sample[0]["contact"] == "<email>" for s in held.sources)

    # The same stream with a default that transforms: a column that appears later is hashed.
    topic = fresh_name("pii-later")
    project = stream_project(tmp_path, lake, kafka_bootstrap, topic, "hash", "email: hash")
    produce(kafka_bootstrap, topic, [person(n) for n in range(100, 120)])
    KafkaIngester(project, Catalog(lake), "people").run(until_caught_up=True)
    produce(
        kafka_bootstrap, topic, [person(n, contact=f"c{n}@example.org") for n in range(120, 130)]
    )
    KafkaIngester(project, Catalog(lake), "people").run(until_caught_up=True)
    later = [r for r in rows(lake) if r["id"] >= 120]
    assert [r["contact"] for r in later] == [digest(f"c{n}@example.org") for n in range(120, 130)]


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_scan_false_classifies_nothing_but_listed_rules_still_apply(
    tmp_path: Path, lake: Lake
) -> None:
    project = write_project(
        tmp_path,
        lake,
        """
        datasets:
          people:
            source: {kind: files, url: incoming/*.csv, format: csv}
            schema: {id: int64, email: string, contact: string}
            pii: {scan: false, columns: {email: hash}}
        """,
    )
    land(tmp_path, "a.csv", "id,email,contact\n1,ada@example.com,grace@example.org\n")
    assert ingest(project, Catalog(lake), "people").status == "published"
    (got,) = rows(lake)
    assert got["email"] == digest("ada@example.com"), "a listed rule applies without a scan"
    assert got["contact"] == "grace@example.org", "nothing classified it, so nothing blocked it"
    current = Catalog(lake).pii.current("people")
    assert "contact" not in current or not current["contact"].is_pii


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_hash_key_env_names_the_variable_that_holds_the_key(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THERMOCLINE_PII_KEY")
    monkeypatch.setenv("RIDES_PII_KEY", "another-key")
    project = write_project(
        tmp_path,
        lake,
        """
        pii: {hash_key_env: RIDES_PII_KEY}
        datasets:
          people:
            source: {kind: files, url: incoming/*.csv, format: csv}
            schema: {id: int64, email: string}
            pii: {columns: {email: hash}}
        """,
    )
    land(tmp_path, "a.csv", "id,email\n1,ada@example.com\n")
    assert ingest(project, Catalog(lake), "people").status == "published"
    assert rows(lake)[0]["email"] == digest("ada@example.com", key="another-key")


@pytest.mark.parametrize("lake", ["local"], indirect=True)
def test_sample_rows_bounds_what_a_batch_scan_examines(tmp_path: Path, lake: Lake) -> None:
    body = DEFAULTING.replace("city", "contact").replace("hash}", "hash, sample_rows: 7}")
    project = write_project(tmp_path, lake, body)
    body = "".join(f"{i},person{i}@example.com\n" for i in range(50))
    land(tmp_path, "a.csv", "id,contact\n" + body)
    assert ingest(project, Catalog(lake), "people").status == "published"
    found = Catalog(lake).pii.current("people")["contact"]
    assert (found.pii_class, found.sampled, found.matched) == ("email", 7, 7)
