"""``thermocline pii scan | list | review`` on a real local lake, run in-process as a user runs
it: tables written before any PII handling existed, scanned, listed and reviewed."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cli_runner import thermocline

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.writes import write

PROJECT = """
lake:
  uri: ./lake
datasets:
  people:
    schema: {id: int64, email: string, note: string, handle: string, city: string}
  accounts:
    schema: {id: int64, owner_email: string}
    pii:
      columns: {owner_email: hash}
"""

NOTES = ["called back", "no answer", "left a message", "write to bo@example.org", "ok"]


def people(ids: range) -> pa.Table:
    """Rows as an old load wrote them: emails in clear, a free-text column with the
    occasional email, handles that no detector reads as PII."""
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": [f"person{i}@example.com" for i in ids],
            "note": [NOTES[i % len(NOTES)] if i % 7 else None for i in ids],
            "handle": [f"p{i} at example dot com" for i in ids],
            "city": ["lisbon", "oslo"] * (len(ids) // 2) + ["rome"] * (len(ids) % 2),
        }
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("THERMOCLINE_LAKE", raising=False)
    monkeypatch.delenv("THERMOCLINE_PROJECT", raising=False)
    (tmp_path / "thermocline.yaml").write_text(textwrap.dedent(PROJECT))
    catalog = Catalog(Lake.open(tmp_path / "lake"))
    write(catalog, "people", people(range(200)))  # version 0, before any PII handling
    return tmp_path


def run_json(project: Path, *args: str) -> Any:
    result = thermocline(*args, "--json", cwd=project)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_column(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["column"]: row for row in rows}


def test_scan_of_a_table_loaded_before_pii_handling(project: Path) -> None:
    shown = thermocline("pii", "scan", "people", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert "PII in people version 0 (200 of 200 rows sampled)" in shown.stdout
    assert "none (in clear)" in shown.stdout
    assert "in clear: email, note;" in shown.stdout

    scan = run_json(project, "pii", "scan", "people")
    assert (scan["dataset"], scan["version"], scan["rows_read"]) == ("people", 0, 200)
    found = by_column(scan["columns"])
    assert list(found) == ["id", "email", "note", "handle", "city"]
    email = found["email"]
    assert (email["pii_class"], email["detector"], email["review"]) == (
        "email",
        "email",
        "detected",
    )
    assert (email["action"], email["in_clear"], email["version"]) == (None, True, 0)
    assert (email["sampled"], email["matched"], email["share"]) == (200, 200, 1.0)
    note = found["note"]  # free text: one note in five holds an email
    assert note["pii_class"] == "email"
    assert note["mixed"] is True
    assert 0.1 < note["share"] < 0.3
    assert {c: found[c]["pii_class"] for c in ("id", "handle", "city")} == dict.fromkeys(
        ("id", "handle", "city"), "none"
    )


def test_list_shows_pii_columns_and_all_with_all(project: Path) -> None:
    assert run_json(project, "pii", "list") == []  # nothing scanned yet
    run_json(project, "pii", "scan", "people")
    listed = run_json(project, "pii", "list")
    assert [(r["dataset"], r["column"]) for r in listed] == [
        ("people", "email"),
        ("people", "note"),
    ]
    assert len(run_json(project, "pii", "list", "people", "--all")) == 5
    shown = thermocline("pii", "list", cwd=project)
    assert shown.exit_code == 0, shown.stderr
    assert "PII columns" in shown.stdout
    assert "people" in shown.stdout
    assert "20% mixed" in shown.stdout


def test_a_review_decision_survives_a_rescan(project: Path) -> None:
    run_json(project, "pii", "scan", "people")
    rejected = run_json(
        project, "pii", "review", "people.note", "--reject", "--reason", "call notes"
    )
    assert (rejected["review"], rejected["reason"]) == ("rejected", "call notes")
    confirmed = run_json(project, "pii", "review", "people.handle", "--confirm", "email")
    assert (confirmed["pii_class"], confirmed["review"]) == ("email", "confirmed")
    shown = thermocline("pii", "review", "people.email", "--confirm", "email", cwd=project)
    assert shown.stdout.strip() == "people.email: confirmed email"

    write(Catalog(Lake.open(project / "lake")), "people", people(range(200, 400)))
    found = by_column(run_json(project, "pii", "scan", "people")["columns"])
    assert found["note"]["version"] == 1, "the rescan read the new version"
    assert (found["note"]["review"], found["note"]["in_clear"]) == ("rejected", False)
    assert (found["handle"]["pii_class"], found["handle"]["review"]) == ("email", "confirmed")
    assert found["handle"]["in_clear"] is True
    listed = [r["column"] for r in run_json(project, "pii", "list", "people")]
    assert listed == ["email", "handle"]


def test_scan_at_a_version_or_tag(project: Path) -> None:
    catalog = Catalog(Lake.open(project / "lake"))
    write(catalog, "people", people(range(200, 250)))
    catalog.set_tag("first", "people", 0)
    assert run_json(project, "pii", "scan", "people@first")["version"] == 0
    scan = run_json(project, "pii", "scan", "people@1", "--sample", "60")
    assert (scan["version"], scan["rows_read"]) == (1, 60)
    assert by_column(scan["columns"])["email"]["sampled"] == 60


def test_a_hashed_column_is_recorded_as_hashed_not_in_clear(project: Path) -> None:
    key = b"test key"
    digests = [
        hmac.new(key, f"o{i}@example.com".encode(), hashlib.sha256).hexdigest() for i in range(50)
    ]
    catalog = Catalog(Lake.open(project / "lake"))
    write(catalog, "accounts", pa.table({"id": range(50), "owner_email": digests}))
    found = by_column(run_json(project, "pii", "scan", "accounts")["columns"])
    owner = found["owner_email"]
    assert (owner["pii_class"], owner["action"], owner["in_clear"]) == ("email", "hash", False)
    assert owner["detector"] == "name:email"
    assert run_json(project, "pii", "list", "accounts")[0]["action"] == "hash"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("scan", "nobody"), "'nobody'"),
        (("scan", "people@7"), "people has no version 7"),
        (("scan", "people@"), "write DATASET or DATASET@VERSION"),
        (("scan", "people", "--sample", "0"), "--sample"),
        (("list", "nobody"), "'nobody'"),
        (("review", "people", "--reject"), "write DATASET.COLUMN"),
        (("review", "nobody.email", "--reject"), "'nobody'"),
        (("review", "people.phone", "--reject"), "people has no column 'phone'"),
        (("review", "people.email", "--confirm", "emial"), "unknown PII class 'emial'"),
        (("review", "people.email"), "one decision"),
        (("review", "people.email", "--confirm", "email", "--reject"), "one decision"),
        (("review", "people.city", "--reject"), "no detected PII to reject"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    result = thermocline("pii", *args, cwd=project)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    as_json = thermocline("pii", *args, "--json", cwd=project)
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)
    assert message in error["error"]
    assert error["exit_code"] == 2
