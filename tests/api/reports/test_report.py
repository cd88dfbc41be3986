"""The signed periodic report (SQLite and PostgreSQL): made by the command line on a period of
real decisions, contests and reviews; the same bytes when made again and after an erasure;
its hash in the decision log, signed; read by auditors only; HTML with charts in both
languages, and a PDF."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from api.audit.log import verify_log
from api.audit.models import LogEntry
from api.core.crypto import (
    InvalidSignatureError,
    load_signing_key,
    public_key_bytes,
    verify_signature,
)
from api.core.settings import SECRET_NAMES, get_settings
from api.reports.service import signed_message, verify_report
from api.reviews.contest import create_contest
from api.reviews.queue import claim_case
from api.reviews.resolution import resolve_case
from api.rights.erasure import erase_subject
from api.subjects.security import Subject
from tests.api.cli.conftest import invoke
from tests.api.conftest import Service, assert_problem
from tests.api.decisions.support import transactions
from tests.api.monitoring.support import decide_on
from tests.api.reviews.support import LEASE
from tests.conftest import TrainedModels

FIRST, LAST = date(2026, 10, 5), date(2026, 10, 7)
AGES = ("18-24", "25-34", "35-49", "50-64", "65+")


def _groups(n: int) -> list[dict[str, str]]:
    return [{"age_band": AGES[i % len(AGES)], "sex": ("female", "male")[i % 2]} for i in range(n)]


def _period(service: Service, trained: TrainedModels) -> list[dict[str, Any]]:
    """Three days of fraud decisions with stated groups; the rows of the decisions."""
    rows = transactions(trained, 120)
    made = []
    for i, day in enumerate((FIRST, FIRST + timedelta(days=1), LAST)):
        chunk = rows[i * 40 : (i + 1) * 40]
        made += decide_on(
            service, "fraud", chunk, day=day, groups=_groups(len(chunk)), subject=f"p{i}"
        )
    return made


def _reviewed(
    service: Service, decisions: list[dict[str, Any]], *, reviewer: str, seconds: float
) -> int:
    """Each decision contested by its person and upheld by ``reviewer`` in ``seconds``."""
    context = service.context
    kek = context.settings.key_encryption_key.get_secret_value()
    done = 0
    for n, row in enumerate(decisions):
        at = datetime.combine(as_day(row["created_at"]), time(13), tzinfo=UTC) + timedelta(
            minutes=n
        )
        with context.sessions() as session:
            case = create_contest(
                session,
                pseudonym=row["subject_pseudonym"],
                decision_id=row["decision_id"],
                statement="It was me; I was travelling.",
                corrections=None,
                models=context.models,
                kek=kek,
                now=at,
            )
            claim_case(session, case_id=case.case_id, reviewer=reviewer, lease=LEASE, now=at)
            resolve_case(
                session,
                case_id=case.case_id,
                reviewer=reviewer,
                resolution="uphold",
                outcome=None,
                rationale="The inputs match the statement.",
                models=context.models,
                kek=kek,
                now=at + timedelta(seconds=seconds),
            )
        done += 1
    return done


def as_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


@pytest.fixture
def cli_env(service: Service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command line in the running service's deployment: its database, store, secrets."""
    settings = service.settings
    for name in list(os.environ):
        if name.startswith("GLASSBOX_") and name != "GLASSBOX_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GLASSBOX_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("GLASSBOX_DEMO_MODE", "false")
    for name in SECRET_NAMES:
        raw = getattr(settings, name).get_secret_value()
        monkeypatch.setenv(f"GLASSBOX_{name.upper()}", base64.b64encode(raw).decode("ascii"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def _report(out: Path, *extra: str) -> dict[str, Any]:
    code, output = invoke(
        "report", "--model", "fraud", "--from", str(FIRST), "--to", str(LAST), "--out", str(out),
        *extra,
    )  # fmt: skip
    assert code == 0, output
    assert re.search(r"Written to .* in \d+\.\d\d s", output), output
    report: dict[str, Any] = json.loads((out / "report.json").read_bytes())
    return report


def test_the_report_is_signed_logged_deterministic_and_survives_an_erasure(
    service: Service, trained: TrainedModels, cli_env: None, tmp_path: Path
) -> None:
    made = _period(service, trained)
    automated = [row for row in made if row.get("decided_by", "model") == "model"]
    # One reviewer upholds twelve contests in four seconds each; another takes ten minutes.
    _reviewed(service, automated[:12], reviewer="stamper", seconds=4)
    _reviewed(service, automated[12:24], reviewer="reader", seconds=600)

    report = _report(tmp_path / "one")
    first_bytes = (tmp_path / "one" / "report.json").read_bytes()
    assert set(report) == {
        "model", "period", "versions", "outcomes", "drift", "actuals", "fairness", "review",
        "alerts",
    }  # fmt: skip
    assert report["model"] == "fraud"
    assert report["period"] == {"from": "2026-10-05", "to": "2026-10-07", "days": 3}
    assert sum(v["decisions"] for v in report["versions"]) == len(made)
    stamping = [a for a in report["alerts"] if a["kind"] == "rubber_stamping"]
    assert [a["reviewer"] for a in stamping] == ["stamper"]
    assert stamping[0]["value"] == 1.0 and stamping[0]["threshold"] == 0.95
    for alert in report["alerts"]:
        assert {"kind", "value", "threshold"} <= set(alert)
    assert [a["kind"] for a in report["alerts"]] == sorted(a["kind"] for a in report["alerts"])
    # Per monitoring group, counted as each contest opened: small cells hidden.
    by_group = {(g["attribute"], g["group"]): g for g in report["review"]["by_group"]}
    for sex in ("female", "male"):
        assert by_group[("sex", sex)]["decisions"] == 60
        assert by_group[("sex", sex)]["contested"] == 12
        assert by_group[("sex", sex)]["contest_rate"] == 0.2
        assert by_group[("sex", sex)]["resolved"] == 12
        assert by_group[("sex", sex)]["overturn_rate"] is None  # none overturned: hidden
    assert by_group[("age_band", "18-24")]["contested"] is None  # five: too few to show
    rates = report["review"]["rates"]["total"]
    assert rates["contested"] == 24 and rates["decisions"] == len(made)
    assert rates["contest_rate"] == round(24 / len(made), 6)
    # The same period again: the same bytes, and a second signed entry of the same hash.
    _report(tmp_path / "two")
    assert (tmp_path / "two" / "report.json").read_bytes() == first_bytes
    # A person of the period erased: the report still reads the same, byte for byte.
    person = automated[30]
    erased = erase_subject(
        service.context,
        subject=Subject(
            pseudonym=person["subject_pseudonym"],
            token_id="t",
            decision_id=person["decision_id"],
            scopes=frozenset({"erase"}),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            issued_at=datetime.now(UTC),
        ),
    )
    assert erased
    _report(tmp_path / "three")
    assert (tmp_path / "three" / "report.json").read_bytes() == first_bytes

    # Its hash is in the decision log, signed with the checkpoint key; the chain verifies.
    digest = hashlib.sha256(first_bytes).hexdigest()
    signature = json.loads((tmp_path / "one" / "report.sig.json").read_bytes())
    assert signature["sha256"] == digest
    public = public_key_bytes(
        load_signing_key(service.settings.checkpoint_signing_key.get_secret_value())
    )
    message = signed_message(model="fraud", start="2026-10-05", end="2026-10-07", sha256=digest)
    verify_signature(public, message, base64.b64decode(signature["signature"]))
    with pytest.raises(InvalidSignatureError):
        verify_signature(
            public, message.replace(b"fraud", b"churn"), base64.b64decode(signature["signature"])
        )
    with service.context.sessions() as session:
        entries = session.scalars(select(LogEntry).where(LogEntry.kind == "report")).all()
        assert [json.loads(e.body)["sha256"] for e in entries] == [digest] * 3
        assert entries[0].entry_id == signature["log_entry_id"]
        assert verify_report(session, report_id=signature["report_id"], public_key=public).ok
        assert verify_log(session).ok

    # Auditors read the latest report per model and each report; other roles are refused.
    client = service.client
    listed = client.get("/v1/audit/reports", headers=service.auth("auditor"))
    assert listed.status_code == 200, listed.text
    (latest,) = listed.json()
    assert latest["model"] == "fraud" and latest["sha256"] == digest
    assert latest["alerts"] == report["alerts"]
    one = client.get(f"/v1/audit/reports/{signature['report_id']}", headers=service.auth("admin"))
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["report"] == report and body["sha256"] == digest
    assert body["signature"] == signature["signature"]
    assert body["log_entry_id"] == signature["log_entry_id"] and body["log_entry_seq"] >= 1
    checked = client.get(
        f"/v1/audit/reports/{signature['report_id']}/verification", headers=service.auth("auditor")
    )
    assert checked.json() == {"ok": True, "reason": None}
    for who in ("reviewer", "shop"):
        assert_problem(client.get("/v1/audit/reports", headers=service.auth(who)), 403)
        assert_problem(
            client.get(f"/v1/audit/reports/{signature['report_id']}", headers=service.auth(who)),
            403,
        )
    assert_problem(client.get("/v1/audit/reports"), 401)
    assert_problem(
        client.get(f"/v1/audit/reports/{'0' * 32}", headers=service.auth("auditor")), 404
    )


def test_the_pages_have_charts_in_english_and_spanish_and_the_pdf_opens(
    service: Service, trained: TrainedModels, cli_env: None, tmp_path: Path
) -> None:
    rows = transactions(trained, 60)
    decide_on(service, "fraud", rows, day=FIRST, groups=_groups(len(rows)), subject="h")
    _report(tmp_path / "es", "--lang", "es")
    _report(tmp_path / "en")
    spanish = (tmp_path / "es" / "report.html").read_text(encoding="utf-8")
    english = (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "es" / "report.json").read_bytes() == (
        tmp_path / "en" / "report.json"
    ).read_bytes()
    for page in (spanish, english):
        # Self-contained: inline style and SVG charts, nothing fetched, no script.
        assert page.count("<svg") >= 3 and "<style>" in page
        assert "<script" not in page and "src=" not in page and "href=" not in page
    assert '<html lang="es">' in spanish and "Revisión periódica de fraud" in spanish
    assert "Tasas de resultado por grupo" in spanish and "Revisión humana" in spanish
    assert "franja de edad: de 18 a 24" in spanish
    assert "Periodic review of fraud" in english and "age band: 18 to 24" in english
    pdf = (tmp_path / "es" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    document = PdfReader(io.BytesIO(pdf))
    assert len(document.pages) >= 2
    assert "Revisión periódica de fraud" in document.pages[0].extract_text()
