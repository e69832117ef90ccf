"""``thermocline search TEXT [--limit N] [--json]``: find datasets by name, description,
column, owner, tag or PII class, best first.

The logic lives in :mod:`thermocline.datasets.tables.search` (gathering) and
:mod:`thermocline.datasets.tables.search_rank` (scoring); this module parses and prints.
"""

from __future__ import annotations

import click

from thermocline.pipelines.cli.context import Context
from thermocline.pipelines.cli.output import json_option, out, print_json, table

__all__ = ["register", "search"]

_SHOWN_MATCHES = 4  # the best matches of a hit shown in the table (--json has them all)


@click.command()
@click.argument("text", nargs=-1)
@click.option(
    "--limit",
    type=int,
    default=None,
    metavar="N",
    help="Show at most N datasets (default 20).",
)
@json_option
@click.pass_obj
def search(ctx: Context, text: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """Datasets that TEXT finds, in the project and the catalog (datasets written once and
    since dropped from the project too), ranked: a dataset's name first, then a column's
    name, then an owner, tag or PII class, then words of its description. Every word of TEXT
    must match. Example: `thermocline search email`."""
    from thermocline.datasets.tables.search import search as find
    from thermocline.datasets.tables.search_rank import DEFAULT_LIMIT, check_query

    query = " ".join(text)
    wanted = DEFAULT_LIMIT if limit is None else limit
    check_query(query, wanted)  # a bad query fails before the project is read
    hits = find(ctx.catalog, ctx.project.datasets, query, wanted)
    if as_json:
        print_json(hits)
        return
    table(
        f"datasets matching {query!r}",
        ["dataset", "score", "matched", "version", "owners", "description"],
        [
            (
                h.dataset if h.in_project else f"{h.dataset} (not in project)",
                h.score,
                "; ".join(f"{m.field} {m.value}" for m in h.matches[:_SHOWN_MATCHES])
                + ("; ..." if len(h.matches) > _SHOWN_MATCHES else ""),
                "(no table yet)" if h.version is None else h.version,
                ", ".join(h.owners),
                h.description,
            )
            for h in hits
        ],
    )
    if not hits:
        out.print(
            "no dataset matches every word; try fewer or shorter words, or "
            "`thermocline datasets list`",
            markup=False,
        )


def register(group: click.Group) -> None:
    group.add_command(search)
