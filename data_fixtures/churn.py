"""Synthetic e-learning subscribers for the churn model (``models/specs/churn.yaml``).

Each subscriber has two hidden traits: how engaged they are with their courses and how much
trouble their payments give them. Engagement shows in logins, recency, course progress and
completed courses; payment trouble in failed payments and support tickets. Whether they cancel
in the next 60 days then follows from those signals, the plan (lifetime members rarely leave,
monthly ones easily), auto-renewal, tenure (the first months are the riskiest) and reasons the
platform never sees, so that a good model reaches a ROC-AUC in the mid 0.8s and no more.

Age band and sex are drawn independently and never enter the outcome.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_fixtures._common import draw_protected, make_ids, sigmoid, stream

__all__ = ["PLANS", "generate_customers"]

FloatArray = npt.NDArray[np.float64]

_STREAM = 0xC4021

PLANS = ("monthly", "annual", "lifetime")
_MONTHLY, _ANNUAL, _LIFETIME = range(len(PLANS))
_PLAN_P = np.array([0.55, 0.35, 0.10])
_PLAN_PRICE = np.array([29.0, 19.0, 6.0])  # per month; lifetime amortised over five years
_DISCOUNTS = np.array([10.0, 15.0, 20.0, 25.0, 30.0, 50.0])
_MISSING_SPEND = 0.02


def generate_customers(n: int, *, seed: int = 7) -> pd.DataFrame:
    """Generate ``n`` subscribers with whether they cancelled within 60 days.

    Parameters
    ----------
    n : int
        Number of subscribers (rows).
    seed : int, default 7
        Seed of the random stream; the same ``n`` and ``seed`` always give the same frame.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, every feature of ``models/specs/churn.yaml`` (``monthly_spend`` is
        blank for new subscribers without a charge yet and for a few others), the target
        ``churned`` (0/1, about 20 % positive) and the protected attributes ``age_band`` and
        ``sex``, which are kept for fairness checks and are never model features.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    rng = stream(seed, _STREAM)
    _, bands, sexes = draw_protected(rng, n)

    plan = rng.choice(len(PLANS), size=n, p=_PLAN_P)
    lifetime = plan == _LIFETIME
    # Most subscribers are recent; lifetime members bought in long ago.
    tenure = np.floor(rng.gamma(1.1, np.where(lifetime, 30.0, 16.0))).astype(np.int64)
    tenure = np.minimum(tenure, 600)

    engagement = rng.normal(0.0, 1.0, n) + np.where(lifetime, 0.3, 0.0)
    trouble = rng.normal(0.0, 1.0, n)

    logins = rng.poisson(np.exp(1.7 + 0.75 * engagement))
    # Signing up is a login: nobody in their first month can have been away for 30 days.
    logins = np.where(tenure == 0, np.maximum(logins, 1), logins)
    # Whoever logged in this month did so within 30 days; the others drifted off some time ago.
    recent = np.floor(rng.exponential(30.0 / (logins + 1.0))).astype(np.int64)
    lapsed = 30 + np.floor(rng.exponential(45.0 * np.exp(-0.4 * engagement))).astype(np.int64)
    days_since_login = np.where(logins > 0, np.minimum(recent, 29), lapsed)
    # Nobody can have been away longer than they have been a subscriber.
    days_since_login = np.minimum(days_since_login, tenure * 30 + 29)

    progress = 100.0 * rng.beta(2.0 * np.exp(0.45 * engagement), 2.5)
    completed = rng.poisson((tenure + 1) * 0.12 * np.exp(0.5 * engagement))

    # Lifetime members pay once, so they cannot miss a recurring payment.
    failures = np.where(lifetime, 0, rng.poisson(0.12 * np.exp(0.9 * trouble)))
    tickets = rng.poisson(0.35 * np.exp(0.5 * trouble) + 0.5 * failures)

    has_discount = rng.random(n) < np.where(plan == _ANNUAL, 0.40, 0.20)
    discount = np.where(has_discount, rng.choice(_DISCOUNTS, size=n), 0.0)
    # Renewal is meaningless for a lifetime plan: it is recorded as off.
    auto_renew = ~lifetime & (rng.random(n) < np.where(plan == _MONTHLY, 0.75, 0.65))

    spend = _PLAN_PRICE[plan] * (1.0 - discount / 100.0) + rng.gamma(
        0.6, 8.0 * np.exp(0.3 * engagement)
    )
    spend = np.round(spend, 2)
    # A subscriber in their first month has not been charged yet; exports lose a few others.
    spend[(tenure == 0) | (rng.random(n) < _MISSING_SPEND)] = np.nan

    logit = (
        -0.55
        + np.array([0.7, -0.45, -2.8])[plan]
        - 0.6 * np.log1p(tenure)
        - 0.45 * np.log1p(logins)
        + 0.7 * np.log1p(days_since_login / 7.0)
        - 0.018 * (progress - 50.0)
        - 0.1 * np.minimum(completed, 10)
        + 0.75 * np.minimum(failures, 4)
        + 0.3 * np.minimum(tickets, 6)
        - 0.01 * discount
        + np.where(auto_renew | lifetime, 0.0, 1.2)
        # Moves, budgets, a new job: reasons the platform never sees.
        + rng.normal(0.0, 0.5, n)
    )
    churned = rng.random(n) < sigmoid(logit)

    return pd.DataFrame(
        {
            "customer_id": make_ids("S", n, 6),
            "tenure_months": tenure,
            "plan": np.asarray(PLANS)[plan],
            "logins_30d": logins.astype(np.int64),
            "days_since_last_login": days_since_login.astype(np.int64),
            "course_progress_pct": np.round(progress, 1),
            "courses_completed": completed.astype(np.int64),
            "payment_failures_90d": failures.astype(np.int64),
            "support_tickets_90d": tickets.astype(np.int64),
            "discount_pct": discount,
            "auto_renew": auto_renew,
            "monthly_spend": spend,
            "churned": churned.astype(np.int64),
            "age_band": bands,
            "sex": sexes,
        }
    )
