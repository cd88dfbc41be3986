"""``glassbox batch`` as an operator runs it: a file scored for an application, twice."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.batch.engine import RESULTS
from api.cli import app
from api.core.security import Role, create_api_key
from api.profiles.models import Profile
from data_fixtures import generate_buyers
from tests.api.cli.conftest import runner
from tests.conftest import TrainedModels


def test_the_batch_command_scores_a_file_and_leaves_profiles_to_the_local_engine(
    service_env: dict[str, str],
    session_factory: sessionmaker[Session],
    trained: TrainedModels,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("GLASSBOX_MLFLOW_TRACKING_URI", trained.tracking_uri)
    with session_factory() as session:
        key, _ = create_api_key(session, name="shop", role=Role.APPLICATION)
        admin, _ = create_api_key(session, name="ops", role=Role.ADMIN)
    path = tmp_path / "buyers.csv"
    generate_buyers(40, seed=8).to_csv(path, index=False)
    args = ["batch", "segments", "--input", str(path), "--out", str(tmp_path / "out")]

    spark = runner.invoke(app, [*args, "--api-key", key, "--engine", "spark"])
    assert spark.exit_code == 2 and "local engine" in spark.output, spark.output
    wrong = runner.invoke(app, [*args, "--api-key", admin])
    assert wrong.exit_code == 2 and "application" in wrong.output

    done = runner.invoke(app, [*args, "--api-key", key, "--json", "--locale", "es"])
    assert done.exit_code == 0, done.output
    figures = json.loads(done.output.strip().splitlines()[-1])
    assert (figures["rows"], figures["recorded"]) == (40, 40)
    again = runner.invoke(app, [*args, "--api-key", key, "--json"])
    assert json.loads(again.output.strip().splitlines()[-1])["skipped"] == 40
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Profile)) == 40
    assert pd.read_json(tmp_path / "out" / RESULTS, lines=True)["status"].eq("recorded").all()
