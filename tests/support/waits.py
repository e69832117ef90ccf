"""Waiting in tests: on a condition, with a deadline, never for a fixed time.

A fixed sleep is too long on a quiet machine and too short on a busy one (CI shares two cores);
:func:`wait_until` returns as soon as the condition holds and fails, saying what it waited
for, when it does not hold in time. This folder is on ``sys.path`` (pytest's ``pythonpath``):
test modules are imported with ``--import-mode=importlib`` and cannot import one another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    every: float = 0.05,
) -> T:
    """Call ``condition`` every ``every`` seconds until it returns something truthy, and return
    that. After ``timeout`` seconds raise :class:`TimeoutError` naming ``what`` was awaited (a
    callable builds the message then, e.g. with a log's tail) and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise TimeoutError(f"not within {timeout:g} s: {described} (last: {value!r})")
        time.sleep(every)
