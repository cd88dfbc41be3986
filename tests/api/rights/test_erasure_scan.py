"""Erasure leaves nothing to find: a byte scan of the database after an erasure and the
retention run that ends the last legal hold.

Scanned for: the person's wrapped data keys (with the KEK, a surviving copy would reopen every
ciphertext), the raw data keys, their distinctive plaintext and their reference. On SQLite the
main file and the ``-wal`` file are read byte for byte; on PostgreSQL a ``pg_dump`` of the
test's schema. A positive control first shows the scan finds the keys while they exist.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from api.audit.log import verify_log
from api.rights.retention import run_retention
from api.vault.keys import data_key_for
from api.vault.models import SubjectKey
from tests.api.conftest import Service
from tests.api.rights.support import CONFIRM, me, person_with_everything
from tests.conftest import TrainedModels

REF = "scan-subject-5c81e0"
AMOUNT = 8642.1357


def _storage_bytes(database_url: str) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        files = [Path(url.database), Path(f"{url.database}-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    options = str(url.query.get("options", ""))
    schema = options.split("search_path=", 1)[1]
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--schema",
            schema,
            "--host",
            url.host or "127.0.0.1",
            "--port",
            str(url.port or 5432),
            "--username",
            url.username or "postgres",
            url.database or "postgres",
        ],
        capture_output=True,
        check=True,
        env={"PGPASSWORD": url.password or "", "PATH": "/usr/bin:/bin"},
    )
    return dump.stdout


def _found(haystack: bytes, secrets: dict[str, bytes]) -> list[str]:
    hits = []
    for name, needle in secrets.items():
        # Raw in SQLite pages; hex (bytea) or text in a dump.
        if needle in haystack or needle.hex().encode() in haystack:
            hits.append(name)
    return hits


def test_nothing_of_an_erased_person_is_left_in_the_database_files(
    service: Service, trained: TrainedModels, database_url: str
) -> None:
    person = person_with_everything(service, trained, REF, amount=AMOUNT)
    settings = service.settings
    kek = settings.key_encryption_key.get_secret_value()
    pseudonym = service.pseudonym(REF)
    secrets: dict[str, bytes] = {"reference": REF.encode(), "amount": repr(AMOUNT).encode()}
    with service.context.sessions() as session:
        rows = session.execute(
            select(SubjectKey.category, SubjectKey.epoch, SubjectKey.wrapped_key).where(
                SubjectKey.pseudonym == pseudonym
            )
        ).all()
        assert {row.category for row in rows} == {"fraud_history", "risk_evaluation", "scores"}
        for category, epoch, wrapped in rows:
            assert wrapped is not None
            secrets[f"wrapped {category}"] = wrapped
            secrets[f"key {category}"] = data_key_for(
                session, pseudonym=pseudonym, kek=kek, category=category, epoch=epoch, create=False
            )
    # Positive control: while the keys exist, the scan sees them.
    before = _found(_storage_bytes(database_url), secrets)
    assert {"wrapped fraud_history", "wrapped scores"} <= set(before), before
    # Personal data was never there in plaintext in the first place (sealed, pseudonymised).
    assert not {"reference", "amount", "key scores", "key fraud_history"} & set(before)

    erased = me(service, "POST", "/erasure", person.token, json=CONFIRM)
    assert erased.status_code == 201, erased.text
    after_erasure = _found(_storage_bytes(database_url), secrets)
    assert after_erasure == ["wrapped fraud_history"], after_erasure  # kept: legal hold

    # Ten years on, the retention job ends the hold and completes the request.
    fraud_year = int(person.decisions["fraud"]["created_at"][:4])
    report = run_retention(
        service.context.sessions,
        now=datetime(fraud_year + 12, 1, 1, tzinfo=UTC),
        engine=service.context.engine,
    )
    assert report.erasures_completed == 1 and report.keys_shredded >= 1
    assert _found(_storage_bytes(database_url), secrets) == []

    export = me(service, "GET", "/export", person.token).json()
    assert {d["status"] for d in export["decisions"]} == {"erased"}
    erasure = next(r for r in export["rights_requests"] if r["kind"] == "erasure")
    assert erasure["status"] == "completed"
    with service.context.sessions() as session:
        assert verify_log(session).ok
        keys = session.execute(
            select(SubjectKey.category).where(SubjectKey.pseudonym == pseudonym)
        ).scalars()
        assert set(keys) == {"*", "fraud_history", "risk_evaluation", "scores"}
