"""Acknowledged decisions survive a kill -9 of the server at any moment (SQLite and PostgreSQL).

A real uvicorn process serves decisions to several client threads; it is killed with SIGKILL at
seeded random moments and restarted on the same database. After every kill: each decision that
was acknowledged (201) is in the database with its log entry, the chain verifies, and SQLite's
integrity check passes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from api.core.database import create_db_engine, migrate
from api.core.security import Role, create_api_key
from tests.api.decisions.support import (
    check_acknowledged_are_logged,
    free_port,
    live_server_environment,
    start_live_server,
    transactions,
)
from tests.conftest import TrainedModels

ROUNDS = 3
CLIENTS = 4


def test_acknowledged_decisions_survive_kill_9(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    env = live_server_environment(database_url, trained)
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
            port = free_port()
            server = start_live_server(env, port, log)
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
            check_acknowledged_are_logged(engine, acknowledged, database_url)
        assert len(acknowledged) > 50, "the clients got too few decisions through to test much"
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait()
        engine.dispose()
