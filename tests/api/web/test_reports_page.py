"""The DPO's page in Chromium: the latest report of each model and its alerts, in English and
Spanish; the signed report downloaded as PDF and checked; other roles turned away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from api.decisions.models import Decision
from api.reports.service import build_report, record_report, report_bytes
from api.reviews.contest import create_contest
from api.reviews.health import review_policy
from api.reviews.queue import claim_case
from api.reviews.resolution import resolve_case
from tests.api.reviews.support import LEASE
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_subject_page import assert_clean, decide
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser


def _rubber_stamped_report(live: LiveServer, trained: TrainedModels) -> str:
    """Twelve contests upheld in three seconds each, and today's report of fraud; its hash."""
    kek = live.settings.key_encryption_key.get_secret_value()
    now = datetime.now(UTC)
    for n in range(12):
        decision = decide(live, trained, f"browser-report-{n}")
        with live.context.sessions() as session:
            pseudonym = session.execute(
                select(Decision.subject_pseudonym).where(Decision.decision_id == decision["id"])
            ).scalar_one()
            session.rollback()
            case = create_contest(
                session,
                pseudonym=pseudonym,
                decision_id=decision["id"],
                statement="It was me.",
                corrections=None,
                models=live.context.models,
                kek=kek,
            )
            claim_case(session, case_id=case.case_id, reviewer="page-stamper", lease=LEASE)
            resolve_case(
                session,
                case_id=case.case_id,
                reviewer="page-stamper",
                resolution="uphold",
                outcome=None,
                rationale="Fine.",
                models=live.context.models,
                kek=kek,
                now=datetime.now(UTC) + timedelta(seconds=3),
            )
    with live.context.sessions() as session:
        report = build_report(
            session,
            model="fraud",
            start=(now - timedelta(days=1)).date(),
            end=(now + timedelta(days=1)).date(),
            models=live.context.models,
            review_policy=review_policy(live.settings),
        )
    with live.context.sessions() as session:
        stored = record_report(
            session,
            content=report_bytes(report),
            signing_key=live.settings.checkpoint_signing_key.get_secret_value(),
        )
    return stored.sha256


def test_the_dpo_reads_the_latest_report_and_its_alerts_in_both_languages(
    visit: Visit, live: LiveServer, trained: TrainedModels, tmp_path: Path
) -> None:
    digest = _rubber_stamped_report(live, trained)
    page = visit.page
    page.goto(f"{live.url}/reports/")
    page.get_by_label("Your auditor API key").fill(live.keys["auditor"])
    page.get_by_role("button", name="Sign in").click()
    card = page.locator("section[data-model='fraud']")
    expect(card).to_be_visible()
    expect(card.locator(".hash")).to_have_text(digest)
    stamping = card.locator("tr[data-kind='rubber_stamping']")
    expect(stamping).to_contain_text("Rubber-stamping")
    expect(stamping).to_contain_text("reviewer page-stamper")
    expect(stamping).to_contain_text("0.950")

    card.get_by_role("button", name="Check the signature and the log").click()
    expect(card.locator(".message-ok")).to_contain_text("signed with this service's checkpoint")

    page.get_by_role("button", name="Español").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revisión periódica de los modelos")
    expect(stamping).to_contain_text("Aprobación automática")
    with page.expect_download() as downloading:
        card.get_by_role("button", name="Descargar el informe (PDF)").click()
    pdf = tmp_path / "report.pdf"
    downloading.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    with page.expect_download() as downloading:
        card.get_by_role("button", name="Descargar el informe (HTML)").click()
    html = tmp_path / "report.html"
    downloading.value.save_as(html)
    text = html.read_text(encoding="utf-8")
    assert '<html lang="es">' in text and digest in text and "<svg" in text
    assert_clean(visit, live)


def test_a_reviewer_key_is_turned_away_from_the_reports(visit: Visit, live: LiveServer) -> None:
    page = visit.page
    page.goto(f"{live.url}/reports/")
    page.get_by_label("Your auditor API key").fill(live.keys["reviewer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-errors")).to_contain_text("for auditors and admins")
    expect(page.locator("section[data-model]")).to_have_count(0)
