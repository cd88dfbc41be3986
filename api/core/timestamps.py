"""Timestamps are timezone-aware UTC everywhere -- the one home of "naive SQLite times are UTC".

SQLite has no time-zone type: a ``DateTime(timezone=True)`` column is stored as text without
an offset and read back as a *naive* datetime, which serialises without an offset and cannot
be compared with an aware one. PostgreSQL hands back aware datetimes in the session's zone.
Every timestamp column is a :class:`UTCDateTime`, so a row read from either backend carries
UTC, and :func:`as_utc` is the rule for the few values that arrive naive by other roads (a
lightweight ``table()`` query, a time typed on the command line).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, overload

from pydantic import AfterValidator
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "UtcDatetime", "as_utc", "utc_now"]


@overload
def as_utc(moment: datetime) -> datetime: ...


@overload
def as_utc(moment: None) -> None: ...


def as_utc(moment: datetime | None) -> datetime | None:
    """The same moment as an aware UTC datetime; a naive one is taken to be UTC already.

    Parameters
    ----------
    moment : datetime or None
        Aware (any zone), or naive meaning UTC (what SQLite returns and glassbox writes).

    Returns
    -------
    datetime or None
        Aware, in UTC; None stays None.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always reads back as an aware UTC datetime.

    The column's DDL is ``DateTime(timezone=True)``'s, so it needs no migration. Values are
    converted to UTC before they are written: SQLite stores the wall-clock digits and drops the
    zone, so a time in another zone would otherwise be stored hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # never from DateTime's own result processor
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return as_utc(value)


# A response field holding a stored time: RFC 3339 with its offset, as the OpenAPI promises.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def utc_now(now: datetime | None = None) -> datetime:
    """The time a service acts at: the caller's clock if it gave one, else now -- aware UTC.

    Parameters
    ----------
    now : datetime, optional
        A controllable clock (tests, ``glassbox retention run --now``); naive means UTC.

    Returns
    -------
    datetime
        ``now`` in UTC, or the current time.
    """
    return datetime.now(UTC) if now is None else as_utc(now).astimezone(UTC)
