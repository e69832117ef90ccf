"""What happens to columns that hold personal data (``pii:``, per dataset and project)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thermocline.catalog.config.base import Model

__all__ = ["PiiAction", "PiiColumnRule", "PiiPolicy", "PiiSettings"]


PiiAction = Literal["allow", "mask", "hash", "drop", "block", "generalize"]
"""What happens to a column that holds personal data, between decode and stage:

- ``allow``: stored in clear (the loader still refuses it unless ``allow_pii`` names it);
- ``mask``: every character but the last ``keep`` replaced with ``*``;
- ``hash``: keyed HMAC-SHA256 (hex), the same value gives the same hash in every dataset;
- ``drop``: the column is not stored;
- ``block``: the batch is quarantined with the PII reason, nothing is published;
- ``generalize``: truncated (dates to ``to``: year or month; coordinates to 2 decimals;
  IPv4 to /24, IPv6 to /48).
"""


class PiiColumnRule(Model):
    """The policy of one column, when it needs more than the action's name."""

    action: PiiAction
    keep: int = Field(4, ge=0, description="mask: how many trailing characters stay in clear")
    to: Literal["year", "month"] = Field(
        "year", description="generalize: what a date keeps (year or month)"
    )


class PiiPolicy(Model):
    """What happens to columns that hold personal data (see :data:`PiiAction`).

    ``columns`` names a rule per column, as an action (``rider_email: hash``) or a rule
    (``card: {action: mask, keep: 4}``). A column the scan classifies as PII that ``columns``
    does not list (also one that appears in a later batch) gets ``default_action``; ``block``,
    the default, keeps clear PII out of every Parquet file until a person decides.
    """

    scan: bool = Field(True, description="classify the columns of every batch")
    sample_rows: int = Field(
        10_000, ge=1, description="values sampled per column per batch (all of a smaller batch)"
    )
    default_action: PiiAction = Field(
        "block", description="for detected PII columns not listed in `columns`"
    )
    columns: dict[str, PiiAction | PiiColumnRule] = Field(default_factory=dict)

    def rule(self, column: str) -> PiiColumnRule | None:
        """The configured rule of ``column``, or None when ``columns`` does not list it."""
        rule = self.columns.get(column)
        if rule is None or isinstance(rule, PiiColumnRule):
            return rule
        return PiiColumnRule(action=rule)


class PiiSettings(Model):
    """Project-wide PII settings: the HMAC key is one for the whole project, so a value hashes
    the same in every dataset and joins on hashed columns still work."""

    hash_key_env: str = Field(
        "THERMOCLINE_PII_KEY",
        description="environment variable that holds the HMAC key of `hash` (never logged)",
    )
