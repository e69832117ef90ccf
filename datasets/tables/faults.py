"""A test-only hook that crashes or fails a process at a named step, to prove recovery.

Set ``THERMOCLINE_FAULT`` to a comma-separated list of step names, each optionally followed by
``=raise``. When the code reaches a listed step, :func:`fault_point` kills the process with
SIGKILL (as a power cut or an OOM kill would), or with ``=raise`` raises
:class:`InjectedFaultError` (an unexpected failure). Unset, it does nothing.

Steps of a release rollback (``N`` counts the datasets it changes, from 1):

- ``release-rollback:after-plan``: the journal holds the plan, nothing was restored;
- ``release-rollback:after-restore:N``: dataset N's restore committed, its journal row not yet;
- ``release-rollback:after-journal:N``: dataset N's journal row is written;
- ``release-abort:after-restore:N`` / ``release-abort:after-journal:N``: the same for an abort.

>>> import os; os.environ["THERMOCLINE_FAULT"] = "release-rollback:after-plan=raise"
>>> fault_point("release-rollback:after-plan")
Traceback (most recent call last):
thermocline.datasets.tables.faults.InjectedFaultError: injected failure at release-rollback:after-plan (THERMOCLINE_FAULT)
>>> del os.environ["THERMOCLINE_FAULT"]
"""  # noqa: E501

from __future__ import annotations

import os
import signal

from thermocline.catalog.errors import ThermoclineError

__all__ = ["FAULT_ENV", "InjectedFaultError", "armed", "fault_point"]

FAULT_ENV = "THERMOCLINE_FAULT"


class InjectedFaultError(ThermoclineError):
    """The failure ``THERMOCLINE_FAULT`` asked for (tests only)."""


def armed(step: str) -> bool:
    """Whether ``THERMOCLINE_FAULT`` names ``step``: code that overlaps work in threads settles
    it before the fault point, so a crash test sees one state."""
    return any(
        item.strip().partition("=")[0] == step for item in os.environ.get(FAULT_ENV, "").split(",")
    )


def fault_point(step: str) -> None:
    """Crash (SIGKILL) or raise here if ``THERMOCLINE_FAULT`` names ``step``; else nothing."""
    for item in os.environ.get(FAULT_ENV, "").split(","):
        name, _, action = item.strip().partition("=")
        if name != step:
            continue
        if action == "raise":
            raise InjectedFaultError(f"injected failure at {step} ({FAULT_ENV})")
        os.kill(os.getpid(), signal.SIGKILL)
