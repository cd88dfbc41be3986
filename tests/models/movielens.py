"""Ratings files in the public film-ratings layout, generated with the quirks of the real ones.

``ratings.csv`` is ``userId,movieId,rating,timestamp``: half-star ratings from 0.5 to 5, Unix
epoch seconds, no event column. ``movies.csv`` is ``movieId,title,genres`` with ``|``-separated
genres and titles that hold commas (quoted). Each viewer prefers one or two genres and rates
films of those higher, so a recommender has something to find.

    python -m tests.models.movielens FOLDER   # writes FOLDER/ratings.csv and FOLDER/movies.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Animation", "Documentary")
# 2018-01-01T00:00:00Z, as the real data set's times are: seconds since 1970.
START = 1_514_764_800
YEAR = 365 * 24 * 3600


def write_movielens(
    folder: Path, *, n_users: int = 80, n_movies: int = 60, seed: int = 7
) -> tuple[Path, Path]:
    """Write ``ratings.csv`` and ``movies.csv`` to ``folder``; their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    primary = rng.integers(len(GENRES), size=n_movies)
    movies = []
    for m in range(n_movies):
        extra = rng.choice(len(GENRES), size=rng.integers(0, 3), replace=False)
        genres = [GENRES[primary[m]]] + [GENRES[g] for g in extra if g != primary[m]]
        title = f"Film {m + 1}, The ({1970 + m % 50})" if m % 7 == 0 else f"Film {m + 1}"
        movies.append({"movieId": str(10 * m + 1), "title": title, "genres": "|".join(genres)})
    appeal = rng.zipf(1.6, size=n_movies).clip(max=20).astype(float)
    rows = []
    for user in range(1, n_users + 1):
        liked = set(rng.choice(len(GENRES), size=rng.integers(1, 3), replace=False).tolist())
        fits = np.array([p in liked for p in primary])
        weight = appeal * np.where(fits, 6.0, 1.0)
        count = min(int(rng.integers(18, 32)), n_movies)
        seen = rng.choice(n_movies, size=count, replace=False, p=weight / weight.sum())
        times = np.sort(START + rng.integers(0, 2 * YEAR, size=count))
        for movie, at in zip(seen, times, strict=True):
            stars = rng.integers(8, 11) if fits[movie] else rng.integers(1, 8)
            rows.append(
                {
                    "userId": str(user),
                    "movieId": movies[movie]["movieId"],
                    "rating": f"{stars / 2:.1f}",
                    "timestamp": str(int(at)),
                }
            )
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    pd.DataFrame(rows).to_csv(ratings_path, index=False)
    pd.DataFrame(movies).to_csv(movies_path, index=False)
    return ratings_path, movies_path


if __name__ == "__main__":
    for path in write_movielens(Path(sys.argv[1] if len(sys.argv) > 1 else "films")):
        print(path)
