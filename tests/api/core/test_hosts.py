"""Only this service's own host names are answered; no Host header is echoed into a redirect."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.core.hosts import trusted_hosts
from api.core.settings import Settings
from api.main import create_app
from tests.api.conftest import assert_problem


@pytest.fixture
def public_client(settings: Settings) -> TestClient:
    """The app at a public address, as deployed; not entered: the lifespan is not needed."""
    deployed = settings.model_copy(
        update={"public_url": "https://decisions.example.org", "allowed_hosts": []}
    )
    return TestClient(
        create_app(deployed, load_models=False), base_url="https://decisions.example.org"
    )


@pytest.mark.parametrize(
    "host", ["evil.example", "decisions.example.org.evil.example", "testserver", ""]
)
def test_another_host_is_refused_with_a_problem_and_never_redirected_to(
    public_client: TestClient, host: str
) -> None:
    # /review is the page without its slash: the redirect's Location was built from Host.
    for path in ("/review", "/review/", "/v1/health"):
        response = public_client.get(path, headers={"host": host}, follow_redirects=False)
        body = assert_problem(response, 400, "bad-request")
        assert "location" not in response.headers
        if host:
            assert host not in response.text
        assert body["detail"]


@pytest.mark.parametrize(
    "host",
    [
        "decisions.example.org",
        "DECISIONS.example.org:443",
        "127.0.0.1:8000",
        "localhost",
        "[::1]:80",
    ],
)
def test_the_public_host_and_loopback_are_answered(public_client: TestClient, host: str) -> None:
    response = public_client.get("/review", headers={"host": host}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/review/")
    assert public_client.get("/v1/health", headers={"host": host}).json() == {"status": "ready"}


def test_the_trusted_names_come_from_the_public_url_and_the_setting(settings: Settings) -> None:
    deployed = settings.model_copy(
        update={
            "public_url": "https://decisions.example.org/base",
            "allowed_hosts": ["lb.internal"],
        }
    )
    assert trusted_hosts(deployed) == {
        "decisions.example.org",
        "lb.internal",
        "127.0.0.1",
        "localhost",
        "::1",
    }
