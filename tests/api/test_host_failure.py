"""A host dies under load and nothing is lost: two server processes on different ports share one
database as two hosts; one is killed with SIGKILL while both take decisions; the other keeps
answering; every decision either acknowledged is in the log, and the chain verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
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

CLIENTS_PER_HOST = 2


class _Host:
    """One server process and the decisions its clients got acknowledged."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.acknowledged: list[str] = []
        self.failed_after_kill = 0
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _wait(condition: Callable[[], bool], what: str, *, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_host_killed_under_load_loses_nothing_and_the_other_keeps_answering(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    migrate(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    # Two hosts of one service: the same secrets and database, their own processes and ports.
    env = live_server_environment(database_url, trained)
    bodies = transactions(trained, 400)
    hosts: list[_Host] = []
    stop = threading.Event()
    killed = threading.Event()
    threads: list[threading.Thread] = []

    def client(host: _Host, worker: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{host.port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ) as http:
            n = 0
            while not stop.is_set():
                body: dict[str, Any] = {
                    "subject_ref": f"{host.name}-{worker}-{n}",
                    "legal_basis": "contract",
                    "features": bodies[(worker * 97 + n) % len(bodies)],
                }
                n += 1
                try:
                    response = http.post("/v1/decisions/fraud", json=body)
                except httpx.HTTPError:
                    if killed.is_set():
                        with host.lock:
                            host.failed_after_kill += 1
                        time.sleep(0.01)
                    continue  # never acknowledged
                if response.status_code == 201:
                    with host.lock:
                        host.acknowledged.append(response.json()["id"])

    try:
        for name in ("host-a", "host-b"):
            port = free_port()
            process = start_live_server(env, port, tmp_path / f"{name}.log")
            hosts.append(_Host(name, process, port))
        first, second = hosts
        for host in hosts:
            for worker in range(CLIENTS_PER_HOST):
                thread = threading.Thread(target=client, args=(host, worker))
                thread.start()
                threads.append(thread)
        _wait(lambda: first.count() >= 30 and second.count() >= 30, "both hosts to decide")

        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        killed.set()
        at_kill = second.count()
        # The survivor keeps answering, and the dead host's clients get no acknowledgement.
        _wait(lambda: second.count() >= at_kill + 60, "the surviving host to keep deciding")
        stop.set()
        for thread in threads:
            thread.join()
        assert first.failed_after_kill > 0, "the killed host's clients should have seen it go"
        assert second.process.poll() is None, "the surviving host must still be running"

        acknowledged = first.acknowledged + second.acknowledged
        check_acknowledged_are_logged(engine, acknowledged, database_url)
        # The survivor still answers after the check, on the same chain.
        with httpx.Client(
            base_url=f"http://127.0.0.1:{second.port}",
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            last = http.post(
                "/v1/decisions/fraud",
                json={"subject_ref": "after", "legal_basis": "contract", "features": bodies[0]},
            )
            assert last.status_code == 201
        check_acknowledged_are_logged(engine, [*acknowledged, last.json()["id"]], database_url)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for host in hosts:
            if host.process.poll() is None:
                host.process.kill()
                host.process.wait()
        engine.dispose()
