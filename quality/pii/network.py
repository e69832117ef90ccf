"""Network identifiers: IPv4, IPv6 and MAC addresses (personal data under GDPR: they single out
a device and so a person)."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector
from thermocline.quality.pii.vectors import judge_unique

__all__ = ["IPV4", "IPV6", "MAC_ADDRESS"]


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _validate_ipv6(candidates: pa.StringArray) -> pa.BooleanArray:
    # No vectorized IPv6 grammar exists in Arrow: a cheap gate first, then Python on the
    # distinct survivors. Without "::" an address has eight groups (seven colons), or six and
    # an IPv4 tail (six colons): MAC addresses (five) and times (two) stop here.
    colons = pc.count_substring(candidates, ":").to_numpy(zero_copy_only=False)
    compressed = pc.match_substring(candidates, "::").to_numpy(zero_copy_only=False)
    dotted = pc.match_substring(candidates, ".").to_numpy(zero_copy_only=False)
    gate = compressed | (colons == 7) | ((colons == 6) & dotted)
    out = np.zeros(len(candidates), dtype=bool)
    idx = np.flatnonzero(gate)
    if idx.size:
        out[idx] = np.asarray(judge_unique(candidates.take(pa.array(idx)), _is_ipv6), bool)
    return pa.array(out)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX2 = r"[0-9A-Fa-f]{2}"

IPV4 = Detector(
    name="ipv4",
    pattern=(
        r"(?:^|[^0-9.])"
        rf"(?P<value>{_OCTET}(?:\.{_OCTET}){{3}})"
        r"(?:$|[^0-9.]|\.(?:$|[^0-9]))"
    ),
    name_hints=("ip", "ipv4", "ipaddr", "ipaddress", "remoteaddr", "clientip"),
    description="an IPv4 address in dotted-quad form",
)
"""IPv4 dotted quads; the octet ranges are in the pattern, so no validator is needed."""

IPV6 = Detector(
    name="ipv6",
    pattern=(
        r"(?:^|[^0-9A-Za-z:.])"
        r"(?P<value>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})?)"
        r"(?:%[0-9A-Za-z]+)?(?:$|[^0-9A-Za-z:.])"
    ),
    validator=_validate_ipv6,
    name_hints=("ip", "ipv6", "ipaddr", "ipaddress", "remoteaddr", "clientip"),
    description="an IPv6 address (any RFC 4291 text form)",
)
"""IPv6 in any text form; :mod:`ipaddress` judges the distinct candidates."""

MAC_ADDRESS = Detector(
    name="mac_address",
    pattern=(
        r"(?:^|[^0-9A-Fa-f:.-])"
        rf"(?P<value>{_HEX2}(?::{_HEX2}){{5}}|{_HEX2}(?:-{_HEX2}){{5}}"
        r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})"
        r"(?:$|[^0-9A-Fa-f:.-])"
    ),
    name_hints=("mac", "macaddr", "macaddress", "hwaddr", "bssid"),
    description="a MAC (EUI-48) address: colon, dash or Cisco dotted form",
)
"""MAC addresses (EUI-48): a device's lifelong id; colon, dash or Cisco dotted form."""
