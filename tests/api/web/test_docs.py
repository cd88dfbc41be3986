"""The API docs: for API keys only in production; where on, Swagger UI from this service alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.core.security import Role
from api.core.settings import Settings
from api.main import create_app
from tests.api.conftest import assert_problem, bearer
from tests.api.web.conftest import Visit
from tests.api.web.live import live_server
from tests.api.web.test_router import _assert_hardened, _Tags
from tests.conftest import TrainedModels


@pytest.fixture
def docs_client(settings: Settings) -> Iterator[TestClient]:
    """An app with the docs on, as in demo mode or with GLASSBOX_API_DOCS=true."""
    app = create_app(settings.model_copy(update={"api_docs": True}), load_models=False)
    with TestClient(app) as client:
        yield client


def test_production_serves_no_docs_and_the_openapi_document_to_keys_only(
    client: TestClient, api_keys: dict[Role, str]
) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/docs/assets/swagger-ui.css"):
        assert_problem(client.get(path), 404, "not-found")
    assert_problem(client.get("/openapi.json"), 401, "unauthorized")
    for role in Role:
        response = client.get("/openapi.json", headers=bearer(api_keys[role]))
        assert response.status_code == 200, (role, response.text)
        assert response.json()["paths"]["/v1/decisions/{model_name}"]["post"]
        assert "/docs" not in response.json()["paths"]


@pytest.mark.parametrize("how", ["api_docs", "demo_mode"])
def test_docs_when_on_are_served_from_this_service_under_the_strict_policy(
    settings: Settings, how: str
) -> None:
    app = create_app(settings.model_copy(update={how: True}), load_models=False)
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        _assert_hardened(page.headers)
        tags = _Tags()
        tags.feed(page.text)
        assert tags.inline == []  # the policy would block an inline script anyway
        urls = [
            attrs.get("src") or attrs.get("href") or ""
            for tag, attrs in tags.tags
            if tag in {"script", "link"}
        ]
        assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls)
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            _assert_hardened(asset.headers)
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert len(script.content) > 100_000 and b"SwaggerUIBundle" in script.content
        assert client.get("/openapi.json").json()["info"]["title"] == "glassbox"
        assert_problem(client.get("/redoc"), 404, "not-found")
        for name in ("index.html", "swagger-ui.js.map", "..%2Fpyproject.toml"):
            assert client.get(f"/docs/assets/{name}").status_code in {404, 422}


def test_swagger_ui_runs_in_a_browser_without_breaking_the_policy(
    trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory, visit: Visit
) -> None:
    database = tmp_path_factory.mktemp("docs") / "glassbox.db"
    with live_server(
        database_url=f"sqlite:///{database}",
        tracking_uri=trained.tracking_uri,
        overrides={"api_docs": True, "served_models": ["churn"]},
    ) as server:
        visit.page.goto(f"{server.url}/docs")
        visit.page.locator(".opblock").first.wait_for()
        assert visit.page.locator(".opblock").count() > 10
        assert "/v1/decisions/{model_name}" in visit.page.content()
        assert visit.errors == []  # a CSP violation is reported as a console error
        origins = {response.url.split("/", 3)[2] for response in visit.responses}
        assert origins == {server.url.split("/", 3)[2]}
