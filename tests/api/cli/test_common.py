"""What every operations command shares: settings read from the environment, the demo's only
when asked for, and secrets that must open the data already stored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.core.settings import SECRET_NAMES, get_settings
from tests.api.cli.conftest import invoke
from tests.api.conftest import random_secret


def test_missing_settings_are_a_clear_exit_2(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLASSBOX_KEY_ENCRYPTION_KEY")
    get_settings.cache_clear()
    code, output = invoke("verify-log")
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
    code, output = invoke("verify-log", "--home", str(home))
    output = " ".join(output.split())  # as one line, however the terminal wrapped it
    assert code == 2, output
    assert "GLASSBOX_PSEUDONYM_KEY or GLASSBOX_PSEUDONYM_KEY_FILE is missing" in output
    assert "--demo" in output and "OK" not in output
    code, output = invoke("verify-log", "--home", str(home), "--demo")
    assert code == 0 and "OK: 0 entries" in output, output
    assert "demo mode" in output


def test_commands_refuse_secrets_that_do_not_open_the_stored_data(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = invoke("keys", "list")  # the first use records the secrets
    assert code == 0, output
    monkeypatch.setenv("GLASSBOX_CHECKPOINT_SIGNING_KEY", random_secret())
    get_settings.cache_clear()
    code, output = invoke("checkpoint", "create")
    output = " ".join(output.split())
    assert code == 2, output
    assert "Refused: GLASSBOX_CHECKPOINT_SIGNING_KEY does not match" in output
    assert "Checkpoint" not in output
    assert os.environ["GLASSBOX_CHECKPOINT_SIGNING_KEY"] not in output


def test_home_holds_the_database_unless_the_environment_names_one(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GLASSBOX_DATABASE_URL")
    get_settings.cache_clear()
    home = tmp_path / "deployment"
    home.mkdir()
    code, output = invoke("keys", "create", "--role", "admin", "--name", "ops", "--home", str(home))
    assert code == 0, output
    assert (home / "glassbox.db").is_file() and "Note" not in output
    # The environment names another database: it is used, and the command says so in one line.
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", elsewhere)
    code, output = invoke("keys", "list", "--home", str(home))
    assert code == 0, output
    (note,) = [line for line in output.splitlines() if line.startswith("Note:")]
    assert f"GLASSBOX_DATABASE_URL={elsewhere} is used" in note and str(home) in note
    assert "ops" not in output  # the key lives in --home's database, not this one
    # Without --home (the default), the environment's database is simply the one used.
    code, output = invoke("keys", "list")
    assert code == 0 and "Note" not in output


def test_the_note_never_shows_a_database_password(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "GLASSBOX_DATABASE_URL", "postgresql+psycopg://glassbox:hunter2@127.0.0.1:1/glassbox"
    )
    get_settings.cache_clear()
    code, output = invoke("keys", "list", "--home", str(tmp_path))
    assert code == 2
    assert "glassbox:***@127.0.0.1:1" in output and "hunter2" not in output
