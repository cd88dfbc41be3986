"""Fixtures of the page tests.

HTTP-level tests use the usual ``client`` on SQLite only (the pages touch storage no differently
from the API tests, which run on both backends). Browser tests share one live server and one
Chromium per session (``live``, ``browser``); each test gets a fresh browser context and page
(``visit``), and a screenshot of the page is saved under the test's tmp dir when it fails.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.api.web.live import LiveServer, chromium_missing, launch_options, live_server
from tests.conftest import TrainedModels

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Page,
        Response,
    )

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A temp-file SQLite database."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'glassbox.db'}"


@pytest.fixture(scope="session")
def live(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """glassbox on loopback, serving the session's models (one per session: models load once)."""
    if reason := chromium_missing():
        pytest.skip(reason)
    database = tmp_path_factory.mktemp("live") / "glassbox.db"
    with live_server(database_url=f"sqlite:///{database}", tracking_uri=trained.tracking_uri) as s:
        yield s


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, one for the session."""
    if reason := chromium_missing():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(**launch_options())
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visit:
    """A fresh browser context and page, with what happened in them."""

    context: BrowserContext
    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def new_page(self) -> Page:
        """Another tab in the same context (sessionStorage is per tab, as in a real browser)."""
        page = self.context.new_page()
        self._watch(page)
        return page

    def _watch(self, page: Page) -> None:
        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            # CSP violations and script errors are reported as console errors; an API answer
            # of 4xx is logged too, as a failed resource, and is the test's own business.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("response", lambda response: self.responses.append(response))


def _visit(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path, *, locale: str
) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale=locale)
    context.set_default_timeout(15_000)
    page = context.new_page()
    visit = Visit(context=context, page=page)
    visit._watch(page)
    try:
        yield visit
    finally:
        if request.node.stash.get(_FAILED, False):
            for index, open_page in enumerate(context.pages):
                path = tmp_path / f"failure-{index}.png"
                open_page.screenshot(path=str(path), full_page=True)
                print(f"screenshot of the failed page: {path}")
        context.close()


@pytest.fixture
def visit(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Visit]:
    """A new, empty browser context (no cookies, no storage) and a page in it."""
    yield from _visit(browser, request, tmp_path, locale="en-GB")


@pytest.fixture
def visit_es(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Visit]:
    """The same in a browser whose language is Spanish (``navigator.language`` is ``es-ES``)."""
    yield from _visit(browser, request, tmp_path, locale="es-ES")
