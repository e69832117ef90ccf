"""The tier plan's facts read from a real lake (local, and the S3 server where marked): the
latest version's files, the files only a tag or release still reads (with their names), and
each file's age basis."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.lake import Lake
from thermocline.datasets.tables.tier_facts import tier_files
from thermocline.datasets.tables.versions import live_files, open_table
from thermocline.datasets.tables.writes import write


def test_pinned_files_carry_their_pins_and_dropped_unpinned_files_are_not_listed(
    lake: Lake,
) -> None:
    """On a local folder and on the S3 server alike."""
    catalog = Catalog(lake)
    days = pa.array([date(2026, 1, 1), date(2026, 6, 1)], pa.date32())
    write(catalog, "d", pa.table({"day": days, "v": [1, 2]}), partition_by=["day"])  # v0
    catalog.create_release("r1", {"d": 0})
    catalog.set_tag("golden", "d", 0)
    v0 = {f["path"] for f in live_files(open_table(lake, "d", 0))}
    write(catalog, "d", pa.table({"day": days, "v": [3, 4]}), mode="overwrite")  # v1
    v1 = {f["path"] for f in live_files(open_table(lake, "d", 1))}
    write(catalog, "d", pa.table({"day": days, "v": [5, 6]}), mode="overwrite")  # v2
    latest = {f["path"] for f in live_files(open_table(lake, "d"))}

    found = {f.path: f for f in tier_files(catalog, "d")}
    assert set(found) == v0 | latest, "v1's files: no pin, not latest: vacuum's, not listed"
    assert not v1 & set(found)
    assert {found[p].pinned_by for p in v0} == {("tag golden", "release r1")}
    assert {found[p].in_latest for p in v0} == {False}
    assert {(found[p].in_latest, found[p].pinned_by) for p in latest} == {(True, ())}
    assert {(found[p].age_from, found[p].age_basis) for p in latest} == {
        ("partition", datetime(2026, 1, 1, tzinfo=UTC)),
        ("partition", datetime(2026, 6, 1, tzinfo=UTC)),
    }
    sizes = {f["path"]: f["size_bytes"] for f in live_files(open_table(lake, "d"))}
    assert {p: found[p].size_bytes for p in latest} == sizes


def test_a_partition_that_is_not_a_date_ages_from_the_add_time(local_lake: Lake) -> None:
    catalog = Catalog(local_lake)
    before = datetime.now(UTC).replace(microsecond=0)
    write(catalog, "c", pa.table({"city": ["oslo"], "v": [1]}), partition_by=["city"])
    [file] = tier_files(catalog, "c")
    assert file.age_from == "added"
    assert before <= file.age_basis <= datetime.now(UTC)
    assert file.in_latest
