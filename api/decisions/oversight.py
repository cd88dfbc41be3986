"""Who decides for each served model: the oversight switch (AI Act Art. 14(4)(e)).

An admin sets a model to ``automated``, ``human_only`` or ``paused`` (:func:`set_oversight`);
the ``model_oversight`` row and the log entry that records who changed it and why commit
together. The decision path reads the mode from memory (:meth:`OversightModes.mode`, a dict
lookup): each process holds every model's mode, and a background thread re-reads the table --
one row per model an admin ever switched, by primary key -- every half second. A change made
through any worker or host is in force on every other within a second, and no decision pays a
query for it.

If a re-read fails (the database is away), the modes last read stay in force and the failure
is logged; the decision path cannot write its record then either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries, lock_log
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.database import write_transaction
from api.core.polling import REFRESH_SECONDS, Follower
from api.core.timestamps import as_utc
from api.decisions.models import ModelOversight, OversightMode
from api.decisions.schemas import OversightRead

__all__ = [
    "REFRESH_SECONDS",
    "ModeInForce",
    "OversightModes",
    "read_oversight",
    "set_oversight",
]


@dataclass(frozen=True, slots=True)
class ModeInForce:
    """A model's mode as the decision path reads it, with the admin's reason (for the 503)."""

    mode: OversightMode
    reason: str = ""

    @property
    def paused(self) -> bool:
        """No decision is taken."""
        return self.mode is OversightMode.PAUSED

    @property
    def human_only(self) -> bool:
        """Every decision waits for a reviewer."""
        return self.mode is OversightMode.HUMAN_ONLY


_AUTOMATED: Final = ModeInForce(OversightMode.AUTOMATED)


class OversightModes(Follower):
    """The oversight modes of every model, in memory, re-read from the database in the background.

    Parameters
    ----------
    sessions : sessionmaker
        The service's sessions.
    every : float
        Seconds between two reads (:data:`REFRESH_SECONDS`).
    clock : callable
        Monotonic seconds (:attr:`age`).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        every: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("oversight modes", every=every, clock=clock)
        self._sessions = sessions
        # Replaced whole, never changed in place: a reader on another thread sees the old
        # mapping or the new one, without a lock on the hot path.
        self._modes: Mapping[str, ModeInForce] = MappingProxyType({})

    def mode(self, model_name: str) -> ModeInForce:
        """The mode in force for a model (``automated`` unless an admin set another)."""
        return self._modes.get(model_name, _AUTOMATED)

    def refresh(self) -> None:
        """Read every model's mode now (one query of a table of a few rows)."""
        with self._sessions() as session:
            rows = session.execute(
                select(ModelOversight.model_name, ModelOversight.mode, ModelOversight.reason)
            ).all()
        self._modes = MappingProxyType(
            {
                row.model_name: ModeInForce(OversightMode(row.mode), row.reason)
                for row in rows
                if row.mode != OversightMode.AUTOMATED
            }
        )
        self._refreshed()


def _read(model_name: str, row: ModelOversight | None) -> OversightRead:
    if row is None:
        return OversightRead(model=model_name, mode=OversightMode.AUTOMATED)
    return OversightRead(
        model=model_name,
        mode=OversightMode(row.mode),
        reason=row.reason,
        set_by=row.set_by,
        set_at=as_utc(row.set_at),
        log_entry_id=row.log_entry_id,
    )


def read_oversight(session: Session, *, model_name: str) -> OversightRead:
    """A model's oversight mode as stored, with who set it, when and why.

    Parameters
    ----------
    session : Session
        The session.
    model_name : str
        The model.

    Returns
    -------
    OversightRead
        ``automated`` with no reason when no admin ever switched it.
    """
    return _read(model_name, session.get(ModelOversight, model_name))


def set_oversight(
    session: Session,
    *,
    model_name: str,
    mode: OversightMode,
    reason: str,
    admin_key_id: str,
    now: datetime,
) -> OversightRead:
    """Set who decides for a model, and log the change with who made it and why.

    The row and its log entry commit together. Takes effect at once in the processes that
    call :meth:`OversightModes.refresh` afterwards, and in every other within a second.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here).
    model_name : str
        The model.
    mode : OversightMode
        The new mode.
    reason : str
        Why (no personal data: it is logged, and shown to applications while paused).
    admin_key_id : str
        The admin's API key.
    now : datetime
        When.

    Returns
    -------
    OversightRead
        The mode now stored.
    """
    with write_transaction(session):
        # The log's lock first: two admins switching at once are serialised, and each entry's
        # "from" is the mode the other left.
        lock_log(session)
        row = session.get(ModelOversight, model_name, populate_existing=True)
        previous = OversightMode(row.mode) if row is not None else OversightMode.AUTOMATED
        entry = LogEntryCreate(
            kind=EntryKind.MODEL_OVERSIGHT,
            body={
                "model": model_name,
                "from": previous.value,
                "to": mode.value,
                "reason": reason,
                "set_by": admin_key_id,
                "at": now,
            },
        )
        (stored,) = append_entries(session, entries=[entry])
        values = {
            "mode": mode.value,
            "reason": reason,
            "set_by": admin_key_id,
            "set_at": now,
            "log_entry_id": stored.entry_id,
        }
        if row is None:
            row = ModelOversight(model_name=model_name, **values)
            session.add(row)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.flush()
        return _read(model_name, row)
