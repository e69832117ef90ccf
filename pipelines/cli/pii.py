"""``thermocline pii scan | list | review``: what personal data each dataset column holds.

The logic lives in :mod:`thermocline.datasets.tables.pii_scan` (scanning a table version) and
the catalog's :class:`~thermocline.catalog.classifications.Classifications` (rows, reviews);
this module parses and prints.

    thermocline pii scan rides@prod --sample 5000
    thermocline pii list rides --all
    thermocline pii review rides.rider_email --confirm email
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from thermocline.catalog.errors import InputError
from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json, table

if TYPE_CHECKING:
    from thermocline.catalog.classifications import Classification

__all__ = ["pii", "register"]

_COLUMNS = ["column", "class", "confidence", "share", "detector", "action", "review"]


@click.group()
def pii() -> None:
    """Personal data in datasets: scan a table, list the classifications, review them."""


@pii.command("scan")
@click.argument("ref", metavar="DATASET[@VERSION]")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    help="Rows to sample (default: the dataset's pii.sample_rows).",
)
@json_option
@click.pass_obj
def scan_command(ctx: Context, ref: str, sample: int | None, as_json: bool) -> None:
    """Classify every column of DATASET at VERSION (number, tag or time; default the latest)
    from a bounded sample, and record the findings in the catalog. Works on tables loaded
    before PII policies existed."""
    from thermocline.datasets.tables.pii_scan import scan_dataset

    dataset, _, at = ref.partition("@")
    if "@" in ref and not at:
        raise InputError(f"{ref!r}: write DATASET or DATASET@VERSION, e.g. rides@3")
    ctx.dataset(dataset)
    spec = ctx.project.datasets.get(dataset)
    scan = scan_dataset(
        ctx.catalog,
        dataset,
        policy=spec.pii if spec else None,
        at=at or None,
        sample_rows=sample,
    )
    found = list(scan.current.values())
    if as_json:
        print_json(
            {
                "dataset": scan.dataset,
                "version": scan.version,
                "rows_read": scan.rows_read,
                "rows_total": scan.rows_total,
                "columns": [_as_json(c) for c in found],
            }
        )
        return
    title = (
        f"PII in {dataset} version {scan.version} "
        f"({scan.rows_read} of {scan.rows_total} rows sampled)"
    )
    table(title, _COLUMNS, [_row(c) for c in found])
    clear = [c.column for c in found if c.in_clear]
    if clear:
        out.print(
            f"in clear: {', '.join(clear)}; the loader refuses them unless allow_pii names "
            "them (a wrong finding: `thermocline pii review "
            f"{dataset}.{clear[0]} --reject`)",
            markup=False,
        )


@pii.command("list")
@click.argument("dataset", required=False)
@click.option("--all", "show_all", is_flag=True, help="Every classified column, not only PII.")
@json_option
@click.pass_obj
def list_command(ctx: Context, dataset: str | None, show_all: bool, as_json: bool) -> None:
    """Current classifications (of DATASET, or every dataset): PII columns only unless
    --all; a person's review applied."""
    if dataset is not None:
        ctx.dataset(dataset)
        names = [dataset]
    else:
        names = sorted({row.dataset for row in ctx.catalog.pii.history()})
    found = [
        c for name in names for c in ctx.catalog.pii.current(name).values() if show_all or c.is_pii
    ]
    if as_json:
        print_json([_as_json(c) for c in found])
        return
    table(
        "PII classifications" if show_all else "PII columns",
        ["dataset", *_COLUMNS, "version"],
        [(c.dataset, *_row(c), c.version) for c in found],
    )


@pii.command("review")
@click.argument("target", metavar="DATASET.COLUMN")
@click.option("--confirm", "confirm", metavar="CLASS", default=None, help="The class it holds.")
@click.option("--reject", is_flag=True, help="It holds no personal data.")
@click.option("--reason", default=None, help="Why, kept with the decision.")
@json_option
@click.pass_obj
def review_command(
    ctx: Context,
    target: str,
    confirm: str | None,
    reject: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Record a person's decision on a column: --confirm CLASS (a detector class, e.g.
    email) or --reject. The decision survives later scans."""
    from thermocline.catalog.catalog import current_user

    dataset, column = _split_column(target)
    if (confirm is None) == (not reject):
        raise InputError(
            "review needs one decision: --confirm CLASS or --reject", field="--confirm"
        )
    ctx.dataset(dataset)
    _require_column(ctx, dataset, column)
    if confirm is not None:
        _require_class(confirm)
    decided = ctx.catalog.pii.review(
        dataset, column, user=current_user(), confirm=confirm, reject=reject, reason=reason
    )
    if as_json:
        print_json(_as_json(decided))
    elif confirm is not None:
        out.print(f"{dataset}.{column}: confirmed {confirm}", markup=False)
    else:
        out.print(
            f"{dataset}.{column}: rejected {decided.pii_class} (not personal data)", markup=False
        )


def _split_column(target: str) -> tuple[str, str]:
    """``rides.rider_email`` -> ``("rides", "rider_email")`` (dataset names hold no dot)."""
    dataset, dot, column = target.partition(".")
    if not dot or not dataset or not column:
        raise InputError(
            f"{target!r}: write DATASET.COLUMN, e.g. rides.rider_email", field="DATASET.COLUMN"
        )
    return dataset, column


def _require_column(ctx: Context, dataset: str, column: str) -> None:
    """The column is in the latest table (or was classified before); else one line naming
    the columns there are."""
    import pyarrow as pa

    from thermocline.datasets.tables.versions import open_table

    known = set(ctx.catalog.pii.current(dataset))
    known.update(pa.schema(open_table(ctx.lake, dataset).schema().to_arrow()).names)
    if column not in known:
        raise InputError(
            f"{dataset} has no column {column!r}; its columns are {', '.join(sorted(known))}",
            field="DATASET.COLUMN",
        )


def _require_class(name: str) -> None:
    """A class the detectors know: policies, erasure and the loader reason in those classes."""
    from thermocline.quality.pii.detectors import DETECTORS

    if name not in DETECTORS:
        raise InputError(
            f"unknown PII class {name!r}; fix: name one of {', '.join(sorted(DETECTORS))} "
            "(or --reject when the column holds no personal data)",
            field="--confirm",
        )


def _share(found: Classification) -> str:
    from thermocline.datasets.tables.pii_scan import is_mixed

    if not found.sampled:
        return ""
    return f"{found.share:.0%}" + (" mixed" if is_mixed(found) else "")


def _action(found: Classification) -> str:
    if found.action is not None:
        return found.action
    return "none (in clear)" if found.is_pii else ""


def _row(found: Classification) -> tuple[Any, ...]:
    return (
        found.column,
        found.pii_class,
        f"{found.confidence:.2f}",
        _share(found),
        found.detector,
        _action(found),
        found.review,
    )


def _as_json(found: Classification) -> dict[str, Any]:
    from thermocline.datasets.tables.pii_scan import is_mixed
    from thermocline.pipelines.cli.output import jsonable

    return {
        **jsonable(found),
        "share": found.share,
        "mixed": is_mixed(found),
        "is_pii": found.is_pii,
        "in_clear": found.in_clear,
    }


def register(group: click.Group) -> None:
    """Add ``pii`` to the root command."""
    group.add_command(pii)
