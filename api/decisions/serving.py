"""Which version of each model is served: state in the database, followed by every worker.

An admin reloads a model (the version its champion alias points at now) or names a version
(a promotion or a rollback) through any worker (:func:`name_version`): the ``model_serving``
row and the log entry that records who changed it, from which version to which, and why commit
together (AI Act Art. 12: a record of a high-risk system's modifications). Every worker follows
the table (:class:`ServedVersions`, re-read every half second) and loads the named version in
the background; the decision path keeps reading ``context.models`` and every decision names the
version that made it.

Each worker reports what it serves in ``serving_worker`` (when it starts, when a version
changes, and every few seconds), so the admin's call can wait until every worker seen lately
serves the new version (:func:`wait_until_served`) and say so.

Until an admin first names a version, a worker serves the version the alias pointed at when it
started, as before.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries, lock_log
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.database import write_transaction
from api.core.ids import new_id
from api.core.polling import REFRESH_SECONDS, Follower
from api.core.timestamps import as_utc, utc_now
from api.decisions.models import ModelServing, ServingWorker
from api.decisions.runtime import ModelNotServedError, ModelRegistry

__all__ = [
    "BEAT_SECONDS",
    "Change",
    "NamedVersion",
    "ServedVersions",
    "WorkerServing",
    "name_version",
    "read_named",
    "serving_workers",
    "wait_until_served",
]

#: A worker reports itself at least this often; one not seen for three beats is gone.
BEAT_SECONDS: Final = 2.0
_GONE_AFTER: Final = timedelta(seconds=3 * BEAT_SECONDS)

Change = Literal["reload", "promotion", "rollback"]


@dataclass(frozen=True)
class NamedVersion:
    """The version an admin named for a model, with who, when and why."""

    model: str
    version: int
    change: str
    reason: str
    set_by: str
    set_at: datetime
    log_entry_id: str


@dataclass(frozen=True)
class WorkerServing:
    """A worker seen lately and the versions it serves."""

    worker_id: str
    host: str
    pid: int
    seen_at: datetime
    versions: Mapping[str, int]


def _named(row: ModelServing) -> NamedVersion:
    return NamedVersion(
        model=row.model_name,
        version=row.version,
        change=row.change,
        reason=row.reason,
        set_by=row.set_by,
        set_at=as_utc(row.set_at),
        log_entry_id=row.log_entry_id,
    )


def read_named(session: Session, *, model_name: str) -> NamedVersion | None:
    """The version an admin last named for a model; None if none ever did."""
    row = session.get(ModelServing, model_name)
    return None if row is None else _named(row)


def name_version(
    session: Session,
    *,
    model_name: str,
    version: int,
    change: Change,
    reason: str,
    admin_key_id: str,
    serving: int,
    now: datetime,
) -> NamedVersion:
    """Name the version every worker serves, and log the change with who made it and why.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here).
    model_name : str
        The model.
    version : int
        The registered version to serve (loaded already by the caller, so it exists).
    change : {"reload", "promotion", "rollback"}
        What the admin did.
    reason : str
        Why (no personal data: it is logged).
    admin_key_id : str
        The admin's API key.
    serving : int
        The version the admin's worker served before: the log's "from" when no version was
        named yet.
    now : datetime
        When.

    Returns
    -------
    NamedVersion
    """
    with write_transaction(session):
        # The log's lock first: two admins at once are serialised, each "from" the other's "to".
        lock_log(session)
        row = session.get(ModelServing, model_name, populate_existing=True)
        previous = row.version if row is not None else serving
        entry = LogEntryCreate(
            kind=EntryKind.MODEL_VERSION,
            body={
                "model": model_name,
                "change": change,
                "from": previous,
                "to": version,
                "reason": reason,
                "set_by": admin_key_id,
                "at": now,
            },
        )
        (stored,) = append_entries(session, entries=[entry])
        values = {
            "version": version,
            "change": change,
            "reason": reason,
            "set_by": admin_key_id,
            "set_at": now,
            "log_entry_id": stored.entry_id,
        }
        if row is None:
            row = ModelServing(model_name=model_name, **values)
            session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.flush()
        return _named(row)


def serving_workers(session: Session, *, now: datetime) -> list[WorkerServing]:
    """The workers seen in the last three beats and what each serves, oldest first."""
    rows = session.scalars(
        select(ServingWorker)
        .where(ServingWorker.seen_at >= now - _GONE_AFTER)
        .order_by(ServingWorker.started_at, ServingWorker.worker_id)
    ).all()
    return [
        WorkerServing(
            worker_id=row.worker_id,
            host=row.host,
            pid=row.pid,
            seen_at=as_utc(row.seen_at),
            versions=MappingProxyType(json.loads(row.versions)),
        )
        for row in rows
    ]


def wait_until_served(
    sessions: sessionmaker[Session],
    *,
    model_name: str,
    version: int,
    within: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[WorkerServing], bool]:
    """Wait until every worker seen lately serves ``version`` of a model, or ``within`` seconds.

    Returns
    -------
    tuple of (list of WorkerServing, bool)
        The workers as last read, and whether every one of them serves the version.
    """
    deadline = clock() + within
    while True:
        with sessions() as session:
            workers = serving_workers(session, now=utc_now())
        done = all(w.versions.get(model_name) == version for w in workers)
        if done or clock() >= deadline:
            return workers, done
        time.sleep(REFRESH_SECONDS / 5)


class ServedVersions(Follower):
    """Follows the versions named in the database: loads each one this worker serves, and
    reports what it serves.

    Parameters
    ----------
    sessions : sessionmaker
        The service's sessions.
    models : ModelRegistry
        This worker's served models.
    every : float
        Seconds between two reads (:data:`REFRESH_SECONDS`).
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        models: ModelRegistry,
        *,
        every: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("served versions", every=every, clock=clock)
        self._sessions = sessions
        self._models = models
        self.worker_id = new_id()
        self._host = socket.gethostname()[:255]
        self._pid = os.getpid()
        self._started_at = utc_now()
        self._reported: dict[str, int] | None = None
        self._reported_at = -float("inf")

    def refresh(self) -> None:
        """Read the named versions, load any this worker does not serve yet, and report."""
        with self._sessions() as session:
            rows = session.execute(select(ModelServing.model_name, ModelServing.version))
            named = dict(rows.tuples().all())
        served = set(self._models.names())
        for name, version in named.items():
            if name not in served:
                continue
            try:
                self._models.serve_version(name, version)
            except ModelNotServedError:
                # The version is not in this worker's store: keep serving, say so once a beat.
                self._log.error("cannot load %s version %s named in the database", name, version)
        self._report()
        self._refreshed()

    def _report(self) -> None:
        versions = {name: self._models.get(name).version for name in self._models.names()}
        if versions == self._reported and self._clock() - self._reported_at < BEAT_SECONDS:
            return
        now = utc_now()
        with self._sessions() as session, write_transaction(session):
            row = session.get(ServingWorker, self.worker_id)
            text = json.dumps(versions, sort_keys=True)
            if row is None:
                session.add(
                    ServingWorker(
                        worker_id=self.worker_id,
                        host=self._host,
                        pid=self._pid,
                        started_at=self._started_at,
                        seen_at=now,
                        versions=text,
                    )
                )
            else:
                row.seen_at = now
                row.versions = text
        self._reported, self._reported_at = versions, self._clock()

    def stop(self) -> None:
        """Stop following and remove this worker's report (it serves nothing any more)."""
        super().stop()
        try:
            with self._sessions() as session, write_transaction(session):
                session.execute(
                    delete(ServingWorker).where(ServingWorker.worker_id == self.worker_id)
                )
        except Exception:  # the database is away: the row ages out after three beats
            self._log.warning("could not remove this worker's report", exc_info=True)
