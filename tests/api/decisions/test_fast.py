"""The fast lane answers every request exactly as the full route does.

One running app, one database: each request is sent twice, once with the fast lane switched off
(the access-log layer's ``fast_routes`` emptied: every request goes through FastAPI's routing)
and once with it on, and the two answers are compared -- status, the headers that carry meaning,
and the body, with what legitimately differs between two requests (ids, times, tokens, the
request id) set aside. The lane either answers itself or declines to the route; which one did is
watched too, so that the comparison covers both the lane's own answers and its refusals.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import text

from api.core.access_log import AccessLogMiddleware
from api.core.fastpath import FastRoute
from api.core.settings import Settings
from api.core.tokens import issue_subject_token
from tests.api.conftest import Service, serve
from tests.api.decisions.support import fraud_rows, learner_history
from tests.conftest import TrainedModels

# Headers whose value is part of the answer (x-request-id is checked for presence only).
HEADERS = ("content-type", "www-authenticate", "allow", "location", "retry-after")


class _Counting:
    """An ASGI app or a fast route's handler, counting its calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return await self.inner(*args)


@dataclass
class Lanes:
    """Send a request by the full route or by the fast lane, and tell which one answered."""

    service: Service
    layer: AccessLogMiddleware
    full_stack: _Counting
    lane: _Counting
    fast_routes: tuple[FastRoute, ...]

    def send(self, request: Callable[[], Response], *, fast: bool) -> tuple[Response, str]:
        self.layer.fast_routes = self.fast_routes if fast else ()
        # The lane takes only keys in the cache (for 5 s): they are put there anew each time.
        for who in ("shop", "crm", "reviewer"):
            self.service.context.keys.authenticate(self.service.keys[who])
        routed, laned = self.full_stack.calls, self.lane.calls
        try:
            response = request()
        finally:
            self.layer.fast_routes = self.fast_routes
        if self.full_stack.calls > routed:
            return response, "route"
        # Neither: the access-log layer refused the body (413) before any route saw it.
        return response, ("lane" if self.lane.calls > laned else "edge")


@contextmanager
def _counted(service: Service) -> Iterator[Lanes]:
    # The access-log layer in the running app's middleware, its fast routes and what it wraps.
    layer: Any = service.client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, AccessLogMiddleware):
        layer = layer.app
    (decision,) = layer.fast_routes
    lane = _Counting(decision.handler)
    full_stack = _Counting(layer.app)
    layer.app = full_stack
    counted = (FastRoute(decision.method, decision.path, decision.template, lane),)
    try:
        yield Lanes(service, layer, full_stack, lane, counted)
    finally:
        layer.app, layer.fast_routes = full_stack.inner, (decision,)


@pytest.fixture
def lanes(service: Service) -> Iterator[Lanes]:
    """The service, with the access-log layer's full stack and fast lane counted."""
    with _counted(service) as counted:
        yield counted


def _without_request_id(value: Any, request_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(request_id, "<request id>")
    if isinstance(value, dict):
        return {k: _without_request_id(v, request_id) for k, v in value.items()}
    return value


def _comparable(response: Response) -> dict[str, Any]:
    request_id = response.headers["x-request-id"]
    headers = {name: response.headers.get(name) for name in HEADERS}
    body: Any = response.json()
    if response.status_code == 201:
        # A new decision each time: its id, time and notice (token, link) are its own.
        body = {k: v for k, v in body.items() if k not in {"id", "created_at", "notice"}}
    else:
        headers["content-length"] = response.headers["content-length"]
    if headers["retry-after"] is not None:
        # Seconds until a token is back, a moment later: at most one less.
        headers["retry-after"] = "1" if int(headers["retry-after"]) <= 2 else "more"
    return {
        "status": response.status_code,
        "headers": headers,
        "body": _without_request_id(body, request_id),
    }


def _authorization(value: str) -> dict[str, str]:
    return {"Authorization": value}


def _post(
    service: Service,
    who: str | None,
    *,
    model: str = "fraud",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Callable[[], Response]:
    sent = {**(service.auth(who) if who else {}), **(headers or {})}
    return lambda: service.client.post(f"/v1/decisions/{model}", headers=sent, **kwargs)


Request = tuple[str, Callable[[], Response], str]


def _requests(service: Service, trained: TrainedModels, decision_id: str) -> list[Request]:
    """(what it is, the request, who answers it when the lane is on)."""
    _, safe = fraud_rows(trained)
    good = {"subject_ref": "c-lanes", "legal_basis": "contract", "features": safe}
    learner = {
        "subject_ref": "l-lanes",
        "legal_basis": "none",
        "history": learner_history(trained)[:3],
    }
    token, _ = issue_subject_token(
        service.settings.token_signing_key.get_secret_value(),
        pseudonym=service.pseudonym("c-lanes"),
        decision_id=decision_id,
        ttl=timedelta(days=1),
    )
    as_json = {"Content-Type": "application/json"}
    no_basis = {k: v for k, v in good.items() if k != "legal_basis"}
    repeated = b'{"subject_ref": "a", "subject_ref": "b", "legal_basis": "law"}'
    return [
        ("a decision", _post(service, "shop", json=good), "lane"),
        ("a recommendation", _post(service, "crm", json=learner, model="recommendation"), "lane"),
        ("bad JSON", _post(service, "shop", content=b'{"subject_ref": ', headers=as_json), "route"),
        ("a repeated key", _post(service, "shop", content=repeated, headers=as_json), "route"),
        ("a missing field", _post(service, "shop", json=no_basis), "route"),
        ("a wrong type", _post(service, "shop", json={**good, "subject_ref": 12}), "route"),
        ("an unknown field", _post(service, "shop", json={**good, "extra": 1}), "route"),
        ("a NUL", _post(service, "shop", json={**good, "subject_ref": "c\x00"}), "route"),
        (
            "a feature of the wrong type",
            _post(service, "shop", json={**good, "features": {**safe, "amount": "x"}}),
            "lane",
        ),
        ("too large", _post(service, "shop", json={**good, "subject_ref": "x" * 70_000}), "edge"),
        (
            "not JSON",
            _post(
                service, "shop", content=json.dumps(good), headers={"Content-Type": "text/plain"}
            ),
            "route",
        ),
        ("a query string", _post(service, "shop", json=good, params={"locale": "es"}), "route"),
        ("no key", _post(service, None, json=good), "lane"),
        ("no key and bad JSON", _post(service, None, content=b"{", headers=as_json), "lane"),
        (
            "another scheme",
            _post(service, None, json=good, headers=_authorization("Basic eDp5")),
            "lane",
        ),
        (
            "a wrong key",
            _post(service, None, json=good, headers=_authorization("Bearer gbx_application_no")),
            "route",
        ),
        ("a wrong role", _post(service, "reviewer", json=good), "lane"),
        (
            "a wrong role and bad JSON",
            _post(service, "reviewer", content=b"{", headers=as_json),
            "lane",
        ),
        (
            "a subject token",
            _post(service, None, json=good, headers=_authorization(f"Bearer {token}")),
            "route",
        ),
        ("no such model", _post(service, "shop", json=good, model="nosuchmodel"), "lane"),
        ("a name no route takes", _post(service, "shop", json=good, model="Fraud"), "route"),
        ("a decision's path", _post(service, "shop", json=good, model=decision_id), "route"),
        (
            "another application's decision",
            lambda: service.client.get(f"/v1/decisions/{decision_id}", headers=service.auth("crm")),
            "route",
        ),
    ]


def test_the_lane_answers_every_request_as_the_route_does(
    lanes: Lanes, service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    mine = {"subject_ref": "c-shop-only", "legal_basis": "contract", "features": safe}
    decision_id = _post(service, "shop", json=mine)().json()["id"]
    for name, request, answered_by in _requests(service, trained, decision_id):
        routed, by = lanes.send(request, fast=False)
        assert by in {"route", "edge"}, name
        fast, by = lanes.send(request, fast=True)
        assert by == answered_by, (name, fast.text)
        assert _comparable(fast) == _comparable(routed), name


def test_a_key_over_its_rate_limit_is_refused_alike(
    service_settings: Settings, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    # One decision at once, then one every two seconds.
    limited = service_settings.model_copy(
        update={"decision_rate_per_second": 0.5, "decision_rate_burst": 1}
    )
    with serve(limited) as service, _counted(service) as lanes:
        body = {"subject_ref": "c-limited", "legal_basis": "law", "features": safe}
        request = _post(service, "crm", json=body)
        assert request().status_code == 201
        routed, _ = lanes.send(request, fast=False)
        fast, by = lanes.send(request, fast=True)
    assert (routed.status_code, by) == (429, "lane")
    assert _comparable(fast) == _comparable(routed)


def test_a_tampered_data_key_gets_the_integrity_problem_on_both_paths(
    lanes: Lanes, service: Service, trained: TrainedModels, caplog: pytest.LogCaptureFixture
) -> None:
    _, safe = fraud_rows(trained)
    request = _post(
        service, "shop", json={"subject_ref": "c-tampered", "legal_basis": "law", "features": safe}
    )
    assert request().status_code == 201  # the person's data key is made with their first decision
    with service.context.engine.begin() as connection:
        changed = connection.execute(
            text(
                "UPDATE subject_key SET wrapped_key = :garbage "
                "WHERE pseudonym = :pseudonym AND wrapped_key IS NOT NULL"
            ),
            {"garbage": b"\x00" * 60, "pseudonym": service.pseudonym("c-tampered")},
        ).rowcount
    assert changed == 1
    caplog.set_level(logging.ERROR, logger="glassbox.integrity")
    routed, _ = lanes.send(request, fast=False)
    fast, by = lanes.send(request, fast=True)
    assert (routed.status_code, by) == (500, "lane")
    assert routed.json()["type"].endswith("/stored-data-integrity")
    assert _comparable(fast) == _comparable(routed)
    alarms = [r for r in caplog.records if r.name == "glassbox.integrity"]
    assert [r.error_id for r in alarms] == [  # type: ignore[attr-defined]
        routed.headers["x-request-id"],
        fast.headers["x-request-id"],
    ]
