"""Art. 12(3) deadlines, as properties over every date Hypothesis can think of."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.reviews.deadlines import (
    add_months,
    due_date,
    effective_due,
    extension_allowed,
    is_overdue,
    max_extended_due,
)

moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2400, 12, 31), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2027, 1, 31, 10, tzinfo=UTC), datetime(2027, 2, 28, 10, tzinfo=UTC)),
        (datetime(2028, 1, 31, 10, tzinfo=UTC), datetime(2028, 2, 29, 10, tzinfo=UTC)),
        (datetime(2028, 2, 29, 10, tzinfo=UTC), datetime(2028, 3, 29, 10, tzinfo=UTC)),
        (datetime(2027, 12, 15, tzinfo=UTC), datetime(2028, 1, 15, tzinfo=UTC)),
        (datetime(2027, 3, 31, tzinfo=UTC), datetime(2027, 4, 30, tzinfo=UTC)),
        (datetime(2100, 1, 29, tzinfo=UTC), datetime(2100, 2, 28, tzinfo=UTC)),  # not leap
    ],
)
def test_one_calendar_month_at_month_ends_and_leap_days(received: datetime, due: datetime) -> None:
    assert due_date(received) == due


@given(moments)
def test_due_is_the_same_day_next_month_or_its_last_day(received: datetime) -> None:
    due = due_date(received)
    assert due.time() == received.time() and due.tzinfo == received.tzinfo
    assert (due.year * 12 + due.month) - (received.year * 12 + received.month) == 1
    last = calendar.monthrange(due.year, due.month)[1]
    assert due.day == min(received.day, last)
    assert timedelta(days=28) <= due - received <= timedelta(days=31)


@given(moments, moments)
def test_due_dates_keep_the_order_of_receipt(a: datetime, b: datetime) -> None:
    if a <= b:
        assert due_date(a) <= due_date(b)


@given(moments, st.integers(0, 40), st.integers(0, 40))
def test_adding_months_never_goes_backwards(start: datetime, m: int, n: int) -> None:
    assert add_months(start, m) <= add_months(start, m + n)


@given(moments, st.integers(1, 2), st.floats(0, 1))
def test_an_extension_within_two_months_before_the_due_date_is_allowed(
    received: datetime, months: int, fraction: float
) -> None:
    due = due_date(received)
    now = received + (due - received) * fraction * 0.999
    new_due = add_months(due, months)
    assert extension_allowed(due_at=due, extended_due_at=None, new_due_at=new_due, now=now) is None
    assert new_due <= max_extended_due(due)


@given(moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_no_extension_once_the_first_due_date_passed(received: datetime, late: timedelta) -> None:
    due = due_date(received)
    refusal = extension_allowed(
        due_at=due, extended_due_at=None, new_due_at=add_months(due, 1), now=due + late
    )
    assert refusal is not None and "before the first due date" in refusal


@given(moments, st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=60)))
def test_never_more_than_two_months_and_never_twice(received: datetime, over: timedelta) -> None:
    due = due_date(received)
    too_far = max_extended_due(due) + over
    assert extension_allowed(due_at=due, extended_due_at=None, new_due_at=too_far, now=received)
    again = extension_allowed(
        due_at=due, extended_due_at=add_months(due, 1), new_due_at=add_months(due, 2), now=received
    )
    assert again is not None and "one extension" in again


@given(moments, st.one_of(st.none(), st.integers(1, 2)), moments)
def test_overdue_exactly_when_the_due_date_in_force_passed(
    received: datetime, months: int | None, now: datetime
) -> None:
    due = due_date(received)
    extended = add_months(due, months) if months else None
    assert is_overdue(due, extended, now=now) == (now > effective_due(due, extended))
    if extended is not None and due < now <= extended:
        assert not is_overdue(due, extended, now=now)
