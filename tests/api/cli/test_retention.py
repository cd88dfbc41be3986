"""``glassbox retention run`` on a real database, as an operator runs it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import verify_log
from api.cli import app
from api.core.settings import get_settings
from api.vault.keys import data_key_for
from api.vault.models import SubjectKey
from tests.api._support import pseudonym
from tests.api.cli.conftest import runner


def test_retention_run_dry_then_for_real(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    kek = get_settings().key_encryption_key.get_secret_value()
    with session_factory() as session:
        data_key_for(session, pseudonym=pseudonym(1), kek=kek, category="scores", epoch=2020)
        data_key_for(session, pseudonym=pseudonym(1), kek=kek, category="scores", epoch=2026)

    dry = runner.invoke(app, ["retention", "run", "--dry-run", "--now", "2027-06-01T00:00:00"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "scores" in dry.output
    with session_factory() as session:
        live = session.execute(
            select(SubjectKey.epoch).where(SubjectKey.wrapped_key.is_not(None))
        ).scalars()
        assert sorted(live) == [2020, 2026]

    real = runner.invoke(app, ["retention", "run", "--now", "2027-06-01T00:00:00"])
    assert real.exit_code == 0, real.output
    assert "Logged as entry" in real.output
    with session_factory() as session:
        live = session.execute(
            select(SubjectKey.epoch).where(SubjectKey.wrapped_key.is_not(None))
        ).scalars()
        assert sorted(live) == [2026]
        assert verify_log(session).ok

    bad = runner.invoke(app, ["retention", "run", "--now", "next tuesday"])
    assert bad.exit_code == 2 and "Refused" in bad.output
