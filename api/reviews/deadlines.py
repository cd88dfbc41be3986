"""Art. 12(3) deadlines: one calendar month from receipt, one extension of up to two more.

Pure date arithmetic, no storage, so that it can be tested exhaustively. "One month" is a
calendar month: the same day of the next month, or that month's last day when it has no such
day (31 January → 28 or 29 February; 29 February → 29 March). The time of day is kept.
"""

from __future__ import annotations

import calendar
from datetime import datetime

__all__ = [
    "MAX_EXTENSION_MONTHS",
    "add_months",
    "due_date",
    "effective_due",
    "extension_allowed",
    "is_overdue",
    "max_extended_due",
]

MAX_EXTENSION_MONTHS = 2


def add_months(moment: datetime, months: int) -> datetime:
    """The same moment ``months`` calendar months later, clamped to the month's last day.

    Parameters
    ----------
    moment : datetime
        The start.
    months : int
        How many months to add (not negative).

    Returns
    -------
    datetime
        The moment, time of day and time zone kept.
    """
    if months < 0:
        raise ValueError("months must not be negative")
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_date(received_at: datetime) -> datetime:
    """When the answer is due: one calendar month after receipt (Art. 12(3)).

    Parameters
    ----------
    received_at : datetime
        When the request was received.

    Returns
    -------
    datetime
        The due moment.
    """
    return add_months(received_at, 1)


def max_extended_due(due_at: datetime) -> datetime:
    """The latest an extension may push the due date to: two further months.

    Parameters
    ----------
    due_at : datetime
        The first due date.

    Returns
    -------
    datetime
        ``due_at`` plus two calendar months.
    """
    return add_months(due_at, MAX_EXTENSION_MONTHS)


def extension_allowed(
    *, due_at: datetime, extended_due_at: datetime | None, new_due_at: datetime, now: datetime
) -> str | None:
    """Whether an extension to ``new_due_at`` may be granted now; the reason if not.

    Art. 12(3): extended once, by up to two further months, and the subject must be told
    within the first month -- so only before the first due date.

    Parameters
    ----------
    due_at : datetime
        The first due date.
    extended_due_at : datetime or None
        The extended due date, if the case was extended already.
    new_due_at : datetime
        The due date asked for.
    now : datetime
        The current time.

    Returns
    -------
    str or None
        None when allowed; otherwise why not (for the problem's detail).
    """
    if extended_due_at is not None:
        return "the case was extended already; Art. 12(3) allows one extension"
    if now >= due_at:
        return "an extension must be decided before the first due date"
    if new_due_at <= due_at:
        return "the new due date must be later than the current one"
    if new_due_at > max_extended_due(due_at):
        return "an extension may add at most two months"
    return None


def effective_due(due_at: datetime, extended_due_at: datetime | None) -> datetime:
    """The due date in force: the extended one if there is one.

    Parameters
    ----------
    due_at : datetime
        The first due date.
    extended_due_at : datetime or None
        The extended due date.

    Returns
    -------
    datetime
        The date the answer is due.
    """
    return extended_due_at or due_at


def is_overdue(due_at: datetime, extended_due_at: datetime | None, *, now: datetime) -> bool:
    """Whether a case still open is past its due date.

    Parameters
    ----------
    due_at : datetime
        The first due date.
    extended_due_at : datetime or None
        The extended due date.
    now : datetime
        The current time.

    Returns
    -------
    bool
        True once the due date in force has passed.
    """
    return now > effective_due(due_at, extended_due_at)
