"""Synthetic card transactions for the fraud model (columns of ``models/specs/fraud.yaml``).

The story behind the numbers: customers have a usual spend, a taste for shopping online, a
phone they have used for a while and the odd trip abroad. Most transactions follow those
habits. Fraud comes from three kinds of attack:

* **account takeover** - card not present, a device seen for the first time, often at night,
  in quick bursts, on goods that are easy to resell (electronics, digital goods, gambling,
  travel), for much more than the customer usually spends;
* **cloned card** - the card is present, but abroad or far from home, for large amounts;
* **stealth** - fraud that copies the customer's habits and cannot be told from them.

A transaction is first chosen to be fraud or not, then its features are drawn from the
matching behaviour. Because an attack sets several signals *together*, the combination
(card not present, new device, night) is far more telling than any one of them: the data has
interactions a tree ensemble can find and a linear model cannot. Legitimate customers
sometimes look odd (a holiday, a new phone, a big purchase, a midnight order) and some labels
are wrong (chargebacks filed as fraud, fraud never reported), so no model is perfect.

Age band and sex never enter the fraud decision. They correlate mildly with it only through
account age and shopping habits, as they would in real data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_fixtures._common import (
    AS_OF_EPOCH,
    SECONDS_PER_DAY,
    draw_protected,
    iso_utc,
    make_ids,
    stream,
)

__all__ = ["MERCHANT_CATEGORIES", "RISKY_CATEGORIES", "generate_transactions"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_STREAM = 0xF4A0D

MERCHANT_CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "fashion",
    "electronics",
    "travel",
    "digital_goods",
    "gambling",
    "services",
)
RISKY_CATEGORIES = ("electronics", "digital_goods", "gambling", "travel")

_GROCERY, _RESTAURANTS, _FUEL, _FASHION, _ELECTRONICS, _TRAVEL, _DIGITAL, _GAMBLING, _SERVICES = (
    range(len(MERCHANT_CATEGORIES))
)
# How often a legitimate customer shops in each category, and how far above their usual spend.
_LEGIT_CATEGORY_P = np.array([0.25, 0.16, 0.10, 0.10, 0.05, 0.04, 0.08, 0.02, 0.20])
_CATEGORY_SPEND = np.array([1.0, 0.8, 1.1, 1.6, 3.0, 4.5, 0.4, 1.0, 1.3])
# Share of card-not-present payments per category for a customer of average online habits.
_CATEGORY_ONLINE = np.array([0.10, 0.15, 0.03, 0.35, 0.45, 0.80, 0.98, 0.85, 0.40])
# Takeovers go for goods that are easy to resell; cloned cards for what a shop hands over.
_TAKEOVER_CATEGORY_P = np.array([0.0, 0.0, 0.0, 0.05, 0.35, 0.10, 0.35, 0.15, 0.0])
_CLONED_CATEGORY_P = np.array([0.08, 0.04, 0.18, 0.18, 0.32, 0.10, 0.0, 0.10, 0.0])
# Fraud skews towards these even when it imitates normal shopping.
_STEALTH_CATEGORY_P = np.array([0.18, 0.10, 0.08, 0.12, 0.12, 0.08, 0.14, 0.06, 0.12])

# Relative frequency of legitimate payments per hour (UTC): quiet nights, busy evenings.
_LEGIT_HOUR_W = np.array(
    [
        *(2.0, 1.2, 0.8, 0.6, 0.6, 1.0, 2.0, 3.5, 5.0, 6.0, 6.5, 7.0),  # 00:00-11:59
        *(8.0, 7.5, 7.0, 7.0, 7.5, 8.0, 8.5, 8.0, 7.0, 6.0, 4.5, 3.0),  # 12:00-23:59
    ]
)
_NIGHT_HOURS = np.arange(0, 6)

_FRAUD_RATE = 0.02
# Attack mix among fraudulent transactions: takeover, cloned card, stealth.
_ATTACK_P = np.array([0.52, 0.29, 0.19])
_TAKEOVER, _CLONED, _STEALTH = 0, 1, 2
# Label noise: chargebacks recorded as fraud on ordinary payments, and fraud nobody reported.
_FALSE_FRAUD_RATE = 0.0015
_UNREPORTED_FRAUD_RATE = 0.05
_MISSING_DISTANCE_CP = 0.015
_MISSING_DISTANCE_CNP = 0.05
_WINDOW_DAYS = 365
_MAX_DISTANCE_KM = 20_040.0


def generate_transactions(n: int, *, seed: int = 7) -> pd.DataFrame:
    """Generate ``n`` labelled card transactions.

    Parameters
    ----------
    n : int
        Number of transactions (rows).
    seed : int, default 7
        Seed of the random stream; the same ``n`` and ``seed`` always give the same frame.

    Returns
    -------
    pandas.DataFrame
        One row per transaction, in time order: ``transaction_id``, ``customer_id``,
        ``timestamp`` (ISO-8601, UTC), every feature of ``models/specs/fraud.yaml``, the target
        ``is_fraud`` (0/1, about 2 % positive) and the protected attributes ``age_band`` and
        ``sex``, which are kept for fairness checks and are never model features.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    rng = stream(seed, _STREAM)
    n_customers = max(1, round(n / 25))

    # Customers: who they are and their habits.
    band_idx, bands, sexes = draw_protected(rng, n_customers)
    # Older people have held their accounts longer; a tenth of the accounts are brand new.
    account_years = rng.gamma(1.5, np.array([1.5, 3.0, 5.0, 7.0, 8.0])[band_idx] / 1.5)
    new_account = rng.random(n_customers) < 0.10
    account_days = np.where(
        new_account, rng.uniform(0, 120, n_customers), account_years * 365 + 120
    )
    created_at = AS_OF_EPOCH - (account_days * SECONDS_PER_DAY).astype(np.int64)
    usual_spend = np.exp(
        np.log(35.0)
        + np.array([-0.25, 0.0, 0.15, 0.15, -0.05])[band_idx]
        + rng.normal(0.0, 0.55, n_customers)
    )
    # Younger customers shop online more: card_present correlates with age band, not fraud.
    online_taste = rng.normal(np.array([0.6, 0.4, 0.1, -0.2, -0.5])[band_idx], 0.6)
    travel_taste = rng.beta(1.0, 25.0, n_customers)
    known_device_days = rng.gamma(2.0, 250.0, n_customers)
    activity = rng.gamma(1.5, 1.0, n_customers)

    # Transactions: whose, when, and whether fraudulent.
    cust = rng.choice(n_customers, size=n, p=activity / activity.sum())
    window_start = AS_OF_EPOCH - _WINDOW_DAYS * SECONDS_PER_DAY
    earliest = np.maximum(window_start, created_at[cust])
    day_start = earliest + (rng.random(n) * (AS_OF_EPOCH - earliest)).astype(np.int64)
    account_age = (day_start - created_at[cust]) // SECONDS_PER_DAY
    # Fresh accounts are where takeovers and synthetic identities concentrate.
    risk = 1.0 + 2.5 * np.exp(-account_age / 60.0)
    # Scaled so that the overall rate stays at _FRAUD_RATE whatever the account-age mix.
    scale = _FRAUD_RATE / float(risk.mean()) if n else 0.0
    fraud = rng.random(n) < np.minimum(scale * risk, 1.0)
    attack = np.where(fraud, rng.choice(3, size=n, p=_ATTACK_P), -1)
    takeover, cloned = attack == _TAKEOVER, attack == _CLONED

    category = _draw_categories(rng, attack)
    online = _draw_card_not_present(rng, category, online_taste[cust], takeover, cloned)
    hour = _draw_hours(rng, takeover, cloned)
    amount = _draw_amounts(rng, usual_spend[cust], category, takeover, cloned)
    device_age = _draw_device_age(rng, known_device_days[cust], account_age, takeover)
    velocity = _draw_velocity(rng, takeover, cloned)
    mismatch = _draw_country_mismatch(rng, travel_taste[cust], category, online, attack)
    distance = _draw_distance(rng, mismatch, online, takeover, cloned)

    # Payments keep their calendar day but move to the drawn hour, so hour matches timestamp.
    midnight = day_start - day_start % SECONDS_PER_DAY
    epoch = midnight + hour * 3600 + rng.integers(0, 3600, n)
    epoch = np.clip(epoch, earliest, AS_OF_EPOCH - 1)
    hour = (epoch % SECONDS_PER_DAY) // 3600
    account_age = (epoch - created_at[cust]) // SECONDS_PER_DAY
    device_age = np.minimum(device_age, account_age)

    is_fraud = np.where(
        fraud,
        rng.random(n) >= _UNREPORTED_FRAUD_RATE,
        rng.random(n) < _FALSE_FRAUD_RATE,
    )

    amount = np.clip(np.round(amount, 2), 0.01, 100_000.0)
    order = np.lexsort((cust, epoch))
    return pd.DataFrame(
        {
            "transaction_id": make_ids("T", n, 8),
            "customer_id": make_ids("C", n_customers, 6)[cust][order],
            "timestamp": iso_utc(epoch[order]),
            "amount": amount[order],
            "amount_ratio": np.round(amount / usual_spend[cust], 4)[order],
            "merchant_category": np.asarray(MERCHANT_CATEGORIES)[category][order],
            "country_mismatch": mismatch[order],
            "hour": hour[order].astype(np.int64),
            "device_age_days": device_age[order].astype(np.int64),
            "txn_count_1h": velocity[order].astype(np.int64),
            "account_age_days": account_age[order].astype(np.int64),
            "card_present": ~online[order],
            "distance_from_home_km": distance[order],
            "is_fraud": is_fraud[order].astype(np.int64),
            "age_band": bands[cust][order],
            "sex": sexes[cust][order],
        }
    )


def _draw_categories(rng: np.random.Generator, attack: IntArray) -> IntArray:
    n = len(attack)
    category = rng.choice(len(MERCHANT_CATEGORIES), size=n, p=_LEGIT_CATEGORY_P)
    for kind, probs in (
        (_TAKEOVER, _TAKEOVER_CATEGORY_P),
        (_CLONED, _CLONED_CATEGORY_P),
        (_STEALTH, _STEALTH_CATEGORY_P),
    ):
        rows = np.flatnonzero(attack == kind)
        category[rows] = rng.choice(len(MERCHANT_CATEGORIES), size=rows.size, p=probs)
    return category.astype(np.int64)


def _draw_card_not_present(
    rng: np.random.Generator,
    category: IntArray,
    online_taste: FloatArray,
    takeover: BoolArray,
    cloned: BoolArray,
) -> BoolArray:
    base = _CATEGORY_ONLINE[category]
    logit = np.log(base / (1.0 - base)) + online_taste
    online = rng.random(len(category)) < 1.0 / (1.0 + np.exp(-logit))
    online[takeover] = True
    # A cloned card is a physical copy; the few online ones used the stolen number.
    online[cloned] = rng.random(int(cloned.sum())) < 0.12
    return online


def _draw_hours(rng: np.random.Generator, takeover: BoolArray, cloned: BoolArray) -> IntArray:
    n = len(takeover)
    hour = rng.choice(24, size=n, p=_LEGIT_HOUR_W / _LEGIT_HOUR_W.sum())
    # Takeovers run while the owner sleeps and cannot react to an alert.
    night = takeover & (rng.random(n) < 0.55)
    hour[night] = rng.choice(_NIGHT_HOURS, size=int(night.sum()))
    late = cloned & (rng.random(n) < 0.3)
    hour[late] = rng.choice([21, 22, 23, 0, 1], size=int(late.sum()))
    return hour.astype(np.int64)


def _draw_amounts(
    rng: np.random.Generator,
    usual: FloatArray,
    category: IntArray,
    takeover: BoolArray,
    cloned: BoolArray,
) -> FloatArray:
    n = len(category)
    amount = usual * _CATEGORY_SPEND[category] * rng.lognormal(0.0, 0.55, n)
    # The occasional big legitimate purchase: a laptop, a holiday.
    splurge = rng.random(n) < 0.02
    amount[splurge] *= rng.uniform(3.0, 10.0, int(splurge.sum()))
    # Fraudsters cash out: several times what the customer usually spends, never less.
    boost = np.where(takeover, rng.lognormal(1.0, 0.7, n), 1.0)
    boost = np.where(cloned, rng.lognormal(0.8, 0.7, n), boost)
    result: FloatArray = amount * np.maximum(boost, 1.0)
    return result


def _draw_device_age(
    rng: np.random.Generator,
    known_device_days: FloatArray,
    account_age: IntArray,
    takeover: BoolArray,
) -> IntArray:
    n = len(takeover)
    days = known_device_days * rng.uniform(0.6, 1.0, n)
    # Legitimate customers change phones too.
    new_phone = rng.random(n) < 0.05
    days[new_phone] = rng.uniform(0, 14, int(new_phone.sum()))
    fresh = takeover & (rng.random(n) < 0.8)
    days[fresh] = rng.uniform(0, 3, int(fresh.sum()))
    return np.minimum(np.floor(days).astype(np.int64), np.minimum(account_age, 7300))


def _draw_velocity(rng: np.random.Generator, takeover: BoolArray, cloned: BoolArray) -> IntArray:
    n = len(takeover)
    rate = np.where(rng.random(n) < 0.03, 3.0, 0.3)  # shopping sprees happen
    rate = np.where(takeover, np.where(rng.random(n) < 0.6, 4.0, 0.6), rate)
    rate = np.where(cloned, 1.5, rate)
    return np.minimum(rng.poisson(rate), 500).astype(np.int64)


def _draw_country_mismatch(
    rng: np.random.Generator,
    travel_taste: FloatArray,
    category: IntArray,
    online: BoolArray,
    attack: IntArray,
) -> BoolArray:
    n = len(category)
    # Travellers abroad, and online shops based in another country.
    p = travel_taste * np.where(category == _TRAVEL, 4.0, 1.0) + np.where(online, 0.06, 0.0)
    p = np.where(attack == _TAKEOVER, 0.45, p)
    p = np.where(attack == _CLONED, 0.75, p)
    return rng.random(n) < np.minimum(p, 1.0)


def _draw_distance(
    rng: np.random.Generator,
    mismatch: BoolArray,
    online: BoolArray,
    takeover: BoolArray,
    cloned: BoolArray,
) -> FloatArray:
    n = len(mismatch)
    # Card present: where the shop is; card not present: where the buyer's IP address points.
    local = rng.lognormal(np.log(np.where(online, 10.0, 8.0)), np.where(online, 1.2, 1.0))
    trip = rng.random(n) < 0.05
    local[trip] = rng.lognormal(np.log(300.0), 0.6, int(trip.sum()))
    abroad = rng.lognormal(np.log(1500.0), 0.8, n)
    km = np.where(mismatch, abroad, local)
    km = np.where(takeover & ~mismatch, rng.lognormal(np.log(200.0), 1.2, n), km)
    km = np.where(takeover & mismatch, rng.lognormal(np.log(3000.0), 0.8, n), km)
    km = np.where(cloned & ~mismatch, rng.lognormal(np.log(150.0), 1.0, n), km)
    km = np.round(np.clip(km, 0.0, _MAX_DISTANCE_KM), 1)
    # Geolocation fails now and then, more often for online payments behind proxies.
    missing = rng.random(n) < np.where(online, _MISSING_DISTANCE_CNP, _MISSING_DISTANCE_CP)
    km[missing] = np.nan
    return km
