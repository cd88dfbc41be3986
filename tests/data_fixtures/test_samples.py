"""The committed samples are what the generators produce today, and the presets are sane."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_fixtures import DATASETS, SAMPLES_DIR, SIZES, Sizes, write_samples


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_samples(tmp_path_factory.mktemp("samples"))


def test_writes_every_dataset(fresh: dict[str, Path]) -> None:
    assert set(fresh) == set(DATASETS)
    for name, path in fresh.items():
        assert path.name == DATASETS[name]
        assert path.is_file()


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_committed_sample_is_up_to_date(name: str, fresh: dict[str, Path]) -> None:
    committed = SAMPLES_DIR / DATASETS[name]
    assert committed.is_file(), "run `python -m data_fixtures` to write the samples"
    # Compared as tables, not bytes: a last-digit difference in a float on another platform's
    # maths library must not fail the suite, a changed generator must.
    pd.testing.assert_frame_equal(pd.read_csv(committed), pd.read_csv(fresh[name]))
    assert committed.stat().st_size < 1_000_000


def test_sample_sizes_follow_the_small_preset(fresh: dict[str, Path]) -> None:
    small = SIZES["small"]
    assert len(pd.read_csv(fresh["transactions"])) == small.transactions
    assert len(pd.read_csv(fresh["customers"])) == small.customers
    assert len(pd.read_csv(fresh["items"])) == small.items
    assert len(pd.read_csv(fresh["learners"])) == small.learners


def test_presets_grow() -> None:
    small, demo, full = Sizes.named("small"), Sizes.named("demo"), Sizes.named("full")
    for field in ("transactions", "customers", "items", "learners"):
        assert getattr(small, field) <= getattr(demo, field) <= getattr(full, field)


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown size"):
        Sizes.named("huge")
