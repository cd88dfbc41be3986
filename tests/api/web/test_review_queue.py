"""The review queue in Chromium: by due date, overdue cases flagged in words, claimed from the
keyboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api.decisions.models import Decision
from api.reviews.contest import create_contest
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_contest_and_review import sign_in
from tests.api.web.test_subject_page import decide
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser


def _contest(live: LiveServer, decision_id: str, *, days_ago: int) -> None:
    # Received weeks ago: the only way to an overdue case without waiting a month.
    kek = live.settings.key_encryption_key.get_secret_value()
    with live.context.sessions() as session:
        pseudonym = session.execute(
            select(Decision.subject_pseudonym).where(Decision.decision_id == decision_id)
        ).scalar_one()
        session.rollback()
        create_contest(
            session,
            pseudonym=pseudonym,
            decision_id=decision_id,
            statement="Please look at this again.",
            corrections=None,
            models=live.context.models,
            kek=kek,
            now=datetime.now(UTC) - timedelta(days=days_ago),
        )


def test_the_queue_is_sorted_by_due_date_and_flags_overdue_cases(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    fresh = decide(live, trained, "browser-queue-fresh")
    late = decide(live, trained, "browser-queue-late")
    _contest(live, fresh["id"], days_ago=0)
    _contest(live, late["id"], days_ago=45)
    queue = httpx.get(
        f"{live.url}/v1/reviews/cases",
        headers={"Authorization": f"Bearer {live.keys['reviewer']}"},
        timeout=30,
    ).json()
    case_of = {c["decision_id"]: c["case_id"] for c in queue}

    page = visit.page
    sign_in(page, live, "reviewer")
    rows = page.locator("#queue tbody tr")
    expect(rows.first).to_be_visible()
    order = [row.get_attribute("data-case") for row in rows.all()]
    assert order.index(case_of[late["id"]]) < order.index(case_of[fresh["id"]])
    due = [
        datetime.strptime(text.split("⚠")[0].strip(), "%d %b %Y")
        for text in page.locator("#queue tbody tr td:first-child").all_text_contents()
    ]
    assert due == sorted(due)
    late_row = page.locator(f"#queue tr[data-case='{case_of[late['id']]}']")
    fresh_row = page.locator(f"#queue tr[data-case='{case_of[fresh['id']]}']")
    # Overdue is said in words (the icon is decoration, hidden from screen readers).
    expect(late_row.locator(".flag-overdue")).to_have_text("⚠ Overdue")
    expect(late_row.locator(".flag-icon")).to_have_attribute("aria-hidden", "true")
    expect(fresh_row.locator(".flag-overdue")).to_have_count(0)
    expect(page.locator("#queue-summary")).to_contain_text("overdue")

    # Claimed from the keyboard: the button is a real button.
    late_row.get_by_role("button", name="Claim").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#case-title")).to_have_text(f"Case {case_of[late['id']][:8]}")
    expect(page.locator("#case-state")).to_have_text("Claimed")
    expect(page.locator(".flag-overdue")).to_have_text("⚠ Overdue")
    assert visit.errors == []
    assert visit.context.cookies() == []
    assert live.watch.cookies == []
