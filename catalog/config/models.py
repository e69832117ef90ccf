"""Models trained on the platform: each is a Dagster asset downstream of the dataset it reads.

A model's training function gets a :class:`~thermocline.datasets.training.TableDataset` pinned
to one version of ``dataset`` (with ``columns``); once training succeeds, that version gets a
tag (``tag``, by default the model's name: ``ride_features@fare_model``), so the rows a model
saw stay readable (vacuum and tiering keep tagged versions). The read is recorded as a
training run (``thermocline runs``, ``thermocline lineage``).

>>> spec = ModelSpec(dataset="ride_features", train="my_pkg.train:fit", columns=["x", "y"])
>>> spec.tag_name("fare_model")
'fare_model'
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from thermocline.catalog.config.base import Model

__all__ = ["ModelSpec"]


class ModelSpec(Model):
    """One model: what it reads and the function that trains it."""

    description: str = ""
    owners: list[str] = Field(default_factory=list)
    dataset: str = Field(description="the dataset it trains on (a dataset of this project)")
    columns: list[str] = Field(min_length=1, description="the columns the loader reads")
    train: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function called as fn(dataset: TableDataset, params: dict) -> "
        "dict of metrics (numbers)",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="handed to the function")
    batch_size: int = Field(256, ge=1)
    tag: str | None = Field(
        None, description="the tag set on the version trained on (default: the model's name)"
    )

    def tag_name(self, model: str) -> str:
        """The tag that marks the dataset version model ``model`` was last trained on."""
        return self.tag or model
