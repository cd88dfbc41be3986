"""End to end in Chromium: a person contests from their notice's link, a reviewer overturns the
decision in the console, and the person sees the new outcome and the reasons.

The person's statement is an attack on the reviewer's console (stored script injection); the
test asserts that nothing of it runs, in either page, and that it is shown as the text it is.
With ``GLASSBOX_SCREENSHOTS=<folder>`` the run also saves the pictures the README shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from api.web.assets import CONTENT_SECURITY_POLICY
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_subject_page import decide, subject_view
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser

ATTACK = (
    "I was travelling. <img src=x onerror=\"window.__pwned=1;alert('img')\">"
    "<script>window.__pwned=2;alert('script')</script>"
    '<svg onload="window.__pwned=3"></svg> & "quotes" stay text'
)
RATIONALE = (
    "The card was present and the amount was 42 EUR: the customer's corrections are borne out "
    "by the merchant's receipt. <b>Not</b> fraud."
)


def _snapshot(page: Page, name: str) -> None:
    folder = os.environ.get("GLASSBOX_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _assert_not_pwned(page: Page) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"


def sign_in(page: Page, live: LiveServer, who: str) -> None:
    """Sign in to the review console with the key of ``who``."""
    page.goto(f"{live.url}/review/")
    page.get_by_label("Your reviewer API key").fill(live.keys[who])
    page.get_by_role("button", name="Sign in").click()


def test_a_contest_is_reviewed_by_a_person_and_the_person_sees_why(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-contester")
    spanish = subject_view(live, decision, "es")

    # --- the person reads the explanation, in Spanish, and contests -----------------------------
    person = visit.page
    person.goto(decision["notice"]["link"])
    person.locator("#outcome").wait_for()
    assert person.locator("svg.chart g.factor").count() == len(decision["factors"])
    person.get_by_role("button", name="Español").click()
    expect(person.locator("html")).to_have_attribute("lang", "es")
    expect(person.locator("#sentences li")).to_have_text(
        [f["sentence"] for f in spanish["factors"]]
    )

    contest = person.locator("#contest-form")
    statement = contest.get_by_label("Su punto de vista")
    amount = contest.get_by_label("importe de la operación (EUR)")
    submit = person.get_by_role("button", name="Enviar a una persona para su revisión")
    # An empty statement: the service's error is shown next to the statement.
    submit.click()
    expect(person.locator("#field-statement-error")).to_be_visible()
    expect(statement).to_have_attribute("aria-invalid", "true")
    expect(statement).to_be_focused()
    # A correction out of range: its error is shown next to that correction.
    statement.fill(ATTACK)
    amount.fill("-5")
    submit.click()
    expect(person.locator("#field-corrections-amount-error")).to_be_visible()
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(person.locator("#field-statement-error")).to_be_hidden()
    amount.fill("42")
    contest.get_by_label("tarjeta presente físicamente").select_option("true")
    submit.click()

    expect(person.locator("#case-state")).to_contain_text("Recibida")
    expect(person.locator("#case-heading")).to_be_focused()
    expect(person.locator("#case-statement")).to_have_text(ATTACK)
    expect(person.locator("#case-due")).not_to_be_empty()
    assert person.locator("#contest-form").count() == 0
    _assert_not_pwned(person)

    # --- a reviewer claims the case and overturns the decision --------------------------------
    reviewer = visit.new_page()
    sign_in(reviewer, live, "reviewer")
    row = reviewer.locator("#queue tbody tr", has_text="Contested by the person").filter(
        has=reviewer.locator("td", has_text="fraud")
    )
    expect(row.first).to_be_visible()
    due_dates = reviewer.locator("#queue tbody tr td:first-child").all_text_contents()
    assert due_dates, "the queue is empty"
    # Only auditors and admins read reviewer metrics: the link is not offered to a reviewer.
    assert reviewer.get_by_role("link", name="Reviewer metrics").count() == 0

    case_id = _open_our_case(reviewer, decision["id"], live)
    expect(reviewer.locator("#statement")).to_have_text(ATTACK)
    _assert_not_pwned(reviewer)
    # All contributions, one bar each; both re-scores; the corrections beside the values used.
    explained = len(decision["contributions"])
    expect(reviewer.locator("svg.chart g.factor")).to_have_count(explained)
    rescores = reviewer.locator("#rescores tbody tr")
    expect(rescores).to_have_count(2)
    expect(rescores.nth(0)).to_contain_text("The deciding version")
    expect(rescores.nth(0)).to_contain_text("with the person's corrections")
    expect(rescores.nth(1)).to_contain_text("Today's champion")
    expect(reviewer.locator("#corrections")).to_contain_text("amount")
    expect(reviewer.locator("#case-state")).to_have_text("Claimed")

    reviewer.get_by_label("Overturn it").check()
    reviewer.get_by_label("Outcome").select_option("approve")
    rationale = reviewer.get_by_label("Rationale (required)")
    rationale.fill(RATIONALE)
    _snapshot(reviewer, "review-case.png")
    rationale.fill("   ")
    record = reviewer.get_by_role("button", name="Record the resolution")
    record.click()  # no rationale: refused, and said next to the rationale
    expect(reviewer.locator("#field-rationale-error")).to_be_visible()
    expect(rationale).to_be_focused()
    rationale.fill(RATIONALE)
    record.click()
    # Overturning a significant decision takes four eyes (the fraud policy): a proposal first.
    expect(reviewer.locator("#case-state")).to_have_text("Awaiting a second reviewer")
    expect(reviewer.locator("#proposal")).to_contain_text("overturn")
    expect(reviewer.locator("#proposal")).to_contain_text(RATIONALE)
    second = visit.new_page()
    sign_in(second, live, "reviewer2")
    expect(second.locator("#queue")).to_be_visible()
    second.goto(f"{live.url}/review/#case={case_id}")
    second.get_by_role("button", name="Approve (as a second reviewer)").click()
    expect(second.locator("#case-state")).to_have_text("Resolved")
    expect(second.locator("#resolution")).to_contain_text("overturn")
    expect(second.locator("#resolution")).to_contain_text(RATIONALE)
    _assert_not_pwned(second)

    # Reviewer metrics: a reviewer is told clearly; an auditor reads the table.
    reviewer.goto(f"{live.url}/review/#metrics")
    expect(reviewer.get_by_role("alert")).to_contain_text("auditors and admins only")
    auditor = visit.new_page()
    sign_in(auditor, live, "auditor")
    expect(auditor.get_by_role("heading", name="Reviewer metrics")).to_be_visible()
    expect(auditor.locator("#metrics tbody tr", has_text="reviewer")).not_to_have_count(0)

    # --- the person comes back and sees the human outcome and the reasons -----------------------
    person.reload()
    expect(person.locator("#case-state")).to_have_text("Decidida por una persona")
    expect(person.locator("#outcome")).to_have_text(spanish["outcome_labels"]["approve"])
    expect(person.locator("#previous-outcome")).to_have_text(spanish["outcome_label"])
    expect(person.locator("#case-rationale")).to_have_text(RATIONALE)
    expect(person.locator("#case-statement")).to_have_text(ATTACK)
    person.get_by_role("button", name="English").click()
    expect(person.locator("#case-state")).to_have_text("Decided by a person")
    _snapshot(person, "subject-page.png")
    _assert_not_pwned(person)
    # The reviewer's outcome is a decision of its own, with the review behind it.
    person.get_by_role("link", name="See the decision the reviewer took").click()
    expect(person.locator("#human-review")).to_contain_text("overturned")
    assert person.locator("#contest-form").count() == 0

    # --- nothing ran, nothing was blocked, and no cookie anywhere ------------------------------
    assert visit.dialogs == [], "a script from the statement ran"
    assert visit.errors == [], "console errors (CSP violations, script errors)"
    assert visit.context.cookies() == []
    assert live.watch.cookies == []
    seen = set()
    for response in visit.responses:
        headers = response.all_headers()
        assert "set-cookie" not in headers, response.url
        path = urlsplit(response.url).path
        seen.add(path.split("/")[1])
        if path.startswith(("/subject/", "/review/", "/static/")):
            assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, path
            assert headers.get("x-content-type-options") == "nosniff", path
    assert {"subject", "review", "static", "v1"} <= seen
    assert case_id


def _open_our_case(reviewer: Page, decision_id: str, live: LiveServer) -> str:
    """Claim, from the queue, the case opened on ``decision_id``; return its id."""
    queue = httpx.get(
        f"{live.url}/v1/reviews/cases",
        headers={"Authorization": f"Bearer {live.keys['reviewer']}"},
        timeout=30,
    ).json()
    case_id: str = next(c["case_id"] for c in queue if c["decision_id"] == decision_id)
    reviewer.locator(f"#queue tr[data-case='{case_id}']").get_by_role(
        "button", name="Claim"
    ).click()
    expect(reviewer.locator("#case-title")).to_have_text(f"Case {case_id[:8]}")
    return case_id


def test_a_person_withdraws_their_contest(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-withdrawer")
    page = visit.page
    page.goto(decision["notice"]["link"])
    page.get_by_label("Your point of view").fill("On second thought, it was right.")
    page.get_by_role("button", name="Send to a person for review").click()
    expect(page.locator("#case-state")).to_contain_text("Received")
    page.get_by_role("button", name="Withdraw my contest").click()
    expect(page.locator("#case-state")).to_have_text("Withdrawn")
    # Withdrawn, the decision can be contested again.
    expect(page.get_by_role("button", name="Send to a person for review")).to_be_visible()
    assert visit.errors == []
    assert visit.context.cookies() == []
