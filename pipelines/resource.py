"""The Dagster resource every asset, job and sensor of the code location loads the project from.

A definition calls :meth:`ThermoclineResource.load` once per execution (or sensor tick) and
hands the catalog, which carries the lake, to everything it calls: nothing below the code
location builds its own. The project file is read again each time, so an edit shows at the
next run without reloading the code location.

>>> project, catalog = ThermoclineResource(project_path="thermocline.yaml").load()  # doctest: +SKIP
"""

import dagster as dg

from thermocline.catalog.catalog import Catalog
from thermocline.catalog.config import Project
from thermocline.catalog.lake import Lake
from thermocline.catalog.project_file import load_project

__all__ = ["ThermoclineResource"]


class ThermoclineResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The project file, and through it the lake and its catalog, that assets read and write.

    An asset calls :meth:`load` once per execution and hands the catalog (which carries the
    lake) to every function it calls; nothing below the code location builds its own.
    """

    project_path: str | None = None

    def load(self) -> tuple[Project, Catalog]:
        project = load_project(self.project_path)
        return project, Catalog(Lake.from_project(project))
