"""Subject tokens: what a person holds to see and contest the decisions about them.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))``. The payload binds the
token to the subject's pseudonym (never the application's reference), to the decision it was
issued with, to a set of scopes and to an expiry; ``jti`` identifies it for revocation. Tokens go
in the ``Authorization`` header, never in a cookie (a promise of the seed policy).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from api.core.crypto import hmac_sha256, random_bytes

__all__ = [
    "DEFAULT_SCOPES",
    "SUBJECT_TOKEN_TTL",
    "SubjectClaims",
    "TokenError",
    "issue_subject_token",
    "read_subject_token",
]

TOKEN_VERSION = 1
# What a notice's token allows: reading the decision and everything about the same subject,
# contesting and exercising the subject's rights.
DEFAULT_SCOPES = ("decision:read", "decision:contest", "subject:read", "subject:rights")
# How long a notice's token, or a fresh link's, opens the person's page.
SUBJECT_TOKEN_TTL = timedelta(days=90)


class TokenError(ValueError):
    """A token that is malformed, forged, or expired (the message says which, for logs only)."""


@dataclass(frozen=True)
class SubjectClaims:
    """What a valid token says."""

    pseudonym: str
    decision_id: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac_sha256(key, b"glassbox.subject-token.v1\x00" + payload)


def issue_subject_token(
    key: bytes,
    *,
    pseudonym: str,
    decision_id: str,
    ttl: timedelta,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    now: datetime | None = None,
) -> tuple[str, SubjectClaims]:
    """Issue a signed token for a subject.

    Parameters
    ----------
    key : bytes
        The token signing key (``Settings.token_signing_key``).
    pseudonym : str
        The subject's pseudonym.
    decision_id : str
        The decision whose notice carries the token.
    ttl : timedelta
        How long the token is valid.

    Returns
    -------
    (str, SubjectClaims)
        The token and what it says.
    """
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = SubjectClaims(
        pseudonym=pseudonym,
        decision_id=decision_id,
        scopes=tuple(scopes),
        issued_at=issued,
        expires_at=issued + ttl,
        token_id=random_bytes(16).hex(),
    )
    payload = orjson.dumps(
        {
            "v": TOKEN_VERSION,
            "sub": claims.pseudonym,
            "did": claims.decision_id,
            "scp": list(claims.scopes),
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.token_id,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}", claims


def read_subject_token(key: bytes, token: str, *, now: datetime | None = None) -> SubjectClaims:
    """Check a token's signature and expiry and return its claims.

    Raises
    ------
    TokenError
        When the token is malformed, its signature does not match, or it has expired.
    """
    try:
        head, mac = token.split(".")
        payload = _unb64(head)
        signature = _unb64(mac)
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed token") from exc
    if not hmac.compare_digest(signature, _mac(key, payload)):
        raise TokenError("bad signature")
    try:
        data = json.loads(payload)
        claims = SubjectClaims(
            pseudonym=str(data["sub"]),
            decision_id=str(data["did"]),
            scopes=tuple(str(s) for s in data["scp"]),
            issued_at=datetime.fromtimestamp(int(data["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
            token_id=str(data["jti"]),
        )
        version = int(data["v"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed claims") from exc
    if version != TOKEN_VERSION:
        raise TokenError("unsupported token version")
    if (now or datetime.now(UTC)) >= claims.expires_at:
        raise TokenError("expired")
    return claims
