"""Geographic coordinates: a place a person was (a home, a trip's start) is personal data.

A latitude-longitude *pair* in text is one without a name hint: two decimals with at least three
places each (prices have two, version strings have no second number), in range (|lat| <= 90,
|lon| <= 180, either order: WKT writes ``POINT(lon lat)``), or degrees-minutes-seconds with
hemispheres. A *single* decimal is a coordinate only under a ``lat``/``lon``-like column name:
:data:`GEO_SINGLE` has ``requires_hint``. Numeric (float) columns are the classifier's to judge
by name (:data:`GEO_HINTS`); detectors read text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector

__all__ = ["GEO_COORDINATES", "GEO_HINTS", "GEO_SINGLE"]

GEO_HINTS = (
    "lat", "lon", "lng", "latitude", "longitude", "latlon", "latlng", "geo", "geolocation",
    "coord", "coords", "coordinates", "gps", "location", "geopoint", "position",
)  # fmt: skip
"""Column-name tokens of coordinates (``pickup_lat``, ``dropoffLng``, ``gps``); ``long`` is left
out: it names too many other things (``long_description``)."""

_NUM = r"[-+]?[0-9]{1,3}\.[0-9]{3,15}"
# Minutes and seconds after the degrees: ' or the prime (U+2032), " or the double prime (U+2033).
_MS = r"° ?[0-5]?[0-9](?:'|\x{2032}) ?(?:[0-5]?[0-9](?:\.[0-9]+)?(?:\"|\x{2033}|'') ?)?"
_DMS_LAT = rf"(?:[0-8]?[0-9]|90){_MS}[NSns]"
_DMS_LON = rf"(?:1[0-7][0-9]|0?[0-9]?[0-9]|180){_MS}[EWew]"
_PAIR = (
    rf"^(?P<a>{_NUM})(?:° ?[NSns]|[NSns])?(?: ?[,;/] ?| +)"
    rf"(?P<b>{_NUM})(?:° ?[EWew]|[EWew])?$"
)


def _floats(parts: pa.StructArray, name: str) -> np.ndarray:
    return np.asarray(pc.cast(parts.field(name), pa.float64()).to_numpy(zero_copy_only=False))


def _validate_pair(candidates: pa.StringArray) -> pa.BooleanArray:
    # Degrees-minutes-seconds pairs are range-checked by the pattern itself.
    out = np.asarray(
        pc.invert(pc.match_substring_regex(candidates, pattern=_PAIR)).to_numpy(
            zero_copy_only=False
        )
    ).copy()
    idx = np.flatnonzero(~out)
    if idx.size:
        parts = pc.extract_regex(candidates.take(pa.array(idx)), pattern=_PAIR)
        a, b = np.abs(_floats(parts, "a")), np.abs(_floats(parts, "b"))
        in_range = ((a <= 90) & (b <= 180)) | ((a <= 180) & (b <= 90))
        out[idx] = in_range & ((a > 0) | (b > 0))  # (0, 0) is "no location", not a place
    return pa.array(out)


def _validate_single(candidates: pa.StringArray) -> pa.BooleanArray:
    v = np.abs(np.asarray(pc.cast(candidates, pa.float64()).to_numpy(zero_copy_only=False)))
    return pa.array((v <= 180) & (v > 0))


GEO_COORDINATES = Detector(
    name="geo_coordinates",
    pattern=(
        r"(?:^|[^0-9A-Za-z.+-])(?P<value>"
        rf"{_NUM}(?:° ?[NSns]|[NSns])?(?: ?[,;/] ?| +){_NUM}(?:° ?[EWew]|[EWew])?"
        rf"|{_DMS_LAT},? ?{_DMS_LON}"
        r")(?:$|[^0-9A-Za-z.-]|\.(?:$|[^0-9]))"
    ),
    validator=_validate_pair,
    name_hints=GEO_HINTS,
    description="a latitude/longitude pair (decimal with >= 3 places, or degrees-minutes-seconds)",
)
"""Coordinate pairs in text: both numbers in range with GPS-like precision."""

GEO_SINGLE = Detector(
    name="geo_single",
    # The whole value: inside text, a lone decimal is far likelier a measurement.
    pattern=rf"^\s*(?P<value>{_NUM})°?\s*$",
    validator=_validate_single,
    name_hints=GEO_HINTS,
    description="one latitude or longitude (a decimal with >= 3 places), under a geo-like name",
    pii_class="geo_coordinates",
    requires_hint=True,
)
"""Single coordinates: any 3-decimal number could be one, so only the column name decides."""
