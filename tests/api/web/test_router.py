"""The pages over HTTP: served from the package, with a strict policy and never a cookie."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from importlib import resources

import pytest
from fastapi.testclient import TestClient

from api.web.assets import CONTENT_SECURITY_POLICY
from tests.api.conftest import assert_problem

PAGES = ("/subject/", "/review/")
STATIC = resources.files("api.web").joinpath("static")
ASSETS = sorted(entry.name for entry in STATIC.iterdir() if entry.is_file())


class _Tags(HTMLParser):
    """Every start tag with its attributes, and whatever text sits inside <script> or <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in {"script", "style"} else None

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.append(data)


def _assert_hardened(headers: Mapping[str, str]) -> None:
    assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"
    assert headers.get("set-cookie") is None


def test_the_policy_allows_nothing_but_this_service() -> None:
    directives = {
        name: value
        for name, _, value in (part.partition(" ") for part in CONTENT_SECURITY_POLICY.split("; "))
    }
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "font-src"):
        assert directives[name] == "'self'", name
    assert directives["form-action"] == directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_served_hardened_with_only_its_own_assets(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    _assert_hardened(response.headers)
    parser = _Tags()
    parser.feed(response.text)
    assert parser.inline == [], "inline script or style: the policy would block it"
    html = next(attrs for tag, attrs in parser.tags if tag == "html")
    assert html.get("lang") == "en"
    referenced = []
    for tag, attrs in parser.tags:
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not any(name.startswith("on") for name in attrs), f"event handler on <{tag}>"
        for name in ("src", "href"):
            if tag in {"script", "link", "img"} and attrs.get(name):
                referenced.append(attrs[name])
    assert referenced
    for url in referenced:
        assert url is not None and url.startswith("/static/"), f"{url} is not served by glassbox"
        asset = client.get(url)
        assert asset.status_code == 200, url
        _assert_hardened(asset.headers)


@pytest.mark.parametrize("name", ASSETS)
def test_every_asset_is_served_with_its_type(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
    assert response.headers["content-type"].startswith(expected[name.rsplit(".", 1)[1]])
    _assert_hardened(response.headers)


@pytest.mark.parametrize("name", [n for n in ASSETS if n.endswith(".js")])
def test_scripts_build_the_dom_from_text_never_from_markup(name: str) -> None:
    source = STATIC.joinpath(name).read_text(encoding="utf-8")
    # Data reaches the page through textContent and createElement only.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{name} uses {sink}"
    assert not re.search(r"new\s+Function\s*\(", source)
    assert "document.cookie" not in source
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", source), "an external URL"


def test_the_style_sheet_loads_nothing_from_elsewhere() -> None:
    css = STATIC.joinpath("glassbox.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert "url(" not in css


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/missing.js", 404),
        ("/static/..%2Fassets.py", 404),
        ("/static/assets.py", 422),
        ("/static/subject.html", 422),
        ("/static/.hidden.js", 422),
    ],
)
def test_nothing_but_the_assets_is_reachable(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert_problem(response, status)
    assert "set-cookie" not in response.headers


def test_a_page_without_its_slash_is_redirected_to_it(client: TestClient) -> None:
    response = client.get("/subject", follow_redirects=False)
    assert response.status_code in {307, 308}
    assert response.headers["location"].endswith("/subject/")
