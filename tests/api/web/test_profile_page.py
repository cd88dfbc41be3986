"""The person's profiles on their page, in Chromium and in Spanish: a profile's own link opens
the page with every profile built about them and what made it; an objection, made there by
keyboard, erases the profiles whose spec says so and the page says they are erased."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.profiles.test_profiles import buyer
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_subject_page import assert_clean
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser


def _profile(live: LiveServer, trained: TrainedModels, model: str, subject: str) -> Any:
    response = httpx.post(
        f"{live.url}/v1/profiles/{model}",
        json={"subject_ref": subject, "features": buyer(trained, model), "locale": "es"},
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_profile_link_shows_every_profile_and_an_objection_erases_them(
    visit_es: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    value = _profile(live, trained, "lifetime_value", "browser-profiles-1")
    segment = _profile(live, trained, "segments", "browser-profiles-1")
    page = visit_es.page
    page.goto(segment["notice"]["link"])
    card = page.locator("#profiles")
    expect(card.locator("h3")).to_have_text("Perfiles sobre usted")
    items = card.locator("li.decision-item")
    expect(items).to_have_count(2)
    # Each profile with what it says and the sentences of what made it, in Spanish.
    mine = card.locator(f"[data-profile='{segment['id']}']")
    expect(mine).to_contain_text(segment["outcome_label"])
    expect(mine).to_have_class("decision-item current")
    first = segment["factors"][0]["sentence"]
    expect(mine.locator("ul.sentences li").first).to_have_text(first)
    worth = card.locator(f"[data-profile='{value['id']}']")
    expect(worth).to_contain_text(value["outcome_label"])

    # Objection to profiling, by keyboard: the profiles built are erased, and the page says so.
    page.locator("#objection-toggle").focus()
    page.keyboard.press("Enter")
    expect(card.locator("li.decision-item").first).to_contain_text("suprimido")
    expect(card).not_to_contain_text(segment["outcome_label"])
    expect(page.locator("#objection-toggle")).to_be_focused()
    assert_clean(visit_es, live)
