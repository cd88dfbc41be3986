"""Signatures of outbound webhooks, and the check an application runs on what it receives.

Every webhook carries::

    Glassbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, b"<t>." + body)>
    Glassbox-Delivery: <delivery id>      (the same on every retry: the receiver's dedup key)
    Glassbox-Event: <event>

The timestamp is inside the MAC, so a captured request cannot be replayed later than the
tolerance allows; within it, a receiver that remembers the delivery ids it has processed also
refuses exact replays. Several ``v1=`` values may appear (while the key is being rotated);
one match is enough.

This module has no database or web imports: an application written in Python can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Final

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "sign_webhook",
    "verify_webhook_signature",
]

SIGNATURE_HEADER: Final = "Glassbox-Signature"
DEFAULT_TOLERANCE_SECONDS: Final = 300
_SCHEME: Final = "v1"
_MAX_HEADER_LENGTH: Final = 1024


def _mac(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def _unix_seconds(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return moment.timestamp()
    return float(moment)


def sign_webhook(key: bytes, body: bytes, *, timestamp: int) -> str:
    """Return the ``Glassbox-Signature`` header value for a body sent at a moment.

    Parameters
    ----------
    key : bytes
        The webhook signing key (``Settings.webhook_signing_key``).
    body : bytes
        The exact request body.
    timestamp : int
        Unix seconds of the attempt.

    Returns
    -------
    str
        ``t=<timestamp>,v1=<hex MAC>``.
    """
    return f"t={timestamp},{_SCHEME}={_mac(key, timestamp, body)}"


def verify_webhook_signature(
    key: bytes,
    body: bytes,
    header: str | None,
    *,
    now: datetime | float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Tell whether a received webhook was signed with ``key`` recently enough.

    Parameters
    ----------
    key : bytes
        The shared webhook signing key.
    body : bytes
        The raw request body, byte for byte as received (not re-encoded JSON).
    header : str or None
        The ``Glassbox-Signature`` header value.
    now : datetime or float
        The receiver's current time: an aware datetime or Unix seconds.
    tolerance_seconds : float
        How far the signed timestamp may lie from ``now``, either way (clock skew). Older
        signatures are refused, so a captured request cannot be replayed later.

    Returns
    -------
    bool
        True only for a well-formed header whose timestamp is within the tolerance and one of
        whose ``v1`` MACs matches (compared in constant time).
    """
    if not header or len(header) > _MAX_HEADER_LENGTH:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            timestamp = int(value)
        elif name == _SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(_unix_seconds(now) - timestamp) > tolerance_seconds:
        return False
    expected = _mac(key, timestamp, body).encode("ascii")
    # Every candidate is compared, so the time taken does not tell which one was close.
    matches = [
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in candidates
    ]
    return any(matches)
