"""Requests as an application would send them, built from the fixtures."""

from __future__ import annotations

import base64
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from api.core.settings import SECRET_NAMES
from tests.conftest import TrainedModels

if TYPE_CHECKING:
    from tests.api.conftest import Service

__all__ = [
    "check_acknowledged_are_logged",
    "fraud_rows",
    "free_port",
    "learner_history",
    "live_server_environment",
    "logged_and_unlogged",
    "start_live_server",
    "transactions",
    "wait_until_serving",
]


def transactions(trained: TrainedModels, n: int = 5000) -> list[dict[str, Any]]:
    """The first ``n`` fixture transactions as JSON-ready feature dicts (blanks left out)."""
    spec = trained.results["fraud"].spec
    frame = pd.read_csv(trained.files["fraud"].data).head(n)
    rows = []
    for record in frame[spec.feature_names].to_dict("records"):
        values: dict[str, Any] = {}
        for f in spec.features:
            value = record[f.name]
            if isinstance(value, float) and math.isnan(value):
                continue
            if f.type == "boolean":
                values[f.name] = bool(value)
            elif f.type == "integer":
                values[f.name] = int(value)
            elif f.type == "number":
                values[f.name] = float(value)
            else:
                values[f.name] = str(value)
        rows.append(values)
    return rows


def fraud_rows(trained: TrainedModels) -> tuple[dict[str, Any], dict[str, Any]]:
    """The riskiest and the safest of the first 5,000 fixture transactions."""
    spec = trained.results["fraud"].spec
    frame = pd.read_csv(trained.files["fraud"].data).head(5000)
    scores = trained.results["fraud"].model.predict_proba(frame[spec.feature_names])[:, 1]
    rows = transactions(trained, 5000)
    return rows[int(np.argmax(scores))], rows[int(np.argmin(scores))]


def narrow_block(trained: TrainedModels) -> dict[str, Any]:
    """The fixture payment blocked by the narrowest margin: one a person could have avoided."""
    result = trained.results["fraud"]
    rows = transactions(trained, 5000)
    frame = pd.DataFrame(rows)[result.spec.feature_names]
    scores = result.model.predict_proba(frame)[:, 1]
    blocked = np.flatnonzero(scores >= 0.7)
    return rows[int(blocked[np.argmin(scores[blocked])])]


def learner_history(trained: TrainedModels) -> list[dict[str, Any]]:
    """The first fixture learner's interactions, as a recommendation request's ``history``."""
    interactions = pd.read_csv(trained.files["recommendation"].data)
    user = interactions["user_id"].iloc[0]
    return [
        {"item_id": r.item_id, "event": r.event}
        for r in interactions[interactions["user_id"] == user].itertuples()
    ]


def logged_and_unlogged(service: Service, trained: TrainedModels, who: str) -> tuple[Any, Any]:
    """A fraud decision (fraud logs every one) and a plain recommendation (not logged), asked
    for by ``shop`` about ``c-<who>`` and ``learner-<who>``."""
    risky, _ = fraud_rows(trained)
    fraud = service.client.post(
        "/v1/decisions/fraud",
        json={"subject_ref": f"c-{who}", "features": risky, "legal_basis": "contract"},
        headers=service.auth("shop"),
    ).json()
    reco = service.client.post(
        "/v1/decisions/recommendation",
        json={
            "subject_ref": f"learner-{who}",
            "history": learner_history(trained),
            "legal_basis": "none",
            "max_items": 3,
        },
        headers=service.auth("shop"),
    ).json()
    return fraud, reco


def wait_until_serving(
    process: subprocess.Popen[bytes], port: int, log: Path, *, seconds: float = 120
) -> bool:
    """Poll a server process's readiness probe (``/v1/health``) on loopback until it answers.

    Returns False when ``seconds`` pass first (the caller stops the process); raises
    AssertionError with the end of ``log`` if the process exits.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def live_server_environment(
    database_url: str, trained: TrainedModels, *, secrets: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a live server on ``database_url`` serving the session's fraud model,
    with fresh random secrets (or ``secrets``: several hosts of one service share them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    for name in SECRET_NAMES:  # every secret the service needs, including ones added later
        value = (secrets or {}).get(name) or base64.b64encode(os.urandom(32)).decode("ascii")
        env[f"GLASSBOX_{name.upper()}"] = value
    env["GLASSBOX_DATABASE_URL"] = database_url
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = trained.tracking_uri
    # Only the model under test: each start then takes seconds, not the time to load several.
    env["GLASSBOX_SERVED_MODELS"] = '["fraud"]'
    env["OMP_NUM_THREADS"] = "1"
    return env


def start_live_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """A uvicorn process serving the app on loopback, once its readiness probe answers."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    if wait_until_serving(process, port, log):
        return process
    process.kill()
    raise AssertionError("the server did not start in time")


def check_acknowledged_are_logged(engine: Any, acknowledged: list[str], database_url: str) -> None:
    """Every acknowledged decision is stored with its log entry, the chain verifies and (on
    SQLite) the file's integrity check passes."""
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from api.audit.log import verify_log
    from api.audit.models import LogEntry
    from api.decisions.models import Decision

    with Session(engine) as session:
        stored = dict(
            session.execute(select(Decision.decision_id, Decision.log_entry_id)).tuples().all()
        )
        missing = [d for d in acknowledged if d not in stored]
        assert not missing, f"{len(missing)} acknowledged decisions were lost"
        entries = set(session.execute(select(LogEntry.entry_id)).scalars())
        unlogged = [d for d in acknowledged if stored[d] is None or stored[d] not in entries]
        assert not unlogged, "fraud decisions are always logged, and their entries must be there"
        result = verify_log(session)
        assert result.ok, result
        if database_url.startswith("sqlite"):
            assert session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
