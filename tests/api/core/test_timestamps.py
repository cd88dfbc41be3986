"""Every timestamp glassbox reads back is aware UTC -- on SQLite too, which stores none."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, column, insert, select, table

from api.core.database import Base
from api.core.timestamps import UTCDateTime, as_utc
from api.rights.models import RightsRequest
from tests.api.conftest import Service
from tests.api.rights.support import me, person_with_everything
from tests.conftest import TrainedModels

# An ISO-8601 date and time, as JSON or CSV carries it (SQLite's own text has a space).
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_WITH_OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def test_as_utc_takes_naive_times_as_utc_and_converts_aware_ones() -> None:
    naive = datetime(2027, 1, 31, 9, 30)
    assert as_utc(naive) == datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    madrid = datetime(2027, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(madrid).tzinfo is UTC and as_utc(madrid) == madrid
    assert as_utc(None) is None


def test_every_timestamp_column_reads_back_aware_in_utc(engine: Engine) -> None:
    columns = [c for t in Base.metadata.tables.values() for c in t.columns]
    stamps = [c for c in columns if c.name.endswith("_at") and "DateTime" in repr(c.type)]
    assert stamps and all(isinstance(c.type, UTCDateTime) for c in stamps), [
        f"{c.table.name}.{c.name}" for c in stamps if not isinstance(c.type, UTCDateTime)
    ]

    # Written in another zone, read back as the same moment in UTC.
    received = datetime(2027, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    with engine.begin() as connection:
        connection.execute(
            insert(RightsRequest).values(
                request_id="r" * 32,
                subject_pseudonym="0" * 64,
                kind="access",
                received_at=received,
                due_at=received + timedelta(days=31),
                status="pending",
                outcome="{}",
            )
        )
        stored = connection.execute(select(RightsRequest.received_at)).scalar_one()
        raw = connection.execute(
            select(table("rights_request", column("received_at")).c.received_at)
        ).scalar_one()
    assert stored.tzinfo is UTC and stored == received
    if engine.dialect.name == "sqlite":
        assert str(raw).startswith("2027-01-31 09:30:00")  # UTC digits, as SQLite compares text


def _moments(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _moments(item)
    elif isinstance(value, list):
        for item in value:
            yield from _moments(item)
    elif isinstance(value, str) and _MOMENT.match(value):
        yield value


def _assert_all_utc(document: Any, where: str) -> None:
    moments = list(_moments(document))
    assert moments, f"{where}: no timestamps at all"
    naive = [m for m in moments if not _WITH_OFFSET.search(m)]
    assert not naive, f"{where}: {naive}"
    for moment in moments:
        assert datetime.fromisoformat(moment).utcoffset() == timedelta(0), (where, moment)


def test_decisions_cases_and_exports_carry_utc_offsets(
    service: Service, trained: TrainedModels
) -> None:
    person = person_with_everything(service, trained, "utc-ursula")
    fraud = person.decisions["fraud"]
    contest = me(
        service,
        "POST",
        f"/decisions/{fraud['id']}/contest",
        fraud["notice"]["subject_token"],
        json={"statement": "That was me."},
    )
    assert contest.status_code == 201, contest.text
    case_id = contest.json()["case_id"]
    client, reviewer = service.client, service.auth("reviewer")

    documents = {
        "decision": client.get(f"/v1/decisions/{fraud['id']}", headers=service.auth("shop")),
        "my decisions": me(service, "GET", "/decisions", person.token),
        "my decision": me(service, "GET", f"/decisions/{fraud['id']}", person.token),
        "my cases": me(service, "GET", "/cases", person.token),
        "my case": me(service, "GET", f"/cases/{case_id}", person.token),
        "queue": client.get("/v1/reviews/cases", headers=reviewer),
        "case": client.get(f"/v1/reviews/cases/{case_id}", headers=reviewer),
        "export": me(service, "GET", "/export", person.token),
        "rights register": client.get("/v1/audit/rights-requests", headers=service.auth("auditor")),
    }
    for where, response in documents.items():
        assert response.status_code == 200, (where, response.text)
        _assert_all_utc(response.json(), where)
    export = documents["export"].json()
    assert export["cases"] and export["cases"][0]["received_at"]  # the cases part is covered

    as_csv = me(service, "GET", "/export.csv", person.token)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    _assert_all_utc([{k: v for k, v in row.items() if k != "data_provided"} for row in rows], "csv")
