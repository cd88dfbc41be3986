"""Synthetic applicants for an instalment facility on a course or product (``credit.yaml``).

Each applicant asks to pay a course, a laptop or a certification in monthly instalments. Whether
they later default (three instalments unpaid) follows the way lenders reason about it: how much
of the monthly income the existing obligations and the new instalment would take, past arrears,
how long the payment history is, employment and address stability, housing, the purpose, and
chance events nobody sees (an illness, a lost job), so that a good model reaches a ROC-AUC near
0.8 and no more.

Age band, sex and nationality group are drawn independently and never enter the outcome: they
are kept to monitor the model's fairness and are never its inputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_fixtures._common import draw_protected, make_ids, sigmoid, stream

__all__ = ["HOUSING", "NATIONALITY_GROUPS", "PURPOSES", "generate_applicants"]

FloatArray = npt.NDArray[np.float64]

_STREAM = 0xC4ED17

PURPOSES = ("course", "certification", "laptop", "equipment", "other")
_PURPOSE_P = np.array([0.40, 0.15, 0.25, 0.12, 0.08])
_PURPOSE_PRICE = np.array([1800.0, 900.0, 1300.0, 2200.0, 1000.0])
# Training for a job tends to pay itself back; "other" purposes default a little more often.
_PURPOSE_RISK = np.array([-0.15, -0.25, 0.0, 0.1, 0.35])
HOUSING = ("own", "mortgage", "rent", "family")
_HOUSING_P = np.array([0.18, 0.27, 0.40, 0.15])
_HOUSING_RISK = np.array([-0.3, -0.15, 0.15, 0.05])
NATIONALITY_GROUPS = ("national", "eu", "non_eu")
_NATIONALITY_P = np.array([0.78, 0.12, 0.10])
_TERMS = np.array([6, 12, 18, 24, 36])
_TERM_P = np.array([0.15, 0.35, 0.2, 0.2, 0.1])
_MONTHLY_RATE = 0.009  # about 11 % a year


def generate_applicants(n: int, *, seed: int = 7) -> pd.DataFrame:
    """Generate ``n`` applicants for an instalment facility with whether they defaulted.

    Parameters
    ----------
    n : int
        Number of applicants (rows).
    seed : int, default 7
        Seed of the random stream; the same ``n`` and ``seed`` always give the same frame.

    Returns
    -------
    pandas.DataFrame
        ``applicant_id``, every feature of ``models/specs/credit.yaml``, the target
        ``defaulted`` (0/1, about 15 % positive) and the protected attributes ``age_band``,
        ``sex`` and ``nationality_group``, kept for fairness monitoring and never model inputs.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    rng = stream(seed, _STREAM)
    _, bands, sexes = draw_protected(rng, n)
    nationality = np.asarray(NATIONALITY_GROUPS)[
        rng.choice(len(NATIONALITY_GROUPS), size=n, p=_NATIONALITY_P)
    ]

    # A hidden financial steadiness shows in income, history, employment and arrears alike.
    steady = rng.normal(0.0, 1.0, n)
    income = np.round(np.exp(rng.normal(7.45 + 0.2 * steady, 0.4)), -1)
    income = np.clip(income, 400.0, 20000.0)
    obligations = np.round(income * rng.beta(1.6, 6.0, n) * np.exp(-0.15 * steady), 0)
    history = np.floor(rng.gamma(2.0, 30.0 * np.exp(0.2 * steady))).astype(np.int64)
    history = np.minimum(history, 480)
    arrears = rng.poisson(0.35 * np.exp(-0.8 * steady) + 0.002 * history)
    employment = np.round(rng.gamma(1.5, 2.5 * np.exp(0.25 * steady)), 1)
    employment = np.minimum(employment, 45.0)
    address = np.round(rng.gamma(1.4, 3.0, n), 1)
    address = np.minimum(address, 60.0)

    purpose = rng.choice(len(PURPOSES), size=n, p=_PURPOSE_P)
    housing = rng.choice(len(HOUSING), size=n, p=_HOUSING_P)
    amount = np.round(_PURPOSE_PRICE[purpose] * np.exp(rng.normal(0.0, 0.45, n)), -1)
    amount = np.clip(amount, 100.0, 15000.0)
    term = rng.choice(_TERMS, size=n, p=_TERM_P)
    instalment = amount * _MONTHLY_RATE / (1.0 - (1.0 + _MONTHLY_RATE) ** -term)
    burden = (obligations + instalment) / income

    logit = (
        -1.75
        + 5.5 * (burden - 0.3)
        + 0.8 * np.minimum(arrears, 5)
        - 0.45 * np.log1p(history / 12.0)
        - 0.07 * np.minimum(employment, 10.0)
        - 0.04 * np.minimum(address, 10.0)
        + _HOUSING_RISK[housing]
        + _PURPOSE_RISK[purpose]
        # Illness, a lost job, a separation: what no application form shows.
        + rng.normal(0.0, 0.4, n)
    )
    defaulted = rng.random(n) < sigmoid(logit)

    return pd.DataFrame(
        {
            "applicant_id": make_ids("A", n, 6),
            "monthly_income": income,
            "monthly_obligations": obligations,
            "requested_amount": amount,
            "term_months": term.astype(np.int64),
            "payment_history_months": history,
            "past_arrears": arrears.astype(np.int64),
            "employment_years": employment,
            "years_at_address": address,
            "purpose": np.asarray(PURPOSES)[purpose],
            "housing": np.asarray(HOUSING)[housing],
            "defaulted": defaulted.astype(np.int64),
            "age_band": bands,
            "sex": sexes,
            "nationality_group": nationality,
        }
    )
