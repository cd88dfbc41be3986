"""Times read back from storage are UTC: one rule, for every reader.

SQLite has no time zone type: a ``DateTime(timezone=True)`` column hands back a naive datetime,
which was written in UTC (every write is). Sent as it is, it becomes an ISO text without an
offset -- not an RFC 3339 ``date-time`` as the OpenAPI document promises, and read as local
time by most clients. PostgreSQL hands back aware datetimes, which pass unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UtcDatetime", "as_utc"]


def as_utc(value: datetime) -> datetime:
    """The moment in UTC, a naive one taken to be UTC already.

    Parameters
    ----------
    value : datetime
        As read from storage.

    Returns
    -------
    datetime
        Aware, in UTC.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A response field holding a stored time.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
