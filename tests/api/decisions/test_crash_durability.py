"""Acknowledged decisions survive a kill -9 of the server at any moment (SQLite and PostgreSQL).

A real uvicorn process serves decisions to several client threads; it is killed with SIGKILL at
seeded random moments and restarted on the same database. After every kill: each decision that
was acknowledged (201) is in the database with its log entry, the chain verifies, and SQLite's
integrity check passes.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.audit.log import verify_log
from api.audit.models import LogEntry
from api.core.database import create_db_engine, migrate
from api.core.security import Role, create_api_key
from api.core.settings import SECRET_NAMES
from api.decisions.models import Decision
from tests.api.decisions.support import transactions, wait_until_serving
from tests.conftest import TrainedModels

ROUNDS = 3
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(database_url: str, trained: TrainedModels) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    for name in SECRET_NAMES:  # every secret the service needs, including ones added later
        env[f"GLASSBOX_{name.upper()}"] = base64.b64encode(os.urandom(32)).decode("ascii")
    env["GLASSBOX_DATABASE_URL"] = database_url
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = trained.tracking_uri
    # Only the model under test: each restart then takes seconds, not the time to load three.
    env["GLASSBOX_SERVED_MODELS"] = '["fraud"]'
    env["OMP_NUM_THREADS"] = "1"
    return env


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
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


def test_acknowledged_decisions_survive_kill_9(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    env = _environment(database_url, trained)
    migrate(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    bodies = transactions(trained, 400)
    rng = random.Random(20261122)
    acknowledged: list[str] = []
    lock = threading.Lock()
    log = tmp_path / "server.log"
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for round_number in range(ROUNDS):
            port = _free_port()
            server = _start(env, port, log)
            servers.append(server)
            stop = threading.Event()

            def client(
                worker: int,
                port: int = port,
                stop: threading.Event = stop,
                round_number: int = round_number,
            ) -> None:
                with httpx.Client(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=5,
                ) as http:
                    n = 0
                    while not stop.is_set():
                        body: dict[str, Any] = {
                            "subject_ref": f"crash-{round_number}-{worker}-{n}",
                            "legal_basis": "contract",
                            "features": bodies[(worker * 97 + n) % len(bodies)],
                        }
                        n += 1
                        try:
                            response = http.post("/v1/decisions/fraud", json=body)
                        except httpx.HTTPError:
                            continue  # the server is gone: this one was never acknowledged
                        if response.status_code == 201:
                            with lock:
                                acknowledged.append(response.json()["id"])

            threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.5))
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            stop.set()
            for thread in threads:
                thread.join()
            _check_everything_acknowledged_is_there(engine, acknowledged, database_url)
        assert len(acknowledged) > 50, "the clients got too few decisions through to test much"
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait()
        engine.dispose()


def _check_everything_acknowledged_is_there(
    engine: Any, acknowledged: list[str], database_url: str
) -> None:
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
