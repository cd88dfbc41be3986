"""``glassbox serve``: every worker process writes the service's JSON logs; the stores under
``--home`` are served unless the environment names others; a served name that is not registered
is a warning naming those that are; a start that could not serve the data or any of the models
it is given refuses in one line, and demo mode says so."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from api.core.database import create_db_engine, create_session_factory, migrate
from api.core.secret_check import check_secrets
from api.core.security import Role, create_api_key
from api.core.settings import SECRET_NAMES, Settings, create_secrets, generate_demo_secrets
from tests.api.decisions.support import (
    free_port,
    live_server_environment,
    transactions,
    wait_until_serving,
)
from tests.conftest import TrainedModels

DECISIONS = 8


def _serve(
    env: dict[str, str], port: int, log: Path, home: Path, *, workers: int = 2
) -> subprocess.Popen[bytes]:
    """``glassbox serve`` on loopback in a session of its own (kill its group to stop it)."""
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    command += ["--home", str(home), "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=sink, start_new_session=True
        )
    if wait_until_serving(process, port, log, seconds=240):
        return process
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("glassbox serve did not start in time")


def test_every_worker_logs_json_access_lines_without_personal_data(
    trained: TrainedModels, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'glassbox.db'}"
    env = live_server_environment(database_url, trained)
    migrate(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    engine.dispose()
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(env, port, log, tmp_path)
    subject = "Zebulon-Quaintance-7731"
    ids: list[str] = []
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as http:
            for features in transactions(trained, DECISIONS):
                body: dict[str, Any] = {
                    "subject_ref": subject,
                    "legal_basis": "contract",
                    "features": features,
                }
                response = http.post("/v1/decisions/fraud", json=body)
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            assert http.get(f"/v1/decisions/{'0' * 32}").status_code == 404
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # a graceful stop writes what is queued
        assert server.wait(timeout=60) == 0
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "glassbox.access"]
    decided = [
        line
        for line in access
        if (line["route"], line["method"], line["status"])
        == ("/v1/decisions/{model_name}", "POST", 201)
    ]
    assert len(decided) == DECISIONS
    assert any(line["status"] == 404 for line in access)
    # Worker processes start as fresh interpreters: without their own JSON handler they log no
    # access line at all. No line names the person or a concrete path (it carries an id).
    assert len({line["request_id"] for line in access}) == len(access)
    assert subject not in text and not any(decision_id in text for decision_id in ids)
    assert "0" * 32 not in text


# --- refusals and demo mode --------------------------------------------------------------------


def _glassbox(env: dict[str, str], *args: str, seconds: float = 120) -> tuple[int, str]:
    """Run a ``glassbox`` command to its end; fail if it is still running (it started serving)."""
    command = [sys.executable, "-c", "from api.cli import main; main()", *args]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(
            f"glassbox {args[0]} kept running: {output.decode()[-2000:]}"
        ) from None
    return process.returncode, output.decode()


def _without_secrets(database_url: str, tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    env["GLASSBOX_DATABASE_URL"] = database_url
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = tracking_uri
    env["GLASSBOX_SERVED_MODELS"] = '["fraud"]'
    env["COLUMNS"] = "200"  # one reason, one line, in a narrow terminal too
    return env


def test_serve_without_secrets_refuses_instead_of_falling_back_on_the_demos(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    # The attack: the production database and store, no secrets, and a --home that happens to
    # hold a demo's secrets. That start used to run in demo mode, silently, on real data.
    home = tmp_path / "home"
    generate_demo_secrets(home)
    env = _without_secrets(database_url, trained.tracking_uri)
    code, output = _glassbox(env, "serve", "--home", str(home), "--port", str(free_port()))
    assert code == 2, output
    assert "GLASSBOX_PSEUDONYM_KEY or GLASSBOX_PSEUDONYM_KEY_FILE is missing" in output
    assert "--demo" in output
    for name in SECRET_NAMES:
        assert (home / "secrets" / name).read_text().strip() not in output


def test_serve_with_secrets_that_do_not_open_the_data_refuses_naming_them(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    first = live_server_environment(database_url, trained)
    migrate(database_url)
    engine = create_db_engine(database_url)
    try:
        written_under = Settings.model_validate(
            {"database_url": database_url}
            | {name: first[f"GLASSBOX_{name.upper()}"] for name in SECRET_NAMES}
        )
        check_secrets(create_session_factory(engine), written_under)
    finally:
        engine.dispose()
    env = live_server_environment(database_url, trained)  # the same database, every secret new
    env["GLASSBOX_KEY_ENCRYPTION_KEY"] = first["GLASSBOX_KEY_ENCRYPTION_KEY"]
    env["COLUMNS"] = "200"
    code, output = _glassbox(env, "serve", "--home", str(tmp_path), "--port", str(free_port()))
    assert code == 2, output
    (line,) = [line for line in output.splitlines() if line.startswith("Refusing to start")]
    assert "GLASSBOX_PSEUDONYM_KEY" in line and "GLASSBOX_TOKEN_SIGNING_KEY" in line
    assert "GLASSBOX_CHECKPOINT_SIGNING_KEY" in line
    assert "GLASSBOX_KEY_ENCRYPTION_KEY" not in line  # that one is right
    assert not any(value in output for name, value in env.items() if name.endswith("_KEY"))


def test_serve_refuses_a_tracking_uri_with_no_store_and_creates_none(
    database_url: str, tmp_path: Path
) -> None:
    env = _environment_without_models(database_url)
    nowhere = tmp_path / "typo" / "mlflow.db"
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = f"sqlite:///{nowhere}"
    code, output = _glassbox(env, "serve", "--home", str(tmp_path), "--port", str(free_port()))
    assert code == 2, output
    (line,) = [line for line in output.splitlines() if line.startswith("Refusing to start")]
    assert "no MLflow store" in line and str(nowhere) in line
    assert not nowhere.exists() and not nowhere.parent.exists()


def test_serve_refuses_when_no_served_model_is_registered_naming_those_that_are(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    env = live_server_environment(database_url, trained)
    env["GLASSBOX_SERVED_MODELS"] = "telco-churn"
    env["COLUMNS"] = "80"  # one reason, one line, in a narrow terminal too
    code, output = _glassbox(env, "serve", "--home", str(tmp_path), "--port", str(free_port()))
    assert code == 2, output
    (line,) = [line for line in output.splitlines() if line.startswith("Refusing to start")]
    assert "none of GLASSBOX_SERVED_MODELS (telco-churn)" in line
    assert "registered there: account-suspension (champion v1), churn (champion v" in line
    assert (
        "GLASSBOX_SERVED_MODELS=account-suspension,churn,credit,fraud,geo-restriction,"
        "lifetime_value,propensity,recommendation,refund,segments" in line
    )


def test_serve_refuses_a_bad_served_models_value_in_one_line(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    env = live_server_environment(database_url, trained)
    env["GLASSBOX_SERVED_MODELS"] = "Telco Churn"
    code, output = _glassbox(env, "serve", "--port", str(free_port()))
    assert code == 2, output
    assert output.splitlines() == [
        "Invalid settings: GLASSBOX_SERVED_MODELS: 'Telco Churn' is not a model name (a "
        "lower-case letter, then lower-case letters, digits, '-' or '_', at most 64 characters "
        "and never 32); write the names comma-separated, such as fraud,telco-churn"
    ]
    # The same for a worker started by other means than glassbox serve.
    command = [sys.executable, "-c", "from api.main import create_served_app as c; c()"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3
    (line,) = (run.stdout + run.stderr).splitlines()
    assert json.loads(line)["message"].startswith(
        "refusing to start: invalid settings: GLASSBOX_SERVED_MODELS: 'Telco Churn'"
    )


def test_serve_with_real_secrets_uses_the_stores_under_home_and_warns_of_a_typo(
    trained: TrainedModels, tmp_path: Path
) -> None:
    # An operator's deployment: `glassbox init` secrets, a home holding the MLflow store the
    # models were trained into, nothing else set. It used to serve a store under the working
    # directory instead, and answer 404 for every model.
    home = tmp_path / "deployment"
    home.mkdir()
    shutil.copy(Path(trained.tracking_uri.removeprefix("sqlite:///")), home / "mlflow.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    env |= create_secrets(home)
    env["GLASSBOX_SERVED_MODELS"] = "fraud,chrun"  # comma-separated, one name mistyped
    env["OMP_NUM_THREADS"] = "1"
    migrate(f"sqlite:///{home / 'glassbox.db'}")
    engine = create_db_engine(f"sqlite:///{home / 'glassbox.db'}")
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    engine.dispose()
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(env, port, log, home, workers=1)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as http:
            (features,) = transactions(trained, 1)
            body = {"subject_ref": "customer-1", "legal_basis": "contract", "features": features}
            response = http.post("/v1/decisions/fraud", json=body)
            assert response.status_code == 201, response.text
            assert http.post("/v1/decisions/chrun", json=body).status_code == 404
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) in {0, -signal.SIGTERM}
    text = log.read_text()
    lines = text.splitlines()
    (printed,) = [line for line in lines if line.startswith("Warning: ")]
    assert "GLASSBOX_SERVED_MODELS names chrun, which is not registered" in printed
    assert "did you mean churn?" in printed and str(home / "mlflow.db") in printed
    assert f"Serving fraud (GLASSBOX_SERVED_MODELS) from sqlite:///{home / 'mlflow.db'}" in lines
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    (warned,) = [line for line in logged if "chrun" in line["message"]]
    assert warned["level"] == "WARNING" and "did you mean churn?" in warned["message"]


def _environment_without_models(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    for name in SECRET_NAMES:
        env[f"GLASSBOX_{name.upper()}"] = base64.b64encode(os.urandom(32)).decode("ascii")
    env["GLASSBOX_DATABASE_URL"] = database_url
    env["COLUMNS"] = "200"
    return env


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_in_demo_mode_only_when_asked_and_says_so(
    trained: TrainedModels, tmp_path: Path, how: str
) -> None:
    home = tmp_path / "home"
    generate_demo_secrets(home)
    env = _without_secrets(f"sqlite:///{home / 'glassbox.db'}", trained.tracking_uri)
    args = ["serve", "--home", str(home), "--workers", "1"]
    if how == "flag":
        args.append("--demo")
    else:
        env["GLASSBOX_DEMO_MODE"] = "true"
    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, "-c", "from api.cli import main; main()", *args, "--port", str(port)]
    with log.open("ab") as sink:
        server = subprocess.Popen(
            command, env=env, stdout=sink, stderr=sink, start_new_session=True
        )
    try:
        assert wait_until_serving(server, port, log, seconds=180), log.read_text()[-2000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        # One worker runs in this process; uvicorn re-raises the SIGTERM once it has stopped.
        assert server.wait(timeout=60) in {0, -signal.SIGTERM}
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    warned = [line for line in lines if line["message"].startswith("demo mode")]
    assert [line["level"] for line in warned] == ["WARNING"], log.read_text()[-2000:]
