"""Contact details: e-mail addresses (phones live in :mod:`.phone`, they need numbering plans)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector

__all__ = ["EMAIL"]


def _validate_email(candidates: pa.StringArray) -> pa.BooleanArray:
    # The local part may not start or end with a dot or hold two in a row (RFC 5322 dot-atom).
    # Lengths (RFC 5321): local part up to 64, each domain label up to 63, the address up to 254.
    bad = pc.match_substring_regex(
        candidates, pattern=r"^\.|\.\.|\.@|@[A-Za-z0-9.-]*[A-Za-z0-9-]{64}"
    )
    local_ok = pc.less_equal(pc.find_substring(candidates, "@"), 64)
    total_ok = pc.less_equal(pc.utf8_length(candidates), 254)
    return pc.and_(pc.and_(pc.invert(bad), local_ok), total_ok)


EMAIL = Detector(
    name="email",
    pattern=(
        r"(?:^|[^A-Za-z0-9._%+-])"
        # Unbounded repetitions: RE2 extracts far faster; the validator checks the lengths.
        r"(?P<value>[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})"
        r"(?:$|[^A-Za-z0-9-])"
    ),
    validator=_validate_email,
    name_hints=("email", "mail", "e_mail"),
    description="an e-mail address",
)
"""E-mail: the most common identifier in event data; RFC 5321/5322 shape and lengths."""
