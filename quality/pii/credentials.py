"""Secrets: cloud keys and tokens by their documented prefixes, and high-entropy strings.

A leaked credential is not personal data in the GDPR sense, but it must never reach a training
set or a shared table, and the same policies (block, drop, mask) handle it, so it is one more
class: ``secret``. Two kinds of candidate:

* **known formats**, confirmed by shape alone: AWS access key ids (``AKIA``/``ASIA``...), GitHub
  (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``), GitLab ``glpat-``, Slack
  ``xox[bpars]-``, Stripe ``sk_live_``/``rk_live_`` (and ``_test_``), Google ``AIza``,
  OpenAI-style ``sk-``, JSON Web Tokens (``eyJ...``.``eyJ...``.sig) and PEM private keys;
* **anything else** at least 24 characters of base64/url-safe alphabet, holding digits, lower
  and upper case letters, whose Shannon entropy is near that of random text of its length.
  Hex strings (md5, sha1, sha256 digests, commit ids) and UUIDs are ids, not secrets, and are
  excluded by shape: a digest column is the classic false positive.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thermocline.quality.pii.detector import Detector

__all__ = ["ENTROPY_RATIO", "MAX_WORD_SHARE", "MIN_GENERIC_LENGTH", "SECRET"]

MIN_GENERIC_LENGTH = 24
"""The shortest token judged by entropy alone (shorter random-looking tokens are ids)."""

ENTROPY_RATIO = 0.85
"""A generic token's Shannon entropy (bits per character) over ``log2(min(len, 64))``, the
most its length allows in a 64-letter alphabet: random keys sit near 0.9, words and camel-case
identifiers below 0.8."""

_KNOWN = (
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}",
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"glpat-[A-Za-z0-9_-]{20,}",
    r"xox[bpars]-[A-Za-z0-9-]{15,}",
    r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"sk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}",
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
)
_KNOWN_WHOLE = "^(?:" + "|".join(_KNOWN) + ")$"

MAX_WORD_SHARE = 0.5
"""The most of a generic token that may be word-like runs (``[A-Z]?[a-z]{3,}``)."""
_WORD = r"[A-Z]?[a-z]{3,}"


def _entropy(values: pa.StringArray) -> np.ndarray:
    """Shannon entropy in bits per character of each (non-empty) value, vectorized: one byte
    histogram per value from the array's data buffer."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[values.offset : values.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(n), lengths)
    counts = np.bincount(rows * 256 + data, minlength=n * 256).reshape(n, 256).astype(np.float64)
    p = counts / np.maximum(lengths, 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    return np.asarray(h)


def _validate_secret(candidates: pa.StringArray) -> pa.BooleanArray:
    known = pc.match_substring_regex(candidates, pattern=_KNOWN_WHOLE)
    out = np.asarray(known.to_numpy(zero_copy_only=False)).copy()
    idx = np.flatnonzero(~out)
    if idx.size == 0:
        return pa.array(out)
    rest = candidates.take(pa.array(idx))
    lengths = pc.binary_length(rest).to_numpy(zero_copy_only=False)
    # Cheap shape tests first: hex digests and UUIDs (hex and dashes) are ids; a random key holds
    # digits and both cases; identifiers (CamelCaseNames, snake_case_words) are mostly words,
    # letters in runs of three or more lowercase after at most one capital, random text seldom.
    keep = lengths >= MIN_GENERIC_LENGTH
    keep &= ~pc.match_substring_regex(rest, pattern=r"^[0-9A-Fa-f-]+$").to_numpy(
        zero_copy_only=False
    )
    for klass in ("[0-9]", "[a-z]", "[A-Z]"):
        keep &= pc.match_substring_regex(rest, pattern=klass).to_numpy(zero_copy_only=False)
    unworded = pc.binary_length(pc.replace_substring_regex(rest, _WORD, "")).to_numpy(
        zero_copy_only=False
    )
    keep &= unworded >= (1 - MAX_WORD_SHARE) * lengths
    survivors = np.flatnonzero(keep)
    if survivors.size:
        ceiling = np.log2(np.minimum(lengths[survivors], 64))
        entropy = _entropy(rest.take(pa.array(survivors)))
        keep[survivors] = entropy >= ENTROPY_RATIO * ceiling
    out[idx] = keep
    return pa.array(out)


SECRET = Detector(
    name="secret",
    # The candidate is only a token's *shape* (a PEM header, a JWT, or 20+ token characters):
    # RE2 extracts a short alternation ten times faster than the alternation of every known
    # format with its counted repeats; the validator then tells known formats from the rest.
    pattern=(
        r"(?:^|[^A-Za-z0-9+/_=-])(?P<value>"
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
        r"|eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
        r"|[A-Za-z0-9+/_=-]{20,}"
        r")(?:$|[^A-Za-z0-9+/_=-])"
    ),
    validator=_validate_secret,
    name_hints=(
        "secret", "token", "apikey", "accesskey", "secretkey", "password", "passwd", "pwd",
        "credential", "credentials", "privatekey", "authtoken", "accesstoken", "bearer",
        "clientsecret",
    ),
    description="a credential: a known key or token format, or a high-entropy string",
)  # fmt: skip
"""Cloud keys and tokens by prefix; other long random-looking strings by entropy."""
