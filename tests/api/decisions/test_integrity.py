"""A decision's plain columns changed in the database: caught on every read, named by verify-log.

The tampering is raw SQL, what someone with database rights could do; the product never updates
a decision row.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app as cli
from api.core.settings import SECRET_NAMES, get_settings
from api.decisions.integrity import check_decision, row_mac, row_mac_key
from api.decisions.models import Decision
from api.decisions.reading import open_decision
from tests.api.conftest import Service, bearer, secret_env
from tests.api.decisions.support import logged_and_unlogged
from tests.api.reviews.support import insert_decision
from tests.conftest import TrainedModels

# What the defect report did to a blocked decision.
_APPROVED = {"outcome": "approve", "score": 0.01, "significant": False}


def _update(service: Service, decision_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with service.context.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE decision SET {assignments} WHERE decision_id = :id"),
            {**columns, "id": decision_id},
        )


def _assert_integrity_problem(response: Any) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/stored-data-integrity")
    assert "approve" not in response.text


def _verify(service: Service) -> dict[str, Any]:
    response = service.client.get("/v1/audit/verify", headers=service.auth("auditor"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bad(verified: dict[str, Any]) -> dict[str, list[str]]:
    return {p["decision_id"]: p["columns"] for p in verified["bad_decisions"]}


def test_changed_columns_of_logged_and_unlogged_decisions_are_refused_and_named(
    service: Service, trained: TrainedModels
) -> None:
    logged, unlogged = logged_and_unlogged(service, trained, "tamper-1")
    assert (logged["logged"], unlogged["logged"]) == (True, False)
    assert logged["outcome"] == "block"
    untouched, _ = logged_and_unlogged(service, trained, "tamper-2")
    before = service.client.get(f"/v1/decisions/{untouched['id']}", headers=service.auth("shop"))
    assert _verify(service)["ok"] is True

    _update(service, logged["id"], **_APPROVED)
    _update(service, unlogged["id"], outcome="approve", score=0.01)

    token = bearer(logged["notice"]["subject_token"])
    for path, headers in (
        (f"/v1/decisions/{logged['id']}", service.auth("shop")),
        (f"/v1/me/decisions/{logged['id']}", token),
        ("/v1/me/decisions", token),
        (f"/v1/decisions/{unlogged['id']}", service.auth("shop")),
        (f"/v1/me/decisions/{unlogged['id']}", bearer(unlogged["notice"]["subject_token"])),
    ):
        _assert_integrity_problem(service.client.get(path, headers=headers))
    # The export lists the altered decision as unreadable instead of its tampered outcome.
    exported = service.client.get("/v1/me/export", headers=token)
    assert exported.status_code == 200, exported.text
    (listed,) = exported.json()["decisions"]
    assert listed["id"] == logged["id"] and listed["status"] == "unreadable"
    assert "outcome" not in listed

    verified = _verify(service)
    assert verified["ok"] is False
    assert verified["first_bad_seq"] is None, "the chain itself is intact"
    assert _bad(verified) == {
        logged["id"]: ["outcome", "score", "significant"],
        unlogged["id"]: ["outcome", "score"],
    }
    assert verified["reason"].startswith("decision ")
    # An untouched decision reads exactly as before.
    after = service.client.get(f"/v1/decisions/{untouched['id']}", headers=service.auth("shop"))
    assert after.status_code == 200 and after.json() == before.json()


def test_a_logged_decision_without_its_mac_is_checked_against_its_entry(
    service: Service, trained: TrainedModels
) -> None:
    logged, unlogged = logged_and_unlogged(service, trained, "tamper-3")
    _update(service, logged["id"], row_mac=None, **_APPROVED)
    _update(service, unlogged["id"], row_mac=None, outcome="approve")

    _assert_integrity_problem(
        service.client.get(f"/v1/decisions/{logged['id']}", headers=service.auth("shop"))
    )
    # A stripped MAC does not pass a new row off as one written before MACs: its sealed
    # explanation says it had one.
    _assert_integrity_problem(
        service.client.get(f"/v1/decisions/{unlogged['id']}", headers=service.auth("shop"))
    )
    verified = _verify(service)
    # The log entry names the columns, keyless; the unlogged row without a MAC counts as
    # unverified (verify-log opens no personal data, where the marker is).
    assert _bad(verified) == {logged["id"]: ["outcome", "score", "significant"]}
    assert verified["decisions_unverified"] == 1


def test_a_decision_moved_to_another_log_entry_or_key_is_named(
    service: Service, trained: TrainedModels
) -> None:
    first, _ = logged_and_unlogged(service, trained, "tamper-4")
    second, _ = logged_and_unlogged(service, trained, "tamper-5")
    with Session(service.context.engine) as session:
        other_entry = session.get(Decision, second["id"])
        assert other_entry is not None
        entry_id = other_entry.log_entry_id
    _update(service, first["id"], log_entry_id=None)
    _update(service, second["id"], key_epoch=1999)
    assert _bad(_verify(service)) == {first["id"]: ["log_entry_id"], second["id"]: ["key_epoch"]}
    for decision in (first, second):
        _assert_integrity_problem(
            service.client.get(f"/v1/decisions/{decision['id']}", headers=service.auth("shop"))
        )
    _update(service, second["id"], log_entry_id=None)
    _update(service, first["id"], log_entry_id=entry_id)
    assert _bad(_verify(service))[first["id"]] == ["log_entry_id"]
    _update(service, first["id"], log_entry_id="0" * 32)
    (problem,) = (p for p in _verify(service)["bad_decisions"] if p["decision_id"] == first["id"])
    assert (problem["columns"], problem["reason"]) == (["log_entry_id"], "its log entry is missing")


def test_verify_log_command_names_the_decision_and_the_column(
    service: Service,
    trained: TrainedModels,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = service.settings
    for name in list(os.environ):
        if name.startswith("GLASSBOX_") and name != "GLASSBOX_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no demo secrets of a developer's checkout are found
    env = secret_env(settings.database_url)
    for name in SECRET_NAMES:  # the service's own secrets: the database was written under them
        secret = getattr(settings, name).get_secret_value()
        env[f"GLASSBOX_{name.upper()}"] = base64.b64encode(secret).decode("ascii")
    env["GLASSBOX_PSEUDONYM_NAMESPACE"] = settings.pseudonym_namespace
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        logged, unlogged = logged_and_unlogged(service, trained, "tamper-6")
        result = runner.invoke(cli, ["verify-log"])
        assert result.exit_code == 0, result.output
        assert "OK:" in result.output and "; 2 decisions" in " ".join(result.output.split())

        _update(service, logged["id"], outcome="approve")
        _update(service, unlogged["id"], significant=True)
        result = runner.invoke(cli, ["verify-log", "--batch-size", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert f"BROKEN decision {logged['id']}: column outcome does not match" in output
    assert f"BROKEN decision {unlogged['id']}: column significant does not match" in output


def test_a_decision_written_before_row_macs_still_reads(service: Service) -> None:
    kek = service.settings.key_encryption_key.get_secret_value()
    with Session(service.context.engine) as session:
        decision_id = insert_decision(
            session, kek=kek, pseudonym="a" * 64, model_version=1, features={"amount": 10.0}
        )
        opened = open_decision(session, decision_id=decision_id, kek=kek)
    assert (opened.row.row_mac, opened.row.outcome) == (None, "block")
    verified = _verify(service)
    assert (verified["ok"], verified["decisions_unverified"]) == (True, 1)


def test_the_row_mac_binds_the_decision_id_and_the_key(service: Service) -> None:
    kek = service.settings.key_encryption_key.get_secret_value()
    with Session(service.context.engine) as session:
        decision_id = insert_decision(
            session, kek=kek, pseudonym="b" * 64, model_version=1, features={"amount": 10.0}
        )
        row = session.get(Decision, decision_id)
        assert row is not None
        values = {c.key: getattr(row, c.key) for c in Decision.__table__.columns}
        row.row_mac = row_mac(row_mac_key(kek), values, logged=False)
        check_decision(row, key=row_mac_key(kek))
        for key in (row_mac_key(bytes(32)), row_mac_key(kek)[::-1]):
            with pytest.raises(Exception, match="row MAC does not verify"):
                check_decision(row, key=key)
        row.row_mac = row_mac(row_mac_key(kek), {**values, "decision_id": "f" * 32}, logged=False)
        with pytest.raises(Exception, match="row MAC does not verify"):
            check_decision(row, key=row_mac_key(kek))
        session.rollback()
