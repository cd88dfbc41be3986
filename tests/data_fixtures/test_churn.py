"""Subscribers: deterministic, shaped like the churn spec, with a sane churn rate."""

from __future__ import annotations

import pandas as pd
import pytest

from data_fixtures import generate_customers
from models.spec import ModelSpec, default_spec_path, load_spec
from tests.data_fixtures.spec_checks import assert_matches_spec


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(default_spec_path("churn"))


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return generate_customers(20_000, seed=7)


def test_same_seed_gives_the_same_frame() -> None:
    pd.testing.assert_frame_equal(generate_customers(500), generate_customers(500, seed=7))


def test_another_seed_gives_another_frame() -> None:
    assert not generate_customers(500, seed=7).equals(generate_customers(500, seed=8))


def test_matches_the_spec(spec: ModelSpec, customers: pd.DataFrame) -> None:
    assert_matches_spec(customers, spec)
    assert list(customers.columns) == [
        *spec.id_columns,
        *spec.feature_names,
        "churned",
        *spec.protected_attributes,
    ]
    assert customers["customer_id"].is_unique


def test_churn_rate_is_sane(customers: pd.DataFrame) -> None:
    assert 0.15 <= customers["churned"].mean() <= 0.25


def test_only_monthly_spend_has_a_few_blanks(customers: pd.DataFrame) -> None:
    blanks = customers.isna().mean()
    assert 0.01 <= blanks["monthly_spend"] <= 0.10
    assert blanks.drop("monthly_spend").eq(0).all()


def test_activity_is_consistent(customers: pd.DataFrame) -> None:
    logged_in = customers["logins_30d"] > 0
    assert (customers.loc[logged_in, "days_since_last_login"] < 30).all()
    assert (customers.loc[~logged_in, "days_since_last_login"] >= 30).all()
    lifetime = customers["plan"] == "lifetime"
    assert customers.loc[lifetime, "payment_failures_90d"].eq(0).all()


def test_drivers_move_the_churn_rate(customers: pd.DataFrame) -> None:
    churned = customers["churned"]
    by_plan = customers.groupby("plan")["churned"].mean()
    assert by_plan["lifetime"] < by_plan["annual"] < by_plan["monthly"]
    assert churned[customers["payment_failures_90d"] > 0].mean() > churned.mean()
    assert churned[customers["days_since_last_login"] >= 30].mean() > churned.mean()
    assert churned[customers["tenure_months"] < 3].mean() > churned.mean()
    assert churned[customers["logins_30d"] >= 10].mean() < churned.mean()
