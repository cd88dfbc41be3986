"""A recommendation request as an operator sends one: a learner's whole history, thousands of
events long, written out or in compact rows; an event or item the model does not know is named,
never silently dropped; the history's length and the body's size are bounded by a setting that
the refusal names, and the general body limit still holds for every other request."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from api.core.limits import DEFAULT_MAX_BODY_BYTES
from api.core.settings import Settings
from api.decisions.history import HISTORY_EVENT_BYTES
from tests.api.conftest import Service, assert_problem, serve
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

MAX_EVENTS = 2000


@pytest.fixture
def recsys_service(service_settings: Settings) -> Iterator[Service]:
    """The app with a history bound of exactly 2,000 events."""
    with serve(service_settings.model_copy(update={"max_history_events": MAX_EVENTS})) as running:
        yield running


def _long_history(trained: TrainedModels, n: int) -> list[list[Any]]:
    """``n`` events over the whole catalogue, as compact rows with ratings and epoch times."""
    catalogue = trained.files["recommendation"].items
    assert catalogue is not None
    items = pd.read_csv(catalogue)["item_id"].astype(str).tolist()
    events = itertools.cycle(["view", "enrol", "view", "complete", "rate"])
    rows: list[list[Any]] = []
    for n_row, (item, event) in enumerate(zip(itertools.cycle(items), events, strict=False)):
        if n_row == n:
            break
        rating = 4.5 if event == "rate" else None
        rows.append([item, event, rating, 1_788_000_000 + 60 * n_row])
    return rows


def _written_out(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [
        {"item_id": item, "event": event, "rating": rating, "timestamp": stamp}
        for item, event, rating, stamp in rows
    ]


def _recommend(service: Service, history: Any, **extra: Any) -> Any:
    body = {"subject_ref": "learner-long", "legal_basis": "none", "history": history, **extra}
    return service.client.post(
        "/v1/decisions/recommendation",
        content=json.dumps(body).encode(),
        headers={**service.auth("shop"), "Content-Type": "application/json"},
    )


def test_a_history_of_two_thousand_events_is_accepted_in_either_form(
    recsys_service: Service, trained: TrainedModels
) -> None:
    rows = _long_history(trained, MAX_EVENTS)
    written = _written_out(rows)
    # Written out, 2,000 events are far over the general limit: the recommender has its own.
    assert len(json.dumps(written)) > DEFAULT_MAX_BODY_BYTES
    full = _recommend(recsys_service, written, max_items=5)
    assert full.status_code == 201, full.text
    assert full.json()["personalised"] is True
    compact = _recommend(recsys_service, rows, max_items=5)
    assert compact.status_code == 201, compact.text
    # The two forms are the same request.
    assert [i["item_id"] for i in compact.json()["items"]] == [
        i["item_id"] for i in full.json()["items"]
    ]
    # Short rows ([item_id, event]) are accepted too.
    short = _recommend(recsys_service, [row[:2] for row in rows[:3]], max_items=2)
    assert short.status_code == 201, short.text


def test_a_history_longer_than_the_setting_is_refused_naming_it(
    recsys_service: Service, trained: TrainedModels
) -> None:
    response = _recommend(recsys_service, _long_history(trained, MAX_EVENTS + 1))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "history"
    assert "GLASSBOX_MAX_HISTORY_EVENTS" in problem["errors"][0]["message"]
    assert str(MAX_EVENTS) in problem["errors"][0]["message"]


def test_body_limits_are_the_recommenders_own_and_the_general_one_elsewhere(
    recsys_service: Service, trained: TrainedModels
) -> None:
    limit = DEFAULT_MAX_BODY_BYTES + MAX_EVENTS * HISTORY_EVENT_BYTES
    padding = " " * (limit + 1)
    body = '{"subject_ref": "learner-long", "legal_basis": "none",' + padding + '"history": []}'
    response = recsys_service.client.post(
        "/v1/decisions/recommendation",
        content=body.encode(),
        headers={**recsys_service.auth("shop"), "Content-Type": "application/json"},
    )
    detail = assert_problem(response, 413)["detail"]
    assert str(limit) in detail and "GLASSBOX_MAX_HISTORY_EVENTS" in detail
    # A fraud decision as large as a long history is refused at the general limit.
    _, safe = fraud_rows(trained)
    fraud = {"subject_ref": "c-big", "legal_basis": "law", "features": safe}
    padded = json.dumps(fraud)[:-1] + " " * DEFAULT_MAX_BODY_BYTES + "}"
    response = recsys_service.client.post(
        "/v1/decisions/fraud",
        content=padded.encode(),
        headers={**recsys_service.auth("shop"), "Content-Type": "application/json"},
    )
    detail = assert_problem(response, 413)["detail"]
    assert str(DEFAULT_MAX_BODY_BYTES) in detail and "GLASSBOX_MAX_BODY_BYTES" in detail
    assert "HISTORY" not in detail


def test_an_unknown_event_or_item_is_named_in_either_form(
    recsys_service: Service, trained: TrainedModels
) -> None:
    rows = _long_history(trained, 5)
    rows[3] = [rows[3][0], "watched", None, None]
    rows[4] = ["no-such-course", "view"]
    for history in (rows, _written_out([[*row, None, None][:4] for row in rows])):
        problems = assert_problem(_recommend(recsys_service, history), 422)["errors"]
        by_field = {p["field"]: p["message"] for p in problems}
        assert set(by_field) == {"history.3.event", "history.4.item_id"}
        # The known names, as the model was trained with them.
        for known in ("complete", "enrol", "rate", "view"):
            assert known in by_field["history.3.event"]


def test_a_malformed_row_is_named(recsys_service: Service) -> None:
    problems = assert_problem(_recommend(recsys_service, [["I00001"]]), 422)["errors"]
    assert problems[0]["field"].startswith("history.0")
    assert "[item_id, event, rating, timestamp]" in problems[0]["message"]
