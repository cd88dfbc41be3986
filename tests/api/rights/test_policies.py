"""The retention rule: a key's year expires when its end plus the category's period has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.rights.policies import key_expires_at, retention_policies


def test_a_year_expires_when_its_end_plus_the_period_has_passed() -> None:
    scores, _ = retention_policies()["scores"]
    assert scores.days == 730
    # Records of 31 December 2024 are 730 days old on 1 January 2027, the key's last day.
    assert key_expires_at(scores, 2024) == datetime(2027, 1, 1, tzinfo=UTC)
    fraud, _ = retention_policies()["fraud_history"]
    assert key_expires_at(fraud, 2016) == datetime(2017, 1, 1, tzinfo=UTC) + timedelta(3650)
