"""The operations commands: API keys, log verification and checkpoints, on a real database."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.audit.log import append_entries
from api.cli import app
from api.core.models import Application
from api.core.security import KeyStore, Role, create_api_key, hash_api_key
from api.core.settings import SECRET_NAMES, get_settings
from tests.api._support import RawLog, make_entry
from tests.api.conftest import random_secret, secret_env

runner = CliRunner()
_KEY = re.compile(r"gbx_[a-z]+_[A-Za-z0-9_-]{43}")


@pytest.fixture
def service_env(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The environment of a deployed service (settings are read from it, as in production)."""
    env = secret_env(database_url)
    for name in list(os.environ):
        if name.startswith("GLASSBOX_") and name != "GLASSBOX_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no demo secrets of a developer's checkout are found
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_keys_create_list_revoke(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    code, output = _invoke("keys", "create", "--role", "reviewer", "--name", "Ana (reviewer)")
    assert code == 0, output
    (raw_key,) = _KEY.findall(output)
    store = KeyStore(session_factory)
    principal = store.authenticate(raw_key)
    assert principal is not None and principal.role == "reviewer"
    assert principal.key_id in output
    with session_factory() as session:
        stored = session.execute(text("SELECT key_hash FROM api_key")).scalars().all()
    assert stored == [hash_api_key(raw_key)]

    code, output = _invoke("keys", "list")
    assert code == 0, output
    assert principal.key_id in output and "reviewer" in output
    assert raw_key not in output and raw_key.split("_", 2)[2] not in output

    code, output = _invoke("keys", "revoke", principal.key_id)
    assert code == 0, output
    assert store.authenticate(raw_key) == principal  # cached, as documented ...
    store.invalidate()
    assert store.authenticate(raw_key) is None  # ... and refused once the cache lets go
    code, output = _invoke("keys", "list")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s*│\s*$", output, re.MULTILINE), output


def test_keys_refuse_bad_input_with_exit_code_2(service_env: dict[str, str]) -> None:
    code, output = _invoke("keys", "create", "--role", "root", "--name", "x")
    assert code == 2 and "role" in output
    code, output = _invoke("keys", "revoke", "0123456789abcdef")
    assert code == 2 and "0123456789abcdef" in output


def test_apps_allow_private_callbacks_and_withdraw(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    def allowed(name: str) -> bool:
        with session_factory() as session:
            row = session.get(Application, name)
            assert row is not None
            return row.allow_private_callbacks

    with session_factory() as session:
        _, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
    assert shop.application is not None
    assert not allowed(shop.application)  # nobody's by default
    code, output = _invoke("apps", "allow-private-callbacks", shop.application)
    assert code == 0 and shop.application in output, output
    assert allowed(shop.application)
    code, output = _invoke("apps", "allow-private-callbacks", shop.application, "--withdraw")
    assert code == 0 and "no longer" in output, output
    assert not allowed(shop.application)
    code, output = _invoke("apps", "allow-private-callbacks", "nobody")
    assert code == 2 and "nobody" in output


def test_application_keys_rotate_within_an_application_and_apps_are_grouped(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    code, output = _invoke("keys", "create", "--role", "application", "--name", "shop")
    assert code == 0 and "'shop'" in output and "'app:shop'" in output, output
    # The same name again would silently share the shop's people: only when asked by name.
    code, output = _invoke("keys", "create", "--role", "application", "--name", "shop")
    assert code == 2 and "application" in output
    code, output = _invoke(
        "keys", "create", "--role", "application", "--name", "shop 2027", "--application", "shop"
    )
    assert code == 0 and "'app:shop'" in output, output
    (rotated,) = _KEY.findall(output)
    assert _invoke("keys", "create", "--role", "application", "--name", "crm")[0] == 0
    code, output = _invoke(
        "keys", "create", "--role", "admin", "--name", "x", "--application", "crm"
    )
    assert code == 2 and "application" in output

    code, output = _invoke("apps", "group", "shop", "crm", "--as", "retail")
    assert code == 0 and output.count("'group:retail'") == 2, output
    principal = KeyStore(session_factory).authenticate(rotated)
    assert principal is not None and principal.pseudonym_scope == "group:retail"
    code, output = _invoke("apps", "list")
    assert code == 0 and re.search(r"shop\s*│\s*group:retail\s*│\s*2\s*│\s*none", output), output
    code, output = _invoke("keys", "list")
    assert code == 0 and output.count("shop") >= 3  # names and application column
    for args in (("nobody", "--as", "retail"), ("shop", "--as", "Retail!")):
        code, output = _invoke("apps", "group", *args)
        assert code == 2 and "Refused" in output, output


def test_verify_log_names_the_first_bad_entry(
    service_env: dict[str, str], session_factory: sessionmaker[Session], raw_log: RawLog
) -> None:
    code, output = _invoke("verify-log")
    assert code == 0 and "OK: 0 entries" in output, output
    with session_factory() as session:
        append_entries(session, [make_entry(n) for n in range(9)])
    code, output = _invoke("verify-log", "--batch-size", "4")
    assert code == 0 and "OK: 9 entries" in output, output

    raw_log.drop_guards()
    raw_log.set(5, "kind", "notice" if raw_log.rows()[4]["kind"] != "notice" else "contest")
    code, output = _invoke("verify-log")
    assert code == 1, output
    assert "BROKEN at entry 5" in output
    assert "first 4 entries are intact" in output


def test_checkpoint_create_export_verify(
    service_env: dict[str, str],
    session_factory: sessionmaker[Session],
    raw_log: RawLog,
    tmp_path: Path,
) -> None:
    code, output = _invoke("checkpoint", "export")
    assert code == 2 and "checkpoint create" in output
    with session_factory() as session:
        append_entries(session, [make_entry(n) for n in range(6)])
    code, output = _invoke("checkpoint", "create")
    assert code == 0 and "6 entries" in output, output

    document = tmp_path / "checkpoint.json"
    code, output = _invoke("checkpoint", "export", "--out", str(document))
    assert code == 0, output
    code, printed = _invoke("checkpoint", "export")
    assert code == 0 and '"size": 6' in printed
    code, output = _invoke("checkpoint", "verify", str(document))
    assert code == 0 and "OK" in output, output

    stranger = base64.b64encode(os.urandom(32)).decode()
    code, output = _invoke("checkpoint", "verify", str(document), "--public-key", stranger)
    assert code == 1 and "signature" in output

    raw_log.drop_guards()
    raw_log.set(2, "body", '{"outcome":"approve"}')
    raw_log.rechain_from(2)
    code, output = _invoke("checkpoint", "verify", str(document))
    assert code == 1 and "rewritten" in output, output

    code, output = _invoke("checkpoint", "verify", str(tmp_path / "missing.json"))
    assert code == 2


def test_missing_settings_are_a_clear_exit_2(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLASSBOX_KEY_ENCRYPTION_KEY")
    get_settings.cache_clear()
    code, output = _invoke("verify-log")
    assert code == 2
    assert "GLASSBOX_KEY_ENCRYPTION_KEY" in output
    assert service_env["GLASSBOX_PSEUDONYM_KEY"] not in output  # secrets are never printed


def test_the_demo_secrets_under_home_are_used_only_when_asked_for(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from api.core.settings import generate_demo_secrets

    for name in SECRET_NAMES:
        monkeypatch.delenv(f"GLASSBOX_{name.upper()}")
    get_settings.cache_clear()
    home = tmp_path / ".glassbox"
    generate_demo_secrets(home)  # what `glassbox demo` leaves under --home
    # Missing secrets are an error, not a reason to use a developer's demo keys on this database.
    code, output = _invoke("verify-log", "--home", str(home))
    output = " ".join(output.split())  # as one line, however the terminal wrapped it
    assert code == 2, output
    assert "GLASSBOX_PSEUDONYM_KEY or GLASSBOX_PSEUDONYM_KEY_FILE is missing" in output
    assert "--demo" in output and "OK" not in output
    code, output = _invoke("verify-log", "--home", str(home), "--demo")
    assert code == 0 and "OK: 0 entries" in output, output
    assert "demo mode" in output


def test_log_shows_the_newest_entries_without_their_sealed_plaintext(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        append_entries(session, [make_entry(n) for n in range(12)])
        append_entries(
            session,
            [make_entry(12, sealed={"statement": base64.b64encode(b"ciphertext").decode()})],
        )
    code, output = _invoke("log", "--last", "3")
    assert code == 0, output
    assert [int(n) for n in re.findall(r"^│\s*(\d+)\s*│", output, re.MULTILINE)] == [11, 12, 13]
    assert "n=12" in output and "statement" in output
    assert base64.b64encode(b"ciphertext").decode() not in output

    code, output = _invoke("log", "--kind", "decision", "--last", "100")
    assert code == 0, output
    kinds = set(re.findall(r"│\s*\d+\s*│[^│]*│\s*([a-z_]+)\s*│", output))
    assert kinds == {"decision"}, output


def test_commands_refuse_secrets_that_do_not_open_the_stored_data(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _invoke("keys", "list")  # the first use records the secrets
    assert code == 0, output
    monkeypatch.setenv("GLASSBOX_CHECKPOINT_SIGNING_KEY", random_secret())
    get_settings.cache_clear()
    code, output = _invoke("checkpoint", "create")
    output = " ".join(output.split())
    assert code == 2, output
    assert "Refused: GLASSBOX_CHECKPOINT_SIGNING_KEY does not match" in output
    assert "Checkpoint" not in output
    assert os.environ["GLASSBOX_CHECKPOINT_SIGNING_KEY"] not in output
