"""axe-core on both pages in both languages: no serious or critical violation, on the person's
page (with its counterfactuals, rights and the erasure dialog open), the page of a link that does
not open, and the review console (sign-in, queue and a case)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.web.axe import axe_missing, severe_violations
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.support import block, english_left
from tests.api.web.test_subject_page import assert_clean
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser

CONSOLE = {"en": "Sign in to review", "es": "Inicie sesión para revisar"}


@pytest.fixture(autouse=True)
def _axe_installed() -> None:
    if reason := axe_missing():
        pytest.skip(reason)


def _assert_accessible(page: Page, where: str) -> None:
    found = severe_violations(page)
    assert found == [], f"{where}: {found}"


def _in(link: str, locale: str) -> str:
    """The person's link with the language named in the address."""
    return link.replace("/subject/#", f"/subject/?lang={locale}#", 1)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_persons_page_has_no_serious_accessibility_violation(
    visit: Visit, live: LiveServer, trained: TrainedModels, locale: str
) -> None:
    decision = block(live, trained, f"axe-person-{locale}", locale=locale)
    page = visit.page
    page.goto(_in(decision["notice"]["link"], locale))
    expect(page.locator("#counterfactual-list li").first).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", locale)
    _assert_accessible(page, f"person's page ({locale})")
    left = english_left(page)
    assert (left == []) if locale == "es" else ("Download (JSON)" in left), left

    page.locator("#erasure-start").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-dialog")).to_be_visible()
    _assert_accessible(page, f"erasure dialog ({locale})")
    page.keyboard.press("Escape")

    page.goto(f"{live.url}/subject/?lang={locale}#decision={decision['id']}&token=x.y")
    expect(page.locator("#link-trouble")).to_be_visible()
    _assert_accessible(page, f"a link that does not open ({locale})")
    assert_clean(visit, live)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_review_console_has_no_serious_accessibility_violation(
    visit: Visit, live: LiveServer, trained: TrainedModels, locale: str
) -> None:
    decision = block(live, trained, f"axe-console-{locale}", legal_basis="none")
    page = visit.page
    page.goto(f"{live.url}/review/?lang={locale}")
    expect(page.locator("h1")).to_have_text(CONSOLE[locale])
    _assert_accessible(page, f"console sign-in ({locale})")

    page.locator("#field-key").fill(live.keys["reviewer"])
    page.keyboard.press("Enter")
    expect(page.locator("#queue")).to_be_visible()
    _assert_accessible(page, f"console queue ({locale})")

    cases = httpx.get(
        f"{live.url}/v1/reviews/cases",
        headers={"Authorization": f"Bearer {live.keys['reviewer']}"},
        timeout=30,
    ).json()
    case_id = next(c["case_id"] for c in cases if c["decision_id"] == decision["id"])
    page.goto(f"{live.url}/review/?lang={locale}#case={case_id}")
    page.locator("#claim").click()
    expect(page.locator("#resolve-form")).to_be_visible()
    expect(page.locator("#counterfactuals tbody tr").first).to_be_visible()
    _assert_accessible(page, f"console case ({locale})")
    # Every word of the console's own is in the page's language (the check sees English ones).
    left = english_left(page, console=True)
    assert (left == []) if locale == "es" else ("Record the resolution" in left), left
    assert visit.errors == []
    assert visit.context.cookies() == []


def test_the_check_finds_what_it_looks_for(visit: Visit, live: LiveServer) -> None:
    # Not vacuous: an image without a text alternative on the same page is a critical finding.
    page = visit.page
    page.goto(f"{live.url}/review/?lang=es")
    expect(page.locator("#field-key")).to_be_visible()
    page.evaluate(
        "() => { const i = document.createElement('img'); i.src = '/static/icon.svg';"
        " document.getElementById('main').append(i); }"
    )
    assert [v["id"] for v in severe_violations(page)] == ["image-alt"]
