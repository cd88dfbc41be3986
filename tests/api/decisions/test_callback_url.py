"""A decision's callback URL, judged when the decision is taken: https (http in demo mode), and
no loopback, private, link-local or metadata host unless an admin allowed the application."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.core.settings import Settings
from api.decisions.models import Decision
from api.webhooks.service import allow_private_callbacks
from tests.api._support import application_of
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

LOCAL = [
    "http://127.0.0.1:5432/",  # PostgreSQL's port
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost/",
    "http://2130706433/",  # 127.0.0.1, spelled as one number
]


def _body(trained: TrainedModels, callback_url: str) -> dict[str, Any]:
    risky, _ = fraud_rows(trained)
    return {
        "subject_ref": "customer-1",
        "features": risky,
        "legal_basis": "contract",
        "callback_url": callback_url,
    }


def _decide(client: TestClient, key: str, trained: TrainedModels, url: str) -> Any:
    return client.post("/v1/decisions/fraud", json=_body(trained, url), headers=bearer(key))


def _refused(response: Any) -> None:
    body = assert_problem(response, 422, "invalid-request")
    assert [error["field"] for error in body["errors"]] == ["callback_url"]
    assert "token" not in response.text  # the URL, which may hold a token, is not echoed


def _allow(service: Service, who: str) -> None:
    principal = service.context.keys.authenticate(service.keys[who])
    assert principal is not None
    with service.context.sessions() as session:
        allow_private_callbacks(session, application=application_of(principal))


def test_local_and_plain_http_callbacks_are_refused_outside_demo_mode(
    service: Service, trained: TrainedModels
) -> None:
    # The first request goes down the full app, the rest down the fast lane (the key is cached
    # by then): both refuse alike.
    key = service.keys["shop"]
    for url in LOCAL:
        _refused(_decide(service.client, key, trained, f"{url}?token=secret"))
        _refused(_decide(service.client, key, trained, url.replace("http:", "https:", 1)))
    _refused(_decide(service.client, key, trained, "http://hooks.shop.example/"))
    with service.context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0

    accepted = _decide(service.client, key, trained, "https://hooks.shop.example/g?token=t")
    assert accepted.status_code == 201, accepted.text
    with service.context.sessions() as session:
        stored = session.get(Decision, accepted.json()["id"])
        assert stored is not None and stored.callback_url == "https://hooks.shop.example/g?token=t"


def test_an_admin_allows_one_application_private_callbacks_but_never_metadata(
    service: Service, trained: TrainedModels
) -> None:
    _allow(service, "shop")
    for url in (
        "https://127.0.0.1:8443/hook",
        "https://[::1]/",
        "https://10.0.0.1/",
        "https://localhost/",
    ):
        response = _decide(service.client, service.keys["shop"], trained, url)
        assert response.status_code == 201, response.text
        # Another application is not allowed by the shop's allowance.
        _refused(_decide(service.client, service.keys["crm"], trained, url))
    for url in ("http://127.0.0.1:8443/hook", "https://169.254.169.254/", "https://0.0.0.0/"):
        _refused(_decide(service.client, service.keys["shop"], trained, url))


@pytest.fixture
def demo(service_settings: Settings) -> Iterator[Service]:
    """The service in demo mode."""
    from api.core.security import Role, create_api_key
    from api.main import create_app

    settings = service_settings.model_copy(update={"demo_mode": True})
    with TestClient(create_app(settings)) as client:
        with client.app.state.context.sessions() as session:  # type: ignore[attr-defined]
            shop, _ = create_api_key(session, name="shop", role=Role.APPLICATION)
        yield Service(client=client, settings=settings, keys={"shop": shop})


def test_demo_mode_allows_http_but_not_local_hosts(demo: Service, trained: TrainedModels) -> None:
    response = _decide(demo.client, demo.keys["shop"], trained, "http://hooks.shop.example/")
    assert response.status_code == 201, response.text
    for url in LOCAL:
        _refused(_decide(demo.client, demo.keys["shop"], trained, url))
