"""A start refuses secrets that do not open the data already stored, naming the secret only."""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.audit.checkpoints import create_checkpoint
from api.core.secret_check import (
    CHECKED_SECRETS,
    SecretMismatchError,
    check_secrets,
    secret_check_value,
)
from api.core.settings import SECRET_NAMES, SecretKey, Settings
from api.main import create_app
from api.vault.keys import data_key_for
from tests.api._support import pseudonym
from tests.api.conftest import random_secret


def _start(settings: Settings) -> None:
    with TestClient(create_app(settings, load_models=False)):
        pass


def _secret_texts(settings: Settings) -> list[str]:
    """Every secret as it could leak: raw bytes' base64 and hex."""
    texts = []
    for name in SECRET_NAMES:
        raw = getattr(settings, name).get_secret_value()
        texts += [base64.b64encode(raw).decode("ascii"), raw.hex()]
    return texts


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ("key_encryption_key", "GLASSBOX_KEY_ENCRYPTION_KEY"),
        ("pseudonym_key", "GLASSBOX_PSEUDONYM_KEY"),
        ("token_signing_key", "GLASSBOX_TOKEN_SIGNING_KEY"),
        ("checkpoint_signing_key", "GLASSBOX_CHECKPOINT_SIGNING_KEY"),
    ],
)
def test_a_start_with_another_key_refuses_and_names_the_secret(
    settings: Settings,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    changed: str,
    named: str,
) -> None:
    _start(settings)  # the first start records the secrets
    other = settings.model_copy(update={changed: SecretKey.parse(random_secret())})
    with caplog.at_level(logging.ERROR), pytest.raises(SecretMismatchError) as refused:
        _start(other)
    message = str(refused.value)
    assert named in message and "does not match" in message
    assert [line for line in message.splitlines() if line] == [message]
    assert refused.value.names == [changed]
    assert not any(secret in message for secret in _secret_texts(other) + _secret_texts(settings))
    assert any(
        "refusing to start" in r.getMessage() and named in r.getMessage() for r in caplog.records
    )
    _start(settings)  # the right secrets still start, and nothing was overwritten


def test_another_pseudonym_namespace_is_refused_like_another_key(settings: Settings) -> None:
    _start(settings)
    with pytest.raises(SecretMismatchError, match="GLASSBOX_PSEUDONYM_NAMESPACE"):
        _start(settings.model_copy(update={"pseudonym_namespace": "elsewhere"}))


def test_the_webhook_key_can_be_rotated_and_demo_mode_is_announced(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _start(settings)
    with caplog.at_level(logging.WARNING):
        _start(
            settings.model_copy(update={"webhook_signing_key": SecretKey.parse(random_secret())})
        )
    assert not any("demo mode" in record.getMessage() for record in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _start(settings.model_copy(update={"demo_mode": True}))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(r.getMessage().startswith("demo mode") for r in warnings)


def test_the_database_keeps_check_values_never_keys(settings: Settings, engine: Engine) -> None:
    _start(settings)
    with engine.connect() as connection:
        query = text("SELECT name, check_value FROM secret_check")
        rows: dict[str, str] = dict(connection.execute(query).tuples().all())
    assert set(rows) == set(CHECKED_SECRETS)
    assert rows == {name: secret_check_value(settings, name) for name in CHECKED_SECRETS}
    stored = " ".join(rows.values())
    assert not any(secret in stored for secret in _secret_texts(settings))
    # One check per secret: equal keys give equal values, different keys different ones.
    assert len(set(rows.values())) == len(rows)


def test_workers_starting_together_record_once_and_agree(
    settings: Settings, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            results.append(check_secrets(session_factory, settings))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(result, list) for result in results), results
    assert sorted(len(result) for result in results) == [0, 0, 0, len(CHECKED_SECRETS)]
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM secret_check")).scalar_one()
    assert count == len(CHECKED_SECRETS)


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ("key_encryption_key", "GLASSBOX_KEY_ENCRYPTION_KEY"),
        ("checkpoint_signing_key", "GLASSBOX_CHECKPOINT_SIGNING_KEY"),
    ],
)
def test_a_database_from_before_the_check_is_tried_with_the_keys_themselves(
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
    changed: str,
    named: str,
) -> None:
    # Data written by a version that kept no check: a subject's data key and a checkpoint.
    with session_factory() as session:
        data_key_for(
            session, pseudonym=pseudonym(1), kek=settings.key_encryption_key.get_secret_value()
        )
    with session_factory() as session:
        create_checkpoint(session, signing_key=settings.checkpoint_signing_key.get_secret_value())
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM secret_check")).scalar_one() == 0
    other = settings.model_copy(update={changed: SecretKey.parse(random_secret())})
    with pytest.raises(SecretMismatchError, match=named):
        _start(other)
    with engine.begin() as connection:  # nothing recorded under the wrong key
        assert connection.execute(text("SELECT count(*) FROM secret_check")).scalar_one() == 0
    _start(settings)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM secret_check")).scalar_one() == len(
            CHECKED_SECRETS
        )
