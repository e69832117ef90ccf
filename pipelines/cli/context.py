"""What one ``thermocline`` invocation works on: its project, lake and catalog, built once.

The root group puts a :class:`Context` in ``click.Context.obj``; commands take it with
``@click.pass_obj``. Each handle is built on first use, so ``--help`` and the commands that need
no project (``dev``, ``config schema``) never read the project file, and a command that uses the
catalog gets the same one from start to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thermocline.catalog.catalog import Catalog
    from thermocline.catalog.config import Project
    from thermocline.catalog.lake import Lake

__all__ = ["Context"]


@dataclass
class Context:
    """The project file given by ``--project`` (None: discovered) and what it leads to."""

    project_path: str | None

    @cached_property
    def project(self) -> Project:
        # pydantic, yaml and pyarrow (the config models) load here, not at startup (~0.3 s).
        from thermocline.catalog.project_file import load_project

        return load_project(self.project_path)

    @cached_property
    def lake(self) -> Lake:
        from thermocline.catalog.lake import Lake

        return Lake.from_project(self.project)

    @cached_property
    def catalog(self) -> Catalog:
        # deltalake is imported here, not at startup: `--help` and `dev` need none of it.
        from thermocline.catalog.catalog import Catalog

        return Catalog(self.lake)

    def dataset(self, name: str) -> str:
        """``name`` if the project declares it or the lake holds it, else a one-line error
        that lists the datasets there are (an :class:`InputError`, exit code 2)."""
        from thermocline.catalog.errors import DatasetNotFoundError
        from thermocline.datasets.tables.versions import open_table

        if name not in self.project.datasets:
            try:
                open_table(self.lake, name)
            except DatasetNotFoundError:
                self.project.dataset(name)  # raises, listing the datasets there are
        return name
