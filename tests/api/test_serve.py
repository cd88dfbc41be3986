"""``glassbox serve --workers 2``: every worker process writes the service's JSON logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from api.core.database import create_db_engine, migrate
from api.core.security import Role, create_api_key
from tests.api.decisions.support import transactions, wait_until_serving
from tests.api.decisions.test_crash_durability import _environment, _free_port
from tests.conftest import TrainedModels

DECISIONS = 8


def _serve(env: dict[str, str], port: int, log: Path, home: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    command += ["--home", str(home), "--port", str(port), "--workers", "2"]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=sink, start_new_session=True
        )
    if wait_until_serving(process, port, log, seconds=180):
        return process
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("glassbox serve did not start in time")


def test_every_worker_logs_json_access_lines_without_personal_data(
    trained: TrainedModels, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'glassbox.db'}"
    env = _environment(database_url, trained)
    migrate(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    engine.dispose()
    port, log = _free_port(), tmp_path / "serve.log"
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
