"""What the generators share: the reference clock, protected attributes, ids and timestamps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Every generator writes history up to the same fixed instant instead of "now", so that a seed
# gives the same file next year as today.
AS_OF = np.datetime64("2026-10-01T00:00:00", "s")
AS_OF_EPOCH = int(AS_OF.astype(np.int64))
SECONDS_PER_DAY = 86_400

AGE_BANDS = ("18-24", "25-34", "35-49", "50-64", "65+")
AGE_BAND_WEIGHTS = np.array([0.12, 0.22, 0.30, 0.24, 0.12])
SEXES = ("female", "male")


def stream(seed: int, key: int) -> np.random.Generator:
    """An independent random stream for one generator.

    Each generator mixes its own ``key`` into the seed: with a bare ``default_rng(seed)`` the
    learners and the churn customers of the same seed would receive identical protected
    attributes, row for row, which is a coincidence a fairness analysis should never see.
    """
    return np.random.default_rng([seed, key])


def draw_protected(
    rng: np.random.Generator, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """Age band index, age band and sex for ``n`` people, independent of everything else."""
    band_idx = rng.choice(len(AGE_BANDS), size=n, p=AGE_BAND_WEIGHTS).astype(np.int64)
    bands = np.asarray(AGE_BANDS)[band_idx]
    sexes = np.asarray(SEXES)[rng.integers(0, len(SEXES), size=n)]
    return band_idx, bands, sexes


def make_ids(prefix: str, n: int, width: int) -> npt.NDArray[np.str_]:
    """``prefix`` followed by a zero-padded running number starting at 1 (``C000001``)."""
    if n == 0:  # np.char.zfill fails on an empty array
        return np.array([], dtype=np.str_)
    numbers = np.char.zfill(np.arange(1, n + 1).astype(str), width)
    return np.char.add(prefix, numbers)


def iso_utc(epoch_seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """ISO-8601 UTC timestamps (``2026-03-04T13:22:10Z``) for Unix times in seconds."""
    instants = epoch_seconds.astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(instants, unit="s"), "Z")


def iso_date(epoch_seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """ISO-8601 dates (``2025-11-30``) for Unix times in seconds."""
    return np.datetime_as_string(epoch_seconds.astype("datetime64[s]"), unit="D")


def sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))
