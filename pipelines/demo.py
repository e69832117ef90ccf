"""The demo: a new batch of rides lands in the source folder and Dagster ingests it.

The run goes to the project's Dagster instance (``.thermocline/dagster``), the same one
``thermocline ui up`` serves, so it shows in the UI afterwards with its checks.
"""

from pathlib import Path

import dagster as dg

from thermocline.catalog.config import Project
from thermocline.datasets.demo import DEMO_DATASET, write_next_demo_batch
from thermocline.pipelines.definitions import ThermoclineResource, build_definitions
from thermocline.pipelines.ui import dagster_home

__all__ = ["run_demo"]


def run_demo(project: Project, rows: int = 5_000) -> tuple[Path, dg.ExecuteInProcessResult]:
    """Write the next demo batch, then materialize the demo asset in a recorded Dagster run."""
    path = write_next_demo_batch(project, rows)
    project_path = str(project.path) if project.path else None
    defs = build_definitions(project, project_path)
    with dg.DagsterInstance.from_config(str(dagster_home(project))) as instance:
        result = dg.materialize(
            [defs.get_assets_def(DEMO_DATASET)],
            resources={"thermocline": ThermoclineResource(project_path=project_path)},
            instance=instance,
            raise_on_error=False,
            # The run's events are in the UI; the terminal gets the summary the CLI prints.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    return path, result
