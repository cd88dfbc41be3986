"""Synthetic buyers of an e-learning and digital-products shop, for the three profiles.

The same customer base feeds the lifetime value (``models/specs/lifetime_value.yaml``), the
purchase propensity (``propensity.yaml``) and the segments (``segments.yaml``). Each buyer
belongs to one hidden archetype -- a committed learner, a bargain hunter, an occasional buyer,
a lapsed one -- that shapes their sessions, orders, spend, discounts and recency; what they
spend in the next twelve months and whether they buy in the next ninety days then follow from
those signals and from chance the shop never sees, so that a good model explains much of it
and not all.

Age band and sex are drawn independently and never enter anything else.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_fixtures._common import draw_protected, make_ids, sigmoid, stream

__all__ = ["ARCHETYPES", "generate_buyers"]

FloatArray = npt.NDArray[np.float64]

_STREAM = 0xB0E21

ARCHETYPES = ("committed", "bargain", "occasional", "lapsed")
_ARCHETYPE_P = np.array([0.25, 0.25, 0.30, 0.20])
# Per archetype: sessions in 30 days, orders in 12 months, order value (EUR), share of orders
# on discount, days since the last order (mean), courses enrolled.
_SESSIONS = np.array([14.0, 6.0, 2.5, 0.6])
_ORDERS = np.array([7.0, 6.0, 1.8, 0.8])
_ORDER_VALUE = np.array([62.0, 24.0, 40.0, 35.0])
_DISCOUNT = np.array([0.10, 0.70, 0.20, 0.25])
_RECENCY = np.array([12.0, 25.0, 70.0, 220.0])
_COURSES = np.array([6.0, 3.0, 1.5, 1.0])


def generate_buyers(n: int, *, seed: int = 7) -> pd.DataFrame:
    """Generate ``n`` buyers with their next year's spend and whether they buy within 90 days.

    Parameters
    ----------
    n : int
        Number of buyers (rows).
    seed : int, default 7
        Seed of the random stream; the same ``n`` and ``seed`` always give the same frame.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``; the behaviour features ``tenure_months``, ``sessions_30d``,
        ``orders_12m``, ``spend_12m`` (EUR), ``avg_order_value`` (EUR, blank without an
        order), ``days_since_last_order``, ``discount_share_pct``, ``courses_enrolled``,
        ``refunds_12m`` and ``newsletter_opt_in``; the targets ``future_value_12m`` (EUR spent
        in the next twelve months) and ``purchased_90d`` (0/1); the protected attributes
        ``age_band`` and ``sex``, kept for fairness checks and never features.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    rng = stream(seed, _STREAM)
    _, bands, sexes = draw_protected(rng, n)
    kind = rng.choice(len(ARCHETYPES), size=n, p=_ARCHETYPE_P)
    # A buyer's own appetite, on top of their archetype's.
    appetite = rng.normal(0.0, 0.35, n)

    tenure = np.minimum(np.floor(rng.gamma(1.6, 14.0, n)).astype(np.int64), 240)
    sessions = rng.poisson(_SESSIONS[kind] * np.exp(appetite))
    orders = rng.poisson(_ORDERS[kind] * np.exp(appetite))
    value = _ORDER_VALUE[kind] * np.exp(rng.normal(0.0, 0.25, n))
    spend = np.round(orders * value, 2)
    avg_order = np.where(orders > 0, np.round(spend / np.maximum(orders, 1), 2), np.nan)
    recency = np.floor(rng.exponential(_RECENCY[kind])).astype(np.int64)
    # Whoever ordered often this year ordered recently; nobody's last order predates them.
    recency = np.minimum(recency, np.where(orders > 2, 120, 365))
    recency = np.minimum(recency, tenure * 30 + 29)
    share = rng.beta(8.0 * _DISCOUNT[kind] + 0.5, 8.0 * (1 - _DISCOUNT[kind]) + 0.5)
    discount = np.round(100.0 * share, 1)
    discount = np.where(orders > 0, discount, 0.0)
    courses = rng.poisson(_COURSES[kind] * np.exp(0.5 * appetite))
    refunds = rng.binomial(orders, 0.04)
    newsletter = rng.random(n) < np.where(kind == 1, 0.8, 0.45)

    engaged = np.log1p(sessions) + 0.6 * np.log1p(orders) - 0.5 * np.log1p(recency / 30.0)
    future = (
        spend * np.exp(-recency / 240.0) * (0.55 + 0.1 * np.log1p(tenure))
        + 18.0 * np.log1p(sessions) * (1.0 - discount / 200.0)
        + 6.0 * courses
        - 15.0 * refunds
    ) * np.exp(rng.normal(0.0, 0.3, n))
    future = np.round(np.maximum(future, 0.0), 2)
    logit = (
        -2.1
        + 0.9 * engaged
        + 0.5 * newsletter
        + 0.008 * discount
        - 0.4 * refunds
        + rng.normal(0.0, 0.4, n)
    )
    purchased = rng.random(n) < sigmoid(logit)

    return pd.DataFrame(
        {
            "customer_id": make_ids("B", n, 6),
            "tenure_months": tenure,
            "sessions_30d": sessions.astype(np.int64),
            "orders_12m": orders.astype(np.int64),
            "spend_12m": spend,
            "avg_order_value": avg_order,
            "days_since_last_order": recency,
            "discount_share_pct": discount,
            "courses_enrolled": courses.astype(np.int64),
            "refunds_12m": refunds.astype(np.int64),
            "newsletter_opt_in": newsletter,
            "future_value_12m": future,
            "purchased_90d": purchased.astype(np.int64),
            "age_band": bands,
            "sex": sexes,
        }
    )
