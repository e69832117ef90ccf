"""The base of every project-file model, and the value helpers they share: environment
references (``${NAME}``) and durations (``1h``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from thermocline.catalog.errors import ConfigError

__all__ = ["Model", "expand_env", "parse_duration"]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Model(BaseModel):
    """Strict base: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def expand_env(value: str, environ: Mapping[str, str] | None = None, field: str = "value") -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in ``value`` from the environment."""
    environ = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{field}: environment variable {name} is not set; fix: export {name}=... "
            f"or write ${{{name}:-default}}",
            field=field,
        )

    return _ENV_REFERENCE.sub(replace, value)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``15m``, ``1h``, ``7d``, ``2w``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 1h, 7d")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
