"""State every worker follows from the database: re-read in a background thread, read from memory.

A :class:`Follower` holds something every worker and host must agree on (who decides for a
model, which version of it is served) and re-reads it every half second in a daemon thread, so
that a change made through any worker is in force on every other within a second and the
decision path reads it with a dict lookup, never a query. A read that fails (the database is
away) keeps the state last read, and says so once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, Self

__all__ = ["REFRESH_SECONDS", "Follower"]

# Half the promised second: a change is seen within one interval plus one read.
REFRESH_SECONDS: Final = 0.5


class Follower:
    """Re-reads shared state from the database every ``every`` seconds in a daemon thread.

    Subclasses implement :meth:`refresh`, which replaces the state held in memory whole (a
    reader on another thread sees the old state or the new one, without a lock).

    Parameters
    ----------
    name : str
        The thread's name, and what the failure messages call the state.
    every : float
        Seconds between two reads (:data:`REFRESH_SECONDS`).
    clock : callable
        Monotonic seconds (:attr:`age`).
    """

    def __init__(
        self,
        name: str,
        *,
        every: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._every = every
        self._clock = clock
        self._read_at: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._log = logging.getLogger(f"glassbox.{name}")

    def refresh(self) -> None:
        """Read the state now and hold it (subclasses call :meth:`_refreshed` at the end)."""
        raise NotImplementedError

    def _refreshed(self) -> None:
        self._read_at = self._clock()

    @property
    def age(self) -> float | None:
        """Seconds since the state was last read; None before the first read."""
        return None if self._read_at is None else self._clock() - self._read_at

    def start(self) -> Self:
        """Read the state (a worker starts with the state in force) and keep re-reading it."""
        self.refresh()
        self._thread = threading.Thread(
            target=self._run, name=f"glassbox-{self._name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop re-reading (the state last read stays)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            try:
                self.refresh()
            except Exception:  # the database is away: keep the last state, say so once
                if not self._failing:
                    self._log.exception("cannot re-read the %s; keeping the last", self._name)
                self._failing = True
            else:
                if self._failing:
                    self._log.warning("the %s are read again", self._name)
                self._failing = False
