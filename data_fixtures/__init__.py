"""Deterministic, seeded synthetic data for glassbox's three models.

The frames match the model specs in ``models/specs/`` (feature names, types, ranges and
categories) and carry the id columns, the target and the protected attributes each spec lists.
Protected attributes are kept for fairness checks only: no label is drawn from them.

* :func:`generate_transactions` - card transactions for the fraud model;
* :func:`generate_customers` - e-learning subscribers for the churn model;
* :func:`generate_applicants` - applicants for an instalment facility, for the credit model;
* :func:`generate_buyers` - buyers of the shop's courses and digital products, for the three
  profiles (lifetime value, purchase propensity, segments);
* :func:`generate_catalogue`, :func:`generate_learners`, :func:`generate_interactions` - the
  catalogue, learners and interaction log for the recommender.

:func:`generate_all` writes all seven as CSV files at one of the named :class:`Sizes`;
:func:`write_samples` regenerates the small samples committed in ``data_fixtures/samples/``.
Every generator draws from its own ``numpy.random.default_rng`` stream, so a seed always gives
the same rows and nothing is shared between calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from data_fixtures.churn import generate_customers
from data_fixtures.credit import generate_applicants
from data_fixtures.fraud import generate_transactions
from data_fixtures.profiles import generate_buyers
from data_fixtures.recommendation import (
    generate_catalogue,
    generate_interactions,
    generate_learners,
)

__all__ = [
    "DATASETS",
    "SAMPLES_DIR",
    "SIZES",
    "Sizes",
    "generate_all",
    "generate_applicants",
    "generate_buyers",
    "generate_catalogue",
    "generate_customers",
    "generate_interactions",
    "generate_learners",
    "generate_transactions",
    "write_samples",
]

SAMPLES_DIR = Path(__file__).parent / "samples"
# Dataset name -> file name written by generate_all.
DATASETS: Mapping[str, str] = MappingProxyType(
    {
        "transactions": "transactions.csv",
        "customers": "customers.csv",
        "applicants": "applicants.csv",
        "items": "items.csv",
        "learners": "learners.csv",
        "interactions": "interactions.csv",
        "buyers": "buyers.csv",
    }
)


@dataclass(frozen=True)
class Sizes:
    """How many rows of each dataset to generate.

    Attributes
    ----------
    transactions : int
        Card transactions (fraud).
    customers : int
        Subscribers (churn).
    applicants : int
        Applicants for an instalment facility (credit).
    items : int
        Catalogue items (recommendation).
    learners : int
        Learners whose interactions are simulated (recommendation).
    buyers : int
        Buyers of the shop (the three profiles).
    """

    transactions: int
    customers: int
    applicants: int
    items: int
    learners: int
    buyers: int

    @classmethod
    def named(cls, name: str) -> Sizes:
        """The preset called ``name``: ``small``, ``demo`` or ``full``.

        Raises
        ------
        ValueError
            For any other name.
        """
        try:
            return SIZES[name]
        except KeyError:
            raise ValueError(f"unknown size {name!r}; choose one of {sorted(SIZES)}") from None


SIZES: Mapping[str, Sizes] = MappingProxyType(
    {
        # Tests and the committed samples: each file well under a megabyte.
        "small": Sizes(
            transactions=2_000,
            customers=1_000,
            applicants=3_000,
            items=300,
            learners=200,
            buyers=1_000,
        ),
        # The demo: enough rows for every quality gate to pass with margin, trained in seconds.
        "demo": Sizes(
            transactions=60_000,
            customers=20_000,
            applicants=20_000,
            items=300,
            learners=2_000,
            buyers=20_000,
        ),
        "full": Sizes(
            transactions=200_000,
            customers=100_000,
            applicants=100_000,
            items=1_000,
            learners=10_000,
            buyers=100_000,
        ),
    }
)


def generate_all(out_dir: Path, *, size: str = "demo", seed: int = 7) -> dict[str, Path]:
    """Generate every dataset and write it as CSV into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory to write to; created if missing. Existing files of the same names are
        replaced.
    size : str, default "demo"
        Name of a preset in :data:`SIZES`.
    seed : int, default 7
        Seed passed to every generator.

    Returns
    -------
    dict of str to pathlib.Path
        Dataset name (the keys of :data:`DATASETS`) to the file written.

    Raises
    ------
    ValueError
        If ``size`` is not a known preset.
    """
    sizes = Sizes.named(size)
    catalogue = generate_catalogue(sizes.items, seed=seed)
    learners = generate_learners(sizes.learners, seed=seed)
    frames = {
        "transactions": generate_transactions(sizes.transactions, seed=seed),
        "customers": generate_customers(sizes.customers, seed=seed),
        "applicants": generate_applicants(sizes.applicants, seed=seed),
        "items": catalogue,
        "learners": learners,
        "interactions": generate_interactions(learners, catalogue, seed=seed),
        "buyers": generate_buyers(sizes.buyers, seed=seed),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        paths[name] = _write_csv(frame, out_dir / DATASETS[name])
    return paths


def write_samples(out_dir: Path = SAMPLES_DIR) -> dict[str, Path]:
    """Regenerate the small samples committed in ``data_fixtures/samples/``.

    A test compares the committed files with a fresh run, so run this after any change to a
    generator and commit the result.

    Parameters
    ----------
    out_dir : pathlib.Path, default SAMPLES_DIR
        Where to write; the default is the committed samples directory.

    Returns
    -------
    dict of str to pathlib.Path
        Dataset name to the file written.
    """
    return generate_all(out_dir, size="small", seed=7)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    # A fixed line ending keeps the committed samples byte-identical across platforms.
    frame.to_csv(path, index=False, lineterminator="\n")
    return path
