"""Primary keys across batches, the pure part: which published files may hold a batch's keys,
and what a batch becomes once the keys already in the table are known.

A dataset's ``primary_key`` is unique over the whole table. A batch row whose key is already
published, or that repeats a key of its own batch, is handled by the spec's ``on_duplicate``:

- ``reject``: the batch is quarantined with reasons naming the keys; nothing is published;
- ``update``: the batch is merged: the latest row of a key replaces the published one;
- ``ignore``: rows whose key is known are dropped (the first row of a repeated key is kept),
  new ones are appended; the commit counts what was dropped.

The IO around this (reading key columns of the candidate files, publishing or merging) is in
:mod:`.keyed`. Every keyed publish also moves the table's key epoch, an app transaction
(:func:`keys_app_id`), compare-and-swap: a rival keyed publish between this batch's key lookup
and its commit makes the publish lose the race, so keys checked against a snapshot stay unique.

>>> import pyarrow as pa
>>> batch = pa.table({"id": [1, 2, 2, 3], "v": ["a", "b", "B", "c"]})
>>> plan = plan_batch("t", batch, ["id"], pa.table({"id": [3]}), "ignore", epoch=None)
>>> plan.rows.to_pydict(), plan.existing, plan.repeated
({'id': [1, 2], 'v': ['a', 'b']}, 1, 1)
>>> plan_batch("t", batch, ["id"], pa.table({"id": [3]}), "update", epoch=4).rows["v"].to_pylist()
['a', 'B', 'c']
>>> rejected = plan_batch("t", batch, ["id"], pa.table({"id": [9]}), "reject", epoch=None)
>>> rejected.reasons[0].split(";")[0]
'primary key [id]: 1 row(s) repeat a key of their own batch, e.g. id=2'
>>> rejected.rows.num_rows  # quarantined as it came
4
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.catalog.commits import KEYS_IGNORED_KEY, KEYS_UPDATED_KEY, ON_DUPLICATE_KEY
from thermocline.catalog.errors import InputError
from thermocline.datasets.tables.staging import partition_value

__all__ = [
    "KeyPlan",
    "OnDuplicate",
    "candidate_files",
    "keys_app_id",
    "plan_batch",
]

OnDuplicate = Literal["reject", "update", "ignore"]

_SAMPLE = 5  # keys named in a reason
_ROW = "__thermocline_row"
_HIT = "__thermocline_hit"


def keys_app_id(dataset: str) -> str:
    """The app transaction every keyed publish of ``dataset`` moves (its key epoch)."""
    return f"keys:{dataset}"


@dataclass(frozen=True)
class KeyPlan:
    """What a keyed batch becomes: the ``rows`` to write, what was found, and how to commit.

    ``existing`` counts rows (after the batch's own repeats are resolved) whose key is already
    published; ``repeated`` rows that repeat a key of their batch; ``null_keys`` rows with a
    null key column. Non-empty ``reasons`` mean the batch is quarantined (``rows`` is then the
    batch as it came). ``epoch`` is the key epoch the lookup saw (None: none yet).
    """

    dataset: str
    key: tuple[str, ...]
    on_duplicate: OnDuplicate
    rows: pa.Table
    existing: int
    repeated: int
    null_keys: int
    reasons: tuple[str, ...]
    epoch: int | None

    @property
    def merge(self) -> bool:
        """True when the batch must be merged (``update`` and some keys are published)."""
        return self.on_duplicate == "update" and self.existing > 0 and not self.reasons

    @property
    def app_transactions(self) -> dict[str, int]:
        return {keys_app_id(self.dataset): (self.epoch or 0) + 1}

    @property
    def expected_positions(self) -> dict[str, int | None]:
        return {keys_app_id(self.dataset): self.epoch}

    def metadata(self) -> dict[str, Any]:
        """The commit-metadata counts of this batch's known and repeated keys."""
        updated = self.existing if self.on_duplicate == "update" else 0
        # update folds a key's earlier rows of the batch into its last; ignore drops both kinds
        ignored = self.repeated + (self.existing if self.on_duplicate == "ignore" else 0)
        return {
            ON_DUPLICATE_KEY: self.on_duplicate,
            KEYS_UPDATED_KEY: updated,
            KEYS_IGNORED_KEY: ignored,
        }

    def summary(self) -> str:
        """One line for the run's description ("" when no key was known or repeated)."""
        if self.on_duplicate == "update" and (self.existing or self.repeated):
            return f"{self.existing} row(s) updated by key, {self.repeated} repeat(s) folded"
        if self.on_duplicate == "ignore" and (self.existing or self.repeated):
            return f"{self.existing + self.repeated} row(s) with a known key ignored"
        return ""


def plan_batch(
    dataset: str,
    batch: pa.Table,
    key: Sequence[str],
    existing_keys: pa.Table,
    on_duplicate: OnDuplicate,
    *,
    epoch: int | None,
) -> KeyPlan:
    """Resolve ``batch`` against ``existing_keys`` (the key columns of published rows that may
    match; extra rows are harmless) by ``on_duplicate``."""
    key = tuple(key)
    missing = [c for c in key if c not in batch.column_names]
    if missing:
        raise InputError(
            f"primary key columns {missing} are not in the batch of {dataset!r}; add them to "
            "the source or fix `primary_key:`"
        )
    null_keys = _null_key_rows(batch, key)
    keep_last = on_duplicate == "update"
    unique = _first_or_last(batch, key, last=keep_last)
    repeated = batch.num_rows - unique.num_rows
    known = _known_mask(unique, key, existing_keys)
    existing = int(pc.sum(known).as_py() or 0) if unique.num_rows else 0
    reasons: list[str] = []
    if null_keys:
        reasons.append(
            f"primary key {_names(key)}: {null_keys} row(s) have a null key column; a primary "
            "key identifies every row: fix the source or the key"
        )
    if on_duplicate == "reject":
        fix = (
            "on_duplicate is reject: fix the source, or set on_duplicate: update (latest row "
            "wins) or ignore (first row wins)"
        )
        if repeated:
            repeats = _repeated_keys(batch, key)
            reasons.append(
                f"primary key {_names(key)}: {repeated} row(s) repeat a key of their own batch, "
                f"e.g. {_sample(repeats, key)}; {fix}"
            )
        if existing:
            reasons.append(
                f"primary key {_names(key)}: {existing} row(s) have keys already in the table, "
                f"e.g. {_sample(unique.filter(known), key)}; {fix}"
            )
    if reasons:
        rows = batch
    elif on_duplicate == "ignore":
        rows = unique.filter(pc.invert(known))
    else:
        rows = unique
    return KeyPlan(
        dataset, key, on_duplicate, rows, existing, repeated, null_keys, tuple(reasons), epoch
    )


def candidate_files(
    files: pa.Table, batch: pa.Table, key: Sequence[str], partition_by: Sequence[str]
) -> list[str]:
    """Paths of the published files that may hold one of ``batch``'s keys, by the Delta file
    statistics: ``files`` is ``DeltaTable.get_add_actions(flatten=True)`` (``path``,
    ``min.<col>``, ``max.<col>``, ``partition.<col>``). A file is ruled out when some key
    column's batch values all fall outside its [min, max] (or differ from its partition
    value); a file without statistics for a column stays a candidate."""
    if files.num_rows == 0 or batch.num_rows == 0:
        return []
    paths = files["path"].to_pylist()
    keep = [True] * len(paths)
    for column in key:
        values = pc.unique(batch[column].drop_null()).to_pylist()
        if column in partition_by and f"partition.{column}" in files.column_names:
            wanted = {partition_value(v) for v in values}
            found = files[f"partition.{column}"].to_pylist()
            keep = [k and partition_value(f) in wanted for k, f in zip(keep, found, strict=True)]
            continue
        if f"min.{column}" not in files.column_names or f"max.{column}" not in files.column_names:
            continue
        try:
            ordered = sorted(values)
        except TypeError:
            continue
        lows, highs = files[f"min.{column}"].to_pylist(), files[f"max.{column}"].to_pylist()
        keep = [
            k and _overlaps(ordered, low, high)
            for k, low, high in zip(keep, lows, highs, strict=True)
        ]
    return [p for p, k in zip(paths, keep, strict=True) if k]


def _overlaps(ordered: list[Any], low: Any, high: Any) -> bool:
    """Whether a sorted list holds a value in [low, high] (True when that cannot be told)."""
    if low is None or high is None:
        return True
    try:
        at = bisect.bisect_left(ordered, low)
        return at < len(ordered) and bool(ordered[at] <= high)
    except TypeError:  # statistics of another type than the batch's values: keep the file
        return True


def _null_key_rows(batch: pa.Table, key: Sequence[str]) -> int:
    mask = None
    for column in key:
        test = pc.is_null(batch[column])
        mask = test if mask is None else pc.or_(mask, test)
    return int(pc.sum(mask).as_py() or 0) if mask is not None and batch.num_rows else 0


def _first_or_last(batch: pa.Table, key: Sequence[str], *, last: bool) -> pa.Table:
    """``batch`` with one row per key (the first or the last of each), in batch order."""
    if batch.num_rows == 0:
        return batch
    numbered = batch.select(list(key)).append_column(_ROW, pa.array(range(batch.num_rows)))
    pick = "max" if last else "min"
    chosen = numbered.group_by(list(key)).aggregate([(_ROW, pick)])[f"{_ROW}_{pick}"]
    if len(chosen) == batch.num_rows:
        return batch
    return batch.take(pc.take(chosen, pc.sort_indices(chosen)))


def _repeated_keys(batch: pa.Table, key: Sequence[str]) -> pa.Table:
    counts = batch.select(list(key)).group_by(list(key)).aggregate([([], "count_all")])
    return counts.filter(pc.greater(counts["count_all"], 1)).select(list(key))


def _known_mask(unique: pa.Table, key: Sequence[str], existing: pa.Table) -> pa.ChunkedArray:
    """True for each row of ``unique`` whose key is among ``existing``'s (in order)."""
    if existing.num_rows == 0 or unique.num_rows == 0:
        return pa.chunked_array([pa.array([False] * unique.num_rows, pa.bool_())])
    existing = existing.select(list(key)).cast(unique.select(list(key)).schema)
    if len(key) == 1:
        return pc.fill_null(pc.is_in(unique[key[0]], value_set=existing[key[0]]), False)
    marked = existing.group_by(list(key)).aggregate([])
    marked = marked.append_column(_HIT, pa.array([True] * marked.num_rows))
    numbered = unique.select(list(key)).append_column(_ROW, pa.array(range(unique.num_rows)))
    joined = numbered.join(marked, list(key), join_type="left outer")
    hits = joined.filter(pc.is_valid(joined[_HIT]))[_ROW]
    mask = pc.is_in(pa.array(range(unique.num_rows)), value_set=hits.combine_chunks())
    return pa.chunked_array([mask])


def _names(key: Sequence[str]) -> str:
    return f"[{', '.join(key)}]"


def _sample(keys: pa.Table, key: Sequence[str]) -> str:
    rows = keys.select(list(key)).slice(0, _SAMPLE).to_pylist()
    text = ", ".join(" ".join(f"{c}={row[c]!r}" for c in key) for row in rows)
    return text + (", ..." if keys.num_rows > _SAMPLE else "")
