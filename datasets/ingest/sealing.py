"""Sealed dead letters: raw payloads encrypted, with a redacted preview for people.

A dead letter keeps the record's raw bytes so a person can repair and replay it, and raw bytes
hold whatever personal data the record carried, before any policy could apply (it did not
decode). So when a dataset's PII policy is active (:func:`~.pii.policy_active`), each payload is
**sealed**: AES-256-GCM under a key derived from the project's HMAC key with HKDF-SHA256
(``info = "thermocline dead letters"``), a random 96-bit nonce per record, and the record's
``topic:partition:offset`` as associated data (a sealed payload cannot be passed off as another
record's). The ``raw`` column then holds ``nonce || ciphertext || tag``, ``sealed`` is true,
and ``preview`` holds the first :data:`PREVIEW_CHARS` characters of the payload as text with
every value a PII detector finds (and every JSON value of a column the policy lists) replaced
by ``<class>``: enough to see what went wrong, nothing to leak.

To repair, whoever holds the key opens them::

    >>> dead = read_dataset(catalog, dead_letter_table("clicks")).to_table()   # doctest: +SKIP
    >>> unseal(dead, hash_key(project))["raw"][0].as_py()                       # doctest: +SKIP
    b'{"id": 7, "email": "a@example.com", ...'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from thermocline.catalog.errors import InputError
from thermocline.quality.pii.detectors import DETECTORS

__all__ = ["PREVIEW_CHARS", "Sealer", "aad_of", "dead_letter_key", "unseal"]

PREVIEW_CHARS = 500
_INFO = b"thermocline dead letters"
_NONCE = 12


def dead_letter_key(hmac_key: bytes) -> bytes:
    """The AES-256 key for dead letters, derived from the project's HMAC key (HKDF-SHA256):
    one secret to keep, and neither key reveals the other."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(hmac_key)


class Sealer:
    """Seals dead-letter payloads and writes their redacted previews (see the module doc)."""

    def __init__(self, hmac_key: bytes, columns: Sequence[str] = ()) -> None:
        self._aead = AESGCM(dead_letter_key(hmac_key))
        # JSON values of named columns, strings or bare tokens: "col": "..." / "col": 123
        self._fields = [
            f'("{re.escape(c)}"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|[^,}}\\]\\s]+)' for c in columns
        ]

    def seal(self, payloads: Sequence[bytes | None], aad: Sequence[bytes]) -> list[bytes | None]:
        """``nonce || AES-GCM(payload)`` per payload (None stays None), bound to its ``aad``."""
        sealed: list[bytes | None] = []
        for payload, bound in zip(payloads, aad, strict=True):
            if payload is None:
                sealed.append(None)
                continue
            nonce = os.urandom(_NONCE)
            sealed.append(nonce + self._aead.encrypt(nonce, payload, bound))
        return sealed

    def previews(self, payloads: Sequence[bytes | None]) -> pa.Array:
        """Each payload's first characters as text, PII replaced by ``<class>``."""
        text = pa.array(
            [
                None if p is None else p[: PREVIEW_CHARS * 4].decode("utf-8", "replace")
                for p in payloads
            ],
            pa.string(),
        )
        text = pc.utf8_slice_codeunits(text, 0, PREVIEW_CHARS)
        for pattern in self._fields:
            text = pc.replace_substring_regex(text, pattern, r'\1"<pii>"')
        for detector in DETECTORS.values():
            text = pc.replace_substring_regex(text, detector.pattern, f"<{detector.name}>")
        return text


def aad_of(topic: str, partition: int, offset: int) -> bytes:
    """The associated data that binds a sealed payload to its record."""
    return f"{topic}:{partition}:{offset}".encode()


def unseal(dead: pa.Table, hmac_key: bytes) -> pa.Table:
    """``dead`` (dead-letter rows) with every sealed ``raw`` opened; rows already clear are kept
    as they are. Raises :class:`InputError` when a payload does not open with this key."""
    if "sealed" not in dead.column_names:
        return dead
    aead = AESGCM(dead_letter_key(hmac_key))
    opened = []
    rows = zip(
        dead["raw"].to_pylist(),
        dead["sealed"].to_pylist(),
        dead["topic"].to_pylist(),
        dead["partition"].to_pylist(),
        dead["offset"].to_pylist(),
        strict=True,
    )
    for raw, sealed, topic, partition, offset in rows:
        if not sealed or raw is None:
            opened.append(raw)
            continue
        try:
            opened.append(
                aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad_of(topic, partition, offset))
            )
        except InvalidTag:
            raise InputError(
                f"dead letter {topic}:{partition}:{offset} does not open with this key; fix: "
                "use the key of the project that wrote it (pii.hash_key_env)"
            ) from None
    index = dead.column_names.index("raw")
    return dead.set_column(index, "raw", pa.array(opened, pa.binary())).set_column(
        dead.column_names.index("sealed"), "sealed", pa.array([False] * dead.num_rows)
    )
