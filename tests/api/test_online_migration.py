"""A migration while the service serves: Alembic upgrades the database that two workers are
deciding on, an expand (a nullable column) and then its contract (the column dropped, a table
rebuild on SQLite), and no request fails; the chain verifies afterwards.

The revisions are a deployment's own, on top of the service's head, written for the test.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from api.audit.log import verify_log
from api.core.database import _alembic_config, create_db_engine, migrate
from api.core.settings import Settings
from tests.api.conftest import Service, serve
from tests.api.decisions.support import transactions
from tests.conftest import TrainedModels

_REVISION = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def _write_revisions(folder: Path) -> None:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    folder.mkdir()
    (folder / "x1_expand.py").write_text(
        _REVISION.format(
            message="Expand: a nullable note on each decision; old code never writes it.",
            revision="x1_expand",
            down=head,
            upgrade='    op.add_column("decision", sa.Column("note", sa.Text(), nullable=True))',
            downgrade='    op.drop_column("decision", "note")',
        )
    )
    (folder / "x2_contract.py").write_text(
        _REVISION.format(
            message="Contract: the note is dropped once no running release reads it.",
            revision="x2_contract",
            down="x1_expand",
            upgrade='    with op.batch_alter_table("decision") as batch:\n'
            '        batch.drop_column("note")',
            downgrade='    op.add_column("decision", sa.Column("note", sa.Text(), nullable=True))',
        )
    )


class _Load:
    """Each worker decides in a thread of its own until stopped; every answer is kept."""

    def __init__(self, workers: list[Service], bodies: list[dict[str, Any]]) -> None:
        self.statuses: list[int] = []
        self._workers = workers
        self._bodies = bodies
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(len(workers))]

    def _run(self, i: int) -> None:
        worker, n = self._workers[i], 0
        while not self._stop.is_set():
            answer = worker.client.post(
                "/v1/decisions/fraud",
                json={
                    "subject_ref": f"online-{i}-{n}",
                    "legal_basis": "contract",
                    "features": self._bodies[(i * 31 + n) % len(self._bodies)],
                },
                headers=worker.auth("shop"),
            )
            n += 1
            with self._lock:
                self.statuses.append(answer.status_code)

    def count(self) -> int:
        with self._lock:
            return len(self.statuses)

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait_for(self, more: int) -> None:
        target = self.count() + more
        done = threading.Event()
        while self.count() < target and not done.wait(0.01):
            pass


def test_an_expand_and_a_contract_run_while_two_workers_decide(
    service_settings: Settings, trained: TrainedModels, tmp_path: Path
) -> None:
    extra = tmp_path / "versions"
    _write_revisions(extra)
    bodies = transactions(trained, 200)
    with (
        serve(service_settings) as one,
        serve(service_settings, keys=one.keys) as two,
        _Load([one, two], bodies) as load,
    ):
        load.wait_for(20)
        migrate(service_settings.database_url, revision="x1_expand", extra_versions=[extra])
        load.wait_for(20)
        migrate(service_settings.database_url, revision="x2_contract", extra_versions=[extra])
        load.wait_for(20)
    assert load.statuses and set(load.statuses) == {201}, sorted(set(load.statuses))
    engine = create_db_engine(service_settings.database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("decision")}
        assert "note" not in columns
        with Session(engine) as session:
            result = verify_log(session)
        assert result.ok, result
    finally:
        engine.dispose()
