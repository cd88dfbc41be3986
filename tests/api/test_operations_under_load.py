"""Operators work beside a running service: nothing it acknowledged is lost (SQLite, PostgreSQL).

A two-worker ``glassbox serve`` takes decisions from client threads while every ``glassbox``
subcommand that opens the database runs next to it, and one worker is stopped and replaced by the
supervisor. Then the whole service is killed with SIGKILL and started again on the same database:
each decision it answered 201 is there with its log entry, and the chain verifies.

On SQLite this guards the POSIX locks that keep a database's WAL alive: a process that opened and
closed a descriptor of the database file of its own would drop every lock SQLite holds on it, so
the next process to close its last connection (an operator's command, a retiring worker) would
take itself for the last user and delete a WAL full of acknowledged commits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    transactions,
)
from tests.api.test_serve import _serve
from tests.conftest import TrainedModels

CLIENTS = 3
# Decisions between two operator commands: enough for the WAL checkpointer to run meanwhile.
BETWEEN_COMMANDS = 40
WAIT_SECONDS = 120


class _Load:
    """Client threads posting decisions; every 201 is remembered."""

    def __init__(self, port: int, key: str, bodies: list[dict[str, Any]]) -> None:
        self.port, self.key, self.bodies = port, key, bodies
        self.acknowledged: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]

    def _client(self, worker: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        ) as http:
            n = 0
            while not self._stop.is_set():
                body = {
                    "subject_ref": f"operations-{worker}-{n}",
                    "legal_basis": "contract",
                    "features": self.bodies[(worker * 89 + n) % len(self.bodies)],
                }
                n += 1
                try:
                    response = http.post("/v1/decisions/fraud", json=body)
                except httpx.HTTPError:
                    continue  # a worker went away mid-request: never acknowledged
                with self._lock:
                    if response.status_code == 201:
                        self.acknowledged.append(response.json()["id"])
                    elif response.status_code >= 500:
                        self.errors.append(f"{response.status_code} {response.text[:200]}")

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def wait_for(self, more: int) -> None:
        """Return once ``more`` further decisions were acknowledged (bounded wait)."""
        target = self.count() + more
        deadline = time.monotonic() + WAIT_SECONDS
        while self.count() < target:
            assert time.monotonic() < deadline, f"the load stalled at {self.count()} decisions"
            time.sleep(0.05)

    @contextmanager
    def running(self) -> Iterator[_Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()


def _glassbox(env: dict[str, str], home: Path, *args: str) -> str:
    command = [sys.executable, "-c", "from api.cli import main; main()", *args]
    done = subprocess.run(
        [*command, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 0, f"glassbox {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (its children other than multiprocessing helpers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_operator_commands_and_a_worker_replacement_lose_no_acknowledged_decision(
    database_url: str, trained: TrainedModels, tmp_path: Path
) -> None:
    env = live_server_environment(database_url, trained)
    migrate(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        key, _ = create_api_key(session, name="checkout", role=Role.APPLICATION)
    engine.dispose()
    log, checkpoint = tmp_path / "serve.log", tmp_path / "checkpoint.json"
    port = free_port()
    server = _serve(env, port, log, tmp_path, workers=2)
    load = _Load(port, key, transactions(trained, 300))
    try:
        with load.running():
            load.wait_for(BETWEEN_COMMANDS)
            created = _glassbox(
                env, tmp_path, "keys", "create", "--role", "auditor", "--name", "night audit"
            )
            auditor = re.search(r"Created key (\w+)", created)
            assert auditor is not None, created
            load.wait_for(BETWEEN_COMMANDS)
            commands: list[tuple[str, ...]] = [
                ("keys", "list"),
                ("verify-log",),
                ("log",),
                ("checkpoint", "create"),
                ("checkpoint", "export", "--out", str(checkpoint)),
                ("checkpoint", "verify", str(checkpoint)),
                ("retention", "run", "--dry-run"),
                ("retention", "run"),
                ("keys", "revoke", auditor[1]),
            ]
            for command in commands:
                _glassbox(env, tmp_path, *command)
                load.wait_for(BETWEEN_COMMANDS)

            # A worker stops gracefully (closing its connections) and the supervisor replaces it.
            before = _workers(server.pid)
            assert len(before) == 2, before
            retired = min(before)
            os.kill(retired, signal.SIGTERM)
            _wait(lambda: retired not in _workers(server.pid), "the worker to stop")
            _wait(lambda: len(_workers(server.pid)) == 2, "the supervisor to replace it")
            load.wait_for(3 * BETWEEN_COMMANDS)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=60)
        assert not load.errors, load.errors[:3]

        # The service starts again on the same database and serves every acknowledged decision.
        port = free_port()
        server = _serve(env, port, log, tmp_path, workers=1)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as http:
            for decision_id in load.acknowledged[:: max(1, len(load.acknowledged) // 25)]:
                assert http.get(f"/v1/decisions/{decision_id}").status_code == 200
        engine = create_db_engine(database_url)
        try:
            check_acknowledged_are_logged(engine, load.acknowledged, database_url)
        finally:
            engine.dispose()
        assert "OK" in _glassbox(env, tmp_path, "verify-log")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=60)
