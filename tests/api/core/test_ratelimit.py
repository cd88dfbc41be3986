"""The token bucket: a burst, then one request per refilled token, a whole-second Retry-After,
buckets per key, and idle buckets forgotten."""

from __future__ import annotations

import pytest

from api.core.errors import TooManyRequestsError
from api.core.ratelimit import TokenBucket


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_request_per_refilled_token() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, detail="Too many.", clock=clock)
    for _ in range(3):
        bucket.acquire("a")
    with pytest.raises(TooManyRequestsError) as refused:
        bucket.acquire("a")
    assert refused.value.status == 429 and refused.value.detail == "Too many."
    assert refused.value.headers == {"Retry-After": "1"}  # 0.5 s, rounded up to whole seconds
    bucket.acquire("b")  # another key has its own bucket
    clock.now += 0.5
    bucket.acquire("a")
    with pytest.raises(TooManyRequestsError):
        bucket.acquire("a")
    clock.now += 60  # refills up to the burst, never beyond
    for _ in range(3):
        bucket.acquire("a")
    with pytest.raises(TooManyRequestsError):
        bucket.acquire("a")


def test_retry_after_is_the_time_until_the_next_token() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=5 / 60, burst=1, detail="Too many.", clock=clock)
    bucket.acquire("person")
    clock.now += 1.5
    with pytest.raises(TooManyRequestsError) as refused:
        bucket.acquire("person")
    assert refused.value.headers["Retry-After"] == "11"  # 12 s a token, 1.5 s of it passed


def test_refilled_buckets_are_forgotten_once_there_are_many() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2, detail="Too many.", clock=clock)
    for n in range(10_000):
        bucket.acquire(f"idle-{n}")
    clock.now += 2  # every one of them has refilled
    bucket.acquire("busy")
    bucket.acquire("busy")
    bucket.acquire("new")  # over the threshold: the refilled ones are dropped
    assert set(bucket._buckets) == {"busy", "new"}
    with pytest.raises(TooManyRequestsError):
        bucket.acquire("busy")  # an active bucket keeps its count
