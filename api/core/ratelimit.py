"""Rate limits: token buckets per API key and per person, answered with 429 and ``Retry-After``.

Three limits (:class:`RateLimits`), each with its rate and burst in the settings:

* ``decisions`` -- per API key id, on ``POST /v1/decisions/{model}`` (the route and its fast
  lane take from the same bucket). The default is far above what one worker serves, so only a
  runaway client is stopped;
* ``subjects`` -- per person (the pseudonym a subject token is bound to, not the token: each
  notice carries a token of its own, so one person may hold many), on every ``/v1/me`` route;
* ``subject_rights`` -- per person as well, on top, for the rights requests, each registered
  and logged: export, objection, restriction, erasure. A few a minute. (Contests take from
  ``subjects`` only: a person may resend a refused contest form several times in a minute.)

A request over its limit gets a :class:`~api.core.errors.TooManyRequestsError` (429
problem+json, ``Retry-After`` in whole seconds), before anything it asked for is done.

The buckets live in the worker process, with no database round-trip per request: with
``--workers N`` each worker keeps its own, so a client spread over the workers gets up to N
times the configured rate. A bucket costs about 0.3 µs per request; buckets that have filled
up again are dropped once there are many, so memory follows the active callers.

Why not a library: ``limits`` (the engine of ``slowapi``) keeps moving windows in a storage
backend and costs several microseconds per hit through its storage abstraction; the decision
hot path has about that much to spare in all. A token bucket is twenty lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, FastAPI, Request

from api.core.errors import TooManyRequestsError
from api.core.settings import Settings

__all__ = [
    "RateLimits",
    "RateLimitsDep",
    "TokenBucket",
    "get_rate_limits",
    "install_rate_limits",
]

# Buckets kept before the full ones are dropped (and again at each doubling after).
_MAX_IDLE_KEYS: Final = 10_000


class TokenBucket:
    """One rate limit: a bucket of ``burst`` tokens per key, refilled at ``rate`` per second.

    Parameters
    ----------
    rate : float
        Tokens added per second.
    burst : int
        The bucket's size: how many requests may come at once after a quiet spell.
    detail : str
        The 429's ``detail``: which limit was hit (never whose).
    clock : callable
        Seconds, monotonic (``time.monotonic``; tests pass their own).
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        detail: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.detail = detail
        self._clock = clock
        # key -> [tokens left, when they were counted]; a list, updated in place.
        self._buckets: dict[str, list[float]] = {}
        self._prune_at = _MAX_IDLE_KEYS

    def acquire(self, key: str) -> None:
        """Take one token from ``key``'s bucket, or refuse.

        Called on the event loop only (never from the thread pool), so no lock is needed.

        Parameters
        ----------
        key : str
            Whose bucket (an API key id, a pseudonym).

        Raises
        ------
        TooManyRequestsError
            The bucket is empty; ``Retry-After`` is the time until it holds a token again.
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return
        bucket[0] = tokens
        raise TooManyRequestsError(self.detail, retry_after=(1.0 - tokens) / self.rate)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those. What is left are
        # callers active within the last burst/rate seconds, all authenticated.
        rate, burst = self.rate, self.burst
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket[0] + (now - bucket[1]) * rate < burst
        }
        self._prune_at = max(_MAX_IDLE_KEYS, 2 * len(self._buckets))


_SECONDS: Final = {"second": 1, "minute": 60}


def _bucket(
    too_many: str, count: float, per: str, burst: int, clock: Callable[[], float]
) -> TokenBucket:
    """A bucket of ``count`` requests per ``per`` (second or minute), ``burst`` at once."""
    return TokenBucket(
        rate=count / _SECONDS[per],
        burst=burst,
        detail=f"{too_many} (the limit is {count:g} per {per}, {burst} at once).",
        clock=clock,
    )


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The service's rate limits (see the module docstring).

    Attributes
    ----------
    decisions : TokenBucket
        Per API key id, on ``POST /v1/decisions/{model}``.
    subjects : TokenBucket
        Per pseudonym, on every ``/v1/me`` route.
    subject_rights : TokenBucket
        Per pseudonym, on the routes that register a rights request.
    """

    decisions: TokenBucket
    subjects: TokenBucket
    subject_rights: TokenBucket

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimits:
        """Build the limits the settings configure.

        Parameters
        ----------
        settings : Settings
            ``decision_rate_*``, ``subject_rate_*`` and ``subject_rights_rate_*``.
        clock : callable
            Seconds, monotonic.

        Returns
        -------
        RateLimits
            Empty buckets.
        """
        s = settings
        return cls(
            decisions=_bucket(
                "Too many decision requests with this API key",
                s.decision_rate_per_second,
                "second",
                s.decision_rate_burst,
                clock,
            ),
            subjects=_bucket(
                "Too many requests for this person",
                s.subject_rate_per_minute,
                "minute",
                s.subject_rate_burst,
                clock,
            ),
            subject_rights=_bucket(
                "Too many rights requests for this person",
                s.subject_rights_rate_per_minute,
                "minute",
                s.subject_rights_rate_burst,
                clock,
            ),
        )


def install_rate_limits(app: FastAPI, settings: Settings) -> RateLimits:
    """Give an app its rate limits (``app.state.rate_limits``, and :data:`RateLimitsDep`).

    Parameters
    ----------
    app : FastAPI
        The application.
    settings : Settings
        Where the rates come from.

    Returns
    -------
    RateLimits
        The app's limits.
    """
    limits = RateLimits.from_settings(settings)
    app.state.rate_limits = limits
    return limits


async def get_rate_limits(request: Request) -> RateLimits:
    """The running app's rate limits (a dependency; async: no thread hop for an attribute)."""
    limits: RateLimits = request.app.state.rate_limits
    return limits


RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
