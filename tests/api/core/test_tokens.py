"""Subject tokens, from the attacker's side: forged, altered, expired or foreign tokens fail."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from api.core.tokens import TokenError, issue_subject_token, read_subject_token

KEY = os.urandom(32)
PSEUDONYM = "a" * 64
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _issue() -> str:
    token, _ = issue_subject_token(
        KEY, pseudonym=PSEUDONYM, decision_id="d" * 32, ttl=timedelta(days=90), now=NOW
    )
    return token


def test_round_trip_binds_subject_decision_scopes_and_expiry() -> None:
    claims = read_subject_token(KEY, _issue(), now=NOW + timedelta(days=1))
    assert claims.pseudonym == PSEUDONYM
    assert claims.decision_id == "d" * 32
    assert "decision:contest" in claims.scopes
    assert claims.expires_at == NOW + timedelta(days=90)


def test_each_token_has_its_own_id() -> None:
    first = read_subject_token(KEY, _issue(), now=NOW)
    second = read_subject_token(KEY, _issue(), now=NOW)
    assert first.token_id != second.token_id


def test_expired_token_is_refused() -> None:
    with pytest.raises(TokenError, match="expired"):
        read_subject_token(KEY, _issue(), now=NOW + timedelta(days=90))


def test_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(TokenError, match="bad signature"):
        read_subject_token(os.urandom(32), _issue(), now=NOW)


def test_swapping_the_subject_in_the_payload_breaks_the_signature() -> None:
    head, mac = _issue().split(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload["sub"] = "b" * 64  # another person's pseudonym
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="bad signature"):
        read_subject_token(KEY, f"{forged}.{mac}", now=NOW)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "!!!.???", "eyJ2IjoxfQ.AAAA"])
def test_garbage_is_refused_cleanly(garbage: str) -> None:
    with pytest.raises(TokenError):
        read_subject_token(KEY, garbage, now=NOW)
