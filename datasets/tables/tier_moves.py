"""Moving files of a dataset into their storage classes, recorded step by step in the tier
inventory (IO): the protocol that makes ``tier apply`` and ``tier restore`` safe to interrupt.

Each batch of moves is one commit of ``intent`` rows, then the copies in place
(:mod:`.tier_storage`) in parallel, then one commit of ``done`` rows. A crash leaves at most
intents without dones, which :meth:`Mover.resume` finishes first on the next run; readers count
an archive intent as archived, so nothing reads an object that may be in an archive class.

>>> move_files(catalog, "rides", plan.moves, project.tiering)   # doctest: +SKIP
52747650048
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from thermocline.catalog.catalog import Catalog, lake_of
from thermocline.catalog.config import TieringSettings
from thermocline.catalog.tier_inventory import TierRecord
from thermocline.datasets.tables.faults import armed, fault_point
from thermocline.datasets.tables.tier_plan import Move
from thermocline.datasets.tables.tier_storage import ClassStore, class_store
from thermocline.datasets.tables.versions import live_files, open_table

__all__ = ["BATCH", "WORKERS", "Mover", "Progress", "move_files"]

Progress = Callable[[int, int], None]
"""Called after each batch with (files moved so far, bytes moved so far)."""
BATCH = 500  # moves per pair of inventory commits
WORKERS = 16  # copies in flight: a copy is one request the server spends its time on


def move_files(
    catalog: Catalog,
    dataset: str,
    moves: Sequence[Move],
    settings: TieringSettings,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    workers: int = WORKERS,
    batch_size: int = BATCH,
    run_id: str | None = None,
) -> int:
    """Make ``moves`` (from a plan, or a restore), recording each in the tier inventory; the
    bytes moved. An archive move of a file the latest version references again by the time
    its intent is committed (a rollback since the plan was made) is not made."""
    return Mover.start(
        catalog,
        dataset,
        settings,
        now=now,
        progress=progress,
        workers=workers,
        batch_size=batch_size,
        run_id=run_id,
    ).move(moves)


@dataclass(frozen=True)
class Mover:
    """Moves files of one dataset into their classes for one run, recording each step."""

    catalog: Catalog
    dataset: str
    settings: TieringSettings
    store: ClassStore
    run_id: str
    moment: datetime
    workers: int
    batch_size: int
    progress: Progress | None

    @classmethod
    def start(
        cls,
        catalog: Catalog,
        dataset: str,
        settings: TieringSettings,
        *,
        now: datetime | None = None,
        progress: Progress | None = None,
        workers: int = WORKERS,
        batch_size: int = BATCH,
        run_id: str | None = None,
    ) -> Mover:
        """The mover of one run on ``catalog``'s lake (its class store), counting moves as
        made at ``now`` (default: the current time)."""
        return cls(
            catalog,
            dataset,
            settings,
            class_store(lake_of(catalog), max_connections=workers),
            run_id or uuid.uuid4().hex,
            now or datetime.now(UTC),
            workers,
            batch_size,
            progress,
        )

    def resume(self) -> int:
        """Finish the moves an interrupted run recorded an intent for; how many."""
        placed = self.catalog.tiers.placements(self.dataset).values()
        moves = [
            Move(p.path, p.tier, p.pending, p.size_bytes, "resumed")
            for p in placed
            if p.pending is not None
        ]
        self._copy(moves)
        self.catalog.tiers.record([self._record(m, "done") for m in moves])
        return len(moves)

    def move(self, moves: Sequence[Move]) -> int:
        """Copy each file into its target class, recording intents before and dones after
        each batch; return the bytes moved.

        Nothing waits that need not: the inventory commits run in order on a thread of their
        own, and the copies of one batch start while the last ones of the batch before are
        still running (one pool of ``workers`` copies for the whole run, as a plain parallel
        copy loop has, with no pause at batch ends). What keeps a crash safe is unchanged: a
        batch's copies start only once its intents are committed, and its dones are committed
        only once all its copies finished, so a crash leaves at most intents without dones
        (the next run redoes those)."""
        size = self.batch_size
        batches = [moves[s : s + size] for s in range(0, len(moves), size)]
        moved = [0, 0]  # files, bytes
        classes = self.settings.storage_classes
        with ThreadPoolExecutor(1) as recorder, ThreadPoolExecutor(self.workers) as copier:
            submitted: list[Future[None]] = []

            def settled(step: str) -> str:
                """``step``, with every commit submitted so far in when a crash test stops
                there (so it sees one state)."""
                if armed(step):
                    for commit in submitted:
                        commit.result()
                return step

            def record(batch: Sequence[Move], state: Literal["intent", "done"]) -> None:
                self.catalog.tiers.record([self._record(m, state) for m in batch])

            def finish(number: int, batch: Sequence[Move], copies: list[Future[None]]) -> None:
                for copy in copies:
                    copy.result()
                fault_point(settled(f"tier-apply:after-copies:{number}"))
                submitted.append(recorder.submit(record, batch, "done"))
                moved[0] += len(batch)
                moved[1] += sum(m.size_bytes for m in batch)
                if self.progress is not None:
                    self.progress(moved[0], moved[1])

            intents = [recorder.submit(record, b, "intent") for b in batches[:1]]
            submitted.extend(intents)
            running: tuple[int, Sequence[Move], list[Future[None]]] | None = None
            for number, batch in enumerate(batches, start=1):
                intents[number - 1].result()  # this batch's; the last dones may still run
                fault_point(settled(f"tier-apply:after-intent:{number}"))
                if number < len(batches):
                    intents.append(recorder.submit(record, batches[number], "intent"))
                    submitted.append(intents[-1])
                batch, back = self._still_unread(batch)
                if back:  # recorded where they stay, which settles their intents
                    submitted.append(recorder.submit(record, back, "done"))
                copies = [
                    copier.submit(self.store.set_class, self.dataset, m.path, classes[m.target])
                    for m in batch
                ]
                if running is not None:
                    finish(*running)
                running = (number, batch, copies)
            if running is not None:
                finish(*running)
            for commit in submitted:
                commit.result()
        return moved[1]

    def _still_unread(self, batch: Sequence[Move]) -> tuple[list[Move], list[Move]]:
        """``batch`` split into the moves to make and the archive moves of files the latest
        version references again (a rollback committed since the plan), as moves back to
        where they are. Checked after the batch's intents are in: a rollback after that point
        is refused by the read gate, which counts an archive intent as archived."""
        if not any(m.target == "archive" for m in batch):
            return list(batch), []
        latest = {a["path"] for a in live_files(open_table(lake_of(self.catalog), self.dataset))}
        back = [m for m in batch if m.target == "archive" and m.path in latest]
        if not back:
            return list(batch), []
        stays = [Move(m.path, m.source, m.source, m.size_bytes, "read again") for m in back]
        return [m for m in batch if m not in back], stays

    def _copy(self, moves: Sequence[Move]) -> None:
        classes = self.settings.storage_classes
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(
                pool.map(
                    lambda m: self.store.set_class(self.dataset, m.path, classes[m.target]),
                    moves,
                )
            )

    def _record(self, move: Move, state: Literal["intent", "done"]) -> TierRecord:
        return TierRecord(
            self.dataset,
            move.path,
            move.target,
            self.settings.storage_classes[move.target],
            move.size_bytes,
            state,
            self.run_id,
            move.source,
            self.moment,
        )
