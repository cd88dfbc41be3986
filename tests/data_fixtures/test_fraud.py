"""Card transactions: deterministic, shaped like the fraud spec, with a realistic fraud rate."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from data_fixtures import generate_transactions
from data_fixtures._common import AGE_BANDS, SEXES
from data_fixtures.fraud import RISKY_CATEGORIES
from models.spec import ModelSpec, default_spec_path, load_spec
from tests.data_fixtures.spec_checks import assert_matches_spec


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(default_spec_path("fraud"))


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return generate_transactions(20_000, seed=7)


def test_same_seed_gives_the_same_frame() -> None:
    pd.testing.assert_frame_equal(generate_transactions(500), generate_transactions(500, seed=7))


def test_another_seed_gives_another_frame() -> None:
    first, second = generate_transactions(500, seed=7), generate_transactions(500, seed=8)
    assert not first.equals(second)


def test_matches_the_spec(spec: ModelSpec, transactions: pd.DataFrame) -> None:
    assert_matches_spec(transactions, spec)
    assert list(transactions.columns) == [
        *spec.id_columns,
        *spec.feature_names,
        "is_fraud",
        *spec.protected_attributes,
    ]


def test_fraud_rate_is_realistic(transactions: pd.DataFrame) -> None:
    assert 0.01 <= transactions["is_fraud"].mean() <= 0.03


def test_only_distance_has_a_few_blanks(transactions: pd.DataFrame) -> None:
    blanks = transactions.isna().mean()
    assert 0.01 <= blanks["distance_from_home_km"] <= 0.06
    assert blanks.drop("distance_from_home_km").eq(0).all()


def test_ids_and_timestamps(transactions: pd.DataFrame) -> None:
    assert transactions["transaction_id"].is_unique
    stamps = pd.to_datetime(transactions["timestamp"], utc=True, format="ISO8601")
    assert transactions["timestamp"].str.endswith("Z").all()
    assert stamps.is_monotonic_increasing
    np.testing.assert_array_equal(stamps.dt.hour.to_numpy(), transactions["hour"].to_numpy())
    # One customer keeps the same protected attributes on every transaction.
    per_customer = transactions.groupby("customer_id")[["age_band", "sex"]].nunique()
    assert per_customer.eq(1).all().all()


def test_protected_attributes_take_their_values(transactions: pd.DataFrame) -> None:
    assert set(transactions["age_band"]) == set(AGE_BANDS)
    assert set(transactions["sex"]) == set(SEXES)


def test_drivers_raise_the_fraud_rate(transactions: pd.DataFrame) -> None:
    fraud = transactions["is_fraud"]
    base = fraud.mean()
    online = ~transactions["card_present"]
    new_device = transactions["device_age_days"] < 7
    night = transactions["hour"] < 6
    for driver in (
        transactions["merchant_category"].isin(RISKY_CATEGORIES),
        transactions["country_mismatch"],
        transactions["txn_count_1h"] >= 3,
        transactions["amount_ratio"] >= 5,
        new_device,
        night,
    ):
        assert fraud[driver].mean() > 2 * base
    # The interaction: all three together are far worse than any one of them alone.
    together = fraud[online & new_device & night].mean()
    assert together > 3 * max(fraud[online].mean(), fraud[new_device].mean(), fraud[night].mean())


def test_protected_attributes_do_not_drive_the_label(transactions: pd.DataFrame) -> None:
    by_sex = transactions.groupby("sex")["is_fraud"].mean()
    assert by_sex.max() - by_sex.min() < 0.01


def test_large_volumes_are_fast() -> None:
    started = time.perf_counter()
    frame = generate_transactions(200_000, seed=1)
    assert len(frame) == 200_000
    assert time.perf_counter() - started < 30


def test_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_transactions(-1)
