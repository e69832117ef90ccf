"""PII: detect personal data in Arrow columns (and, next, classify columns and apply policies).

Pure like the rest of :mod:`thermocline.quality`: the caller hands it Arrow arrays.
"""

from thermocline.quality.pii.detectors import (
    DETECTORS,
    PII_CLASSES,
    Detector,
    Validator,
    detect,
    hint_matches,
    match_share,
)

__all__ = [
    "DETECTORS",
    "PII_CLASSES",
    "Detector",
    "Validator",
    "detect",
    "hint_matches",
    "match_share",
]
