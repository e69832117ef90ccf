"""Scanning published tables for PII: a bounded sample spread over the files, and the action a
column was stored under read from the data and from what ingest recorded."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.classifications import Classification
from thermocline.catalog.config import PiiPolicy
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.pii_scan import sample_table, scan_dataset
from thermocline.datasets.tables.versions import live_files, open_table, read_dataset
from thermocline.datasets.tables.writes import write


def emails(start: int, rows: int) -> pa.Table:
    ids = range(start, start + rows)
    return pa.table({"id": pa.array(ids, pa.int64()), "email": [f"u{i}@example.com" for i in ids]})


def test_a_big_table_is_sampled_over_its_files_not_read_whole(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    for file in range(12):
        write(catalog, "big", emails(file * 1000, 1000))
    data = read_dataset(catalog, "big")
    rows = {f["path"]: f["num_records"] for f in live_files(open_table(local_lake, "big"))}
    sample = sample_table(data, rows, 600, seed=1)
    assert sample.num_rows == 600
    files = set(pc.divide(sample["id"], 1000).to_pylist())
    assert files == set(range(12)), "every file gives a part of the sample"
    assert sample_table(data, rows, 600, seed=1).equals(sample), "the same seed, the same rows"
    assert sample_table(data, rows, 20_000).num_rows == 12_000, "a small table is read whole"

    scan = scan_dataset(catalog, "big", sample_rows=600)
    assert (scan.rows_read, scan.rows_total, scan.version) == (600, 12_000, 11)
    assert scan.current["email"].pii_class == "email"


def test_the_action_applied_comes_from_the_data_and_what_ingest_recorded(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    values = [f"u{i}@example.com" for i in range(40)]
    table = pa.table(
        {
            "masked": ["*" * 10 + v[-4:] for v in values],
            "digest": [hashlib.sha256(v.encode()).hexdigest() for v in values],
            "contact_email": [hashlib.sha256(v.encode()).hexdigest() for v in values],
            "ip": ["10.1.2.0"] * 40,
            "dropped_email": values,
        }
    )
    write(catalog, "t", table)
    ingest_said = [  # what ingest recorded at publish (the policy it applied)
        Classification("t", "masked", "email", 0.9, "email", 40, 40, action="mask", version=0),
        Classification("t", "ip", "ipv4", 0.9, "ipv4", 40, 40, action="generalize", version=0),
        Classification("t", "dropped_email", "email", 1.0, "email", 40, 40, "drop", version=0),
        Classification("t", "digest", "email", 1.0, "email", 40, 40, "hash", version=5),
    ]
    catalog.pii.record(ingest_said, user="ingest")
    policy = PiiPolicy(columns={"contact_email": "hash"})
    found = {c.column: c for c in scan_dataset(catalog, "t", policy=policy).recorded}

    assert (found["masked"].pii_class, found["masked"].action) == ("email", "mask")
    assert (found["masked"].detector, found["masked"].matched) == ("email", 40)
    assert (found["ip"].pii_class, found["ip"].action) == ("ipv4", "generalize")
    # The policy says hash and the values are HMAC-looking hex: hashed, an email by its name.
    assert (found["contact_email"].pii_class, found["contact_email"].action) == ("email", "hash")
    assert found["contact_email"].detector == "name:email"
    # Digests that no policy names (a row of a *later* version does not count): not PII.
    assert (found["digest"].pii_class, found["digest"].action) == ("none", None)
    # Recorded as dropped, yet here in clear: the data wins, the column is PII in clear.
    assert (found["dropped_email"].action, found["dropped_email"].in_clear) == (None, True)
    assert not any(c.in_clear for n, c in found.items() if n != "dropped_email")
    assert catalog.pii.in_clear("t") == {"dropped_email"}
