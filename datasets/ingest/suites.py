"""A dataset's Great Expectations suite as a judge of its batches (``quality.suite``).

Placeholder of the contract for issue #15: the GX slice replaces both functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from thermocline.catalog.config import Project
from thermocline.quality.results import BatchCheck

if TYPE_CHECKING:
    from thermocline.datasets.ingest.judge import DeclaredCheck

__all__ = ["suite_check", "suite_expectations"]


def suite_check(project: Project, dataset: str) -> BatchCheck | None:
    """The dataset's suite as a :class:`BatchCheck`, or None when it has none."""
    return None


def suite_expectations(project: Project, dataset: str) -> list[DeclaredCheck]:
    """One declared check per expectation of the dataset's suite (parsed, GX not imported)."""
    return []
