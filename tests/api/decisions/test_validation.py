"""A decision request is checked field by field: whatever the request holds, a 422 naming the
field, never a 500 -- and the fast lane answers exactly as the full route does."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Service, assert_problem
from tests.api.decisions.support import fraud_rows, learner_history
from tests.conftest import TrainedModels

HUGE = 10**400  # float() of it raises OverflowError


def _post(service: Service, model: str, content: bytes) -> Any:
    return service.client.post(
        f"/v1/decisions/{model}",
        content=content,
        headers={**service.auth("shop"), "Content-Type": "application/json"},
    )


def _fields(response: Any) -> list[str]:
    return [problem["field"] for problem in assert_problem(response, 422)["errors"]]


# (feature, value, message): a value of each kind the storage or the model cannot take.
FEATURE_EDGES = [
    ("amount", HUGE, "must be a finite number within the range of a 64-bit float"),
    ("amount", -HUGE, "must be a finite number within the range of a 64-bit float"),
    ("device_age_days", 10**30, "must be a whole number within the 64-bit range"),
    ("merchant_category", "electro\x00nics", "must not contain NUL characters"),
]


def test_a_value_the_storage_cannot_hold_is_named(service: Service, trained: TrainedModels) -> None:
    _, safe = fraud_rows(trained)
    good = {"subject_ref": "c-edge", "legal_basis": "law", "features": safe}
    for feature, value, message in FEATURE_EDGES:
        body = {**good, "features": {**safe, feature: value}}
        problems = assert_problem(_post(service, "fraud", json.dumps(body).encode()), 422)
        assert problems["errors"] == [{"field": f"features.{feature}", "message": message}]
        # The same client goes on: the refusal left nothing broken behind it.
        assert _post(service, "fraud", json.dumps(good).encode()).status_code == 201
    for subject_ref in ["   ", "cust\x00omer", "x" * 257]:
        body = {**good, "subject_ref": subject_ref}
        assert _fields(_post(service, "fraud", json.dumps(body).encode())) == ["subject_ref"]


def test_unknown_history_items_and_events_are_named(
    service: Service, trained: TrainedModels
) -> None:
    history = learner_history(trained)[:3]
    history[1] = {**history[1], "item_id": "no-such-course"}
    history[2] = {**history[2], "event": "bookmark"}
    body = {"subject_ref": "learner-edge", "legal_basis": "none", "history": history}
    response = _post(service, "recommendation", json.dumps(body).encode())
    problems = assert_problem(response, 422)["errors"]
    assert [p["field"] for p in problems] == ["history.1.item_id", "history.2.event"]
    assert "view" in problems[1]["message"]
    nul = [{**history[0], "event": "vi\x00ew"}]
    response = _post(service, "recommendation", json.dumps({**body, "history": nul}).encode())
    assert _fields(response) == ["history.0.event"]


def _bodies(trained: TrainedModels) -> list[tuple[str, bytes]]:
    _, safe = fraud_rows(trained)
    good = {"subject_ref": "c-lanes", "legal_basis": "law", "features": safe}
    features = json.dumps(safe)[1:-1]
    return [
        ("fraud", json.dumps(good).encode()),
        ("fraud", b'{"subject_ref": "c", "legal_basis": "law", "features": {' + b"}"),
        ("fraud", b'{"subject_ref": "c", "legal_basis": "law", "features": {'),
        (
            "fraud",
            b'{"subject_ref": "c", "legal_basis": "law", "features": {'
            + features.encode()
            + b', "amount": 1}}',
        ),
        ("fraud", b'{"subject_ref": "c", "subject_ref": "d", "legal_basis": "law"}'),
        ("fraud", json.dumps({**good, "features": {**safe, "hour": HUGE}}).encode()),
        ("fraud", json.dumps({**good, "features": {**safe, "amount": float("nan")}}).encode()),
        ("fraud", json.dumps({**good, "subject_ref": "\x00"}).encode()),
        ("fraud", json.dumps({**good, "subject_ref": " "}).encode()),
        (
            "recommendation",
            json.dumps(
                {
                    "subject_ref": "l",
                    "legal_basis": "none",
                    "history": [{"item_id": "?", "event": "?"}],
                }
            ).encode(),
        ),
    ]


def _comparable(response: Any) -> tuple[int, Any]:
    body = response.json()
    if response.status_code == 201:
        return 201, (body["outcome"], body["score"], body["contributions"])
    return response.status_code, {k: v for k, v in body.items() if k != "instance"}


def test_the_fast_lane_answers_as_the_route_does(service: Service, trained: TrainedModels) -> None:
    keys = service.context.keys
    shop = service.keys["shop"]
    for model, content in _bodies(trained):
        keys.invalidate()  # an uncached key: the fast lane declines, the route answers
        assert keys.cached(shop) is None
        routed = _post(service, model, content)
        assert routed.status_code < 500
        assert keys.cached(shop) is not None  # cached now: the fast lane takes the next one
        fast = _post(service, model, content)
        assert _comparable(fast) == _comparable(routed), content
