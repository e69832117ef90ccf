"""``thermocline checks DATASET[@VERSION] [--history N] | --quarantine ID``: how versions and
quarantined batches were judged, from the check results the catalog keeps per version.

The logic lives in :mod:`thermocline.datasets.tables.quality_history`; this module parses and
prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from thermocline.catalog.errors import InputError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json, table

if TYPE_CHECKING:
    from thermocline.datasets.tables.quality_history import VersionChecks

__all__ = ["checks", "register"]

_MARKS = {"pass": "pass", "fail": "FAIL", "warn": "warn"}
_NOT_RUN = "-"


@click.command()
@click.argument("ref", metavar="DATASET[@VERSION]", required=False)
@click.option(
    "--history",
    "versions",
    type=int,
    default=None,
    metavar="N",
    help="A grid of pass/fail per check over the newest N judged versions.",
)
@click.option(
    "--quarantine",
    "quarantine_id",
    default=None,
    metavar="ID",
    help="The results of a quarantined batch (its id from `thermocline quarantine list`).",
)
@json_option
@click.pass_obj
def checks(
    ctx: Context, ref: str | None, versions: int | None, quarantine_id: str | None, as_json: bool
) -> None:
    """How DATASET was judged at VERSION (a number, tag, time or `latest`; default the latest):
    every check result with its observed value, threshold and failing rows. With --history N,
    pass/fail per check over the newest N judged versions; with --quarantine ID, the results
    of a quarantined batch."""
    from thermocline.datasets.tables.quality_history import (
        checks_history,
        quarantine_checks,
        version_checks,
    )

    if quarantine_id is not None:
        if ref is not None or versions is not None:
            raise InputError("--quarantine ID shows one quarantined batch: give no DATASET")
        _print_one(quarantine_checks(ctx.catalog, quarantine_id), as_json)
        return
    if ref is None:
        raise InputError("name a dataset: thermocline checks DATASET[@VERSION], or --quarantine ID")
    dataset, at, version = ref.partition("@")
    if at and not version:
        raise InputError(f"{ref!r}: write DATASET@VERSION, e.g. {dataset or 'rides'}@3")
    ctx.dataset(dataset)
    if versions is not None:
        if at:
            raise InputError(
                f"--history shows the newest {versions} versions of {dataset}; drop @{version}"
            )
        found = checks_history(ctx.catalog, dataset, versions)
        if as_json:
            print_json(found)
        else:
            _print_grid(dataset, found)
        return
    _print_one(version_checks(ctx.catalog, dataset, version or None), as_json)


def _print_one(found: VersionChecks, as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    what = (
        f"quarantined batch {found.quarantine_id}"
        if found.version is None
        else f"version {found.version}"
    )
    when = f", judged {_when(found)}" if found.judged_at is not None else ""
    note = f" ({found.note})" if found.note else ""
    table(
        f"checks of {found.dataset} {what}{when}{note}",
        [
            "check",
            "engine",
            "severity",
            "result",
            "observed",
            "threshold",
            "failing rows",
            "message",
        ],
        [
            (
                r.name,
                r.engine,
                r.severity,
                _MARKS[r.status],
                _number(r.observed),
                r.threshold,
                r.failing_rows,
                r.message,
            )
            for r in found.results
        ],
    )
    if not found.results:
        out.print("no check results for it", markup=False)


def _print_grid(dataset: str, found: Sequence[VersionChecks]) -> None:
    """One row per check, one column per version (newest first; ``held``: the version that
    published a quarantined batch's positions): pass, FAIL, warn, or - when the check did not
    run on that version."""
    names: list[str] = []
    marks: dict[tuple[str, int | None], str] = {}
    for judged in found:
        for r in judged.results:
            if r.name not in names:
                names.append(r.name)
            marks[(r.name, judged.version)] = _MARKS[r.status]
    columns = ["check"] + [
        f"v{j.version}{' held' if j.quarantine_id else ''}\n{_when(j, '%m-%d %H:%M')}"
        for j in found
    ]
    rows = [[name] + [marks.get((name, j.version), _NOT_RUN) for j in found] for name in names]
    table(f"checks of {dataset}: the newest {len(found)} judged versions", columns, rows)
    if not found:
        out.print(f"no version of {dataset} has check results yet", markup=False)


def _when(found: VersionChecks, layout: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return found.judged_at.strftime(layout) if found.judged_at is not None else ""


def _number(value: float | None) -> str:
    """An observed value for people: integers as such, other numbers to 4 significant digits."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def register(group: click.Group) -> None:
    group.add_command(checks)
