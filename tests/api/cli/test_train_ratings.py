"""``glassbox train recommendation`` on a ratings file in the public film-ratings layout, with
the example spec from docs/examples, into a temporary MLflow store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from models.registry import load_model, local_store
from tests.models.movielens import write_movielens

EXAMPLE_SPEC = Path(__file__).parents[3] / "docs" / "examples" / "ratings_recommender.yaml"
runner = CliRunner()


def _train(home: Path, ratings: Path, movies: Path) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "train", "recommendation", "--data", str(ratings), "--items", str(movies),
            "--spec", str(EXAMPLE_SPEC), "--home", str(home),
        ],
    )  # fmt: skip
    return result.exit_code, result.output


def test_a_film_ratings_file_trains_registers_and_recommends(tmp_path: Path) -> None:
    ratings, movies = write_movielens(tmp_path / "films")
    code, output = _train(tmp_path / "home", ratings, movies)
    assert code == 0, output
    assert "passed" in output

    # Registered under the spec's name and made champion (load_model reads the alias).
    loaded = load_model("film-ratings", tracking_uri=local_store(tmp_path / "home"))
    assert loaded.version == 1 and loaded.spec.name == "film-ratings"
    model = loaded.model
    assert sorted(model.event_weights_) == ["liked", "rated"]
    assert model.relevant_events_ == ["liked"]
    # A viewer who liked three films: what they saw is not offered again.
    history = [(item, "liked", 4.5, None) for item in ("1", "11", "21")]
    recommended = model.recommend(history, k=5)
    assert len(recommended) == 5
    assert not {r.item_id for r in recommended} & {"1", "11", "21"}
    assert all(r.title.startswith("Film ") for r in recommended)


def test_a_misspelt_column_in_the_spec_is_one_clear_refusal(tmp_path: Path) -> None:
    ratings, movies = write_movielens(tmp_path / "films", n_users=25, n_movies=25)
    spec = EXAMPLE_SPEC.read_text(encoding="utf-8").replace("user: userId", "user: userid")
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "train", "recommendation", "--data", str(ratings), "--items", str(movies),
            "--spec", str(tmp_path / "spec.yaml"), "--home", str(tmp_path / "home"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "missing column 'userid' (did you mean 'userId'?)" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_half_stars_against_a_whole_star_scale_are_refused(tmp_path: Path) -> None:
    ratings, movies = write_movielens(tmp_path / "films", n_users=25, n_movies=25)
    spec = EXAMPLE_SPEC.read_text(encoding="utf-8").replace(
        "rating_scale: {min: 0.5, max: 5.0, step: 0.5}", "rating_scale: {min: 1, max: 5}"
    )
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "train", "recommendation", "--data", str(ratings), "--items", str(movies),
            "--spec", str(tmp_path / "spec.yaml"), "--home", str(tmp_path / "home"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "ratings outside 1-5: ['0.5']" in " ".join(result.output.split())
