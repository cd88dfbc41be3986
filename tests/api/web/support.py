"""What the page tests share: a fraud block a person could have avoided, a token of the same
person issued at another time, keyboard moves, and the check that a Spanish page shows none of
its own English words."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from api.core.tokens import issue_subject_token
from tests.api.decisions.support import narrow_block
from tests.api.web.live import LiveServer
from tests.conftest import TrainedModels

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["block", "english_left", "tab_to", "token_issued"]


def block(live: LiveServer, trained: TrainedModels, subject: str, **extra: Any) -> Any:
    """A fraud block a person could have avoided: it comes with what would have changed it."""
    body = {
        "subject_ref": subject,
        "features": narrow_block(trained),
        "legal_basis": "contract",
        **extra,
    }
    response = httpx.post(
        f"{live.url}/v1/decisions/fraud",
        json=body,
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "block" and decision["counterfactuals"], decision
    return decision


def token_issued(live: LiveServer, decision: Any, *, ago: timedelta) -> str:
    """A token of the decision's person for the decision, issued ``ago`` (valid for 90 days
    from then: older than that, it has expired)."""
    head = decision["notice"]["subject_token"].split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    token, _ = issue_subject_token(
        live.settings.token_signing_key.get_secret_value(),
        pseudonym=claims["sub"],
        decision_id=decision["id"],
        ttl=timedelta(days=90),
        now=datetime.now(UTC) - ago,
    )
    return token


def tab_to(page: Page, selector: str, *, limit: int = 250) -> None:
    """Move the keyboard focus to ``selector`` with Tab alone, as a keyboard user would."""
    target = page.locator(selector)
    target.wait_for()
    for _ in range(limit):
        if target.evaluate("node => node === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


# Every English string of a page's own table that the Spanish one words differently, found as a
# whole text or label on the page: none may be left on a Spanish page.
_ENGLISH_LEFT = """async ([path, name]) => {
  const table = await import(path);
  const flat = (v) => typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(flat)
    : v && typeof v === "object" ? Object.values(v).flatMap(flat) : [];
  const english = new Set(flat(table[name]("en")));
  for (const text of flat(table[name]("es"))) english.delete(text);
  const left = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    if (english.has(text)) left.push(text);
  }
  for (const node of document.querySelectorAll("[aria-label]")) {
    if (english.has(node.getAttribute("aria-label"))) left.push(node.getAttribute("aria-label"));
  }
  return left;
}"""


def english_left(page: Page, *, console: bool = False) -> list[str]:
    """The page's own English words still shown on it (its Spanish table words them otherwise)."""
    table = ("/static/review_text.js", "reviewText") if console else ("/static/i18n.js", "strings")
    left: list[str] = page.evaluate(_ENGLISH_LEFT, list(table))
    return left
