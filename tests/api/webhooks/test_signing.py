"""The webhook signature: what an application checks before it believes a notification."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from api.webhooks.signing import sign_webhook, verify_webhook_signature

KEY = os.urandom(32)
BODY = b'{"data":{"decision_id":"0190aaaa00007000800000000000beef"},"event":"decision.superseded"}'
SENT_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
T = int(SENT_AT.timestamp())


def test_a_fresh_signature_of_the_exact_body_verifies() -> None:
    header = sign_webhook(KEY, BODY, timestamp=T)
    assert header.startswith(f"t={T},v1=")
    assert verify_webhook_signature(KEY, BODY, header, now=SENT_AT)
    assert verify_webhook_signature(KEY, BODY, header, now=T + 299.0)  # Unix seconds work too
    assert verify_webhook_signature(KEY, BODY, header, now=SENT_AT - timedelta(seconds=60))


def test_a_tampered_body_is_refused() -> None:
    header = sign_webhook(KEY, BODY, timestamp=T)
    tampered = BODY.replace(b"superseded", b"supersedeD")
    assert not verify_webhook_signature(KEY, tampered, header, now=SENT_AT)
    assert not verify_webhook_signature(KEY, BODY + b" ", header, now=SENT_AT)


def test_a_signature_under_another_key_is_refused() -> None:
    header = sign_webhook(os.urandom(32), BODY, timestamp=T)
    assert not verify_webhook_signature(KEY, BODY, header, now=SENT_AT)


def test_an_old_signature_is_refused_so_a_captured_request_cannot_be_replayed() -> None:
    header = sign_webhook(KEY, BODY, timestamp=T)
    assert not verify_webhook_signature(KEY, BODY, header, now=SENT_AT + timedelta(minutes=6))
    assert not verify_webhook_signature(
        KEY, BODY, header, now=SENT_AT + timedelta(seconds=31), tolerance_seconds=30
    )
    # A timestamp from the future (beyond clock skew) is no better.
    assert not verify_webhook_signature(KEY, BODY, header, now=SENT_AT - timedelta(minutes=6))


def test_a_changed_timestamp_breaks_the_signature() -> None:
    mac = sign_webhook(KEY, BODY, timestamp=T).split("v1=")[1]
    assert not verify_webhook_signature(KEY, BODY, f"t={T + 60},v1={mac}", now=SENT_AT)


def test_one_matching_signature_among_several_is_enough_during_key_rotation() -> None:
    old = sign_webhook(os.urandom(32), BODY, timestamp=T).split("v1=")[1]
    new = sign_webhook(KEY, BODY, timestamp=T).split("v1=")[1]
    assert verify_webhook_signature(KEY, BODY, f"t={T},v1={old},v1={new}", now=SENT_AT)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"v1={'0' * 64}",
        f"t={T}",
        f"t=abc,v1={'0' * 64}",
        f"t=²,v1={'0' * 64}",
        f"t={T},t={T},v1={'0' * 64}",
        f"t={T},v1=ü",
        f"t={T},v1={'0' * 2000}",
    ],
)
def test_malformed_headers_are_refused_without_an_error(header: str | None) -> None:
    assert not verify_webhook_signature(KEY, BODY, header, now=SENT_AT)


def test_now_must_say_its_time_zone() -> None:
    header = sign_webhook(KEY, BODY, timestamp=T)
    with pytest.raises(ValueError, match="timezone"):
        verify_webhook_signature(KEY, BODY, header, now=datetime(2026, 11, 26, 12, 0))
