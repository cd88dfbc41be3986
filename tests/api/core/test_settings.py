"""Settings: secrets from the environment or files, refused when short, missing or demo."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.core.settings import (
    SECRET_NAMES,
    SecretKey,
    Settings,
    generate_demo_secrets,
    get_settings,
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GLASSBOX_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


@pytest.fixture
def real_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    keys = {name: os.urandom(32) for name in SECRET_NAMES}
    for name, raw in keys.items():
        monkeypatch.setenv(f"GLASSBOX_{name.upper()}", _b64(raw))
    return keys


def test_reads_secrets_and_defaults_from_the_environment(
    real_secrets: dict[str, bytes], tmp_path: Path
) -> None:
    settings = Settings()
    assert settings.key_encryption_key.get_secret_value() == real_secrets["key_encryption_key"]
    assert settings.database_url == f"sqlite:///{tmp_path / '.glassbox' / 'glassbox.db'}"
    assert settings.mlflow_tracking_uri == "sqlite:///.glassbox/mlflow.db"
    assert settings.demo_mode is False


def test_secrets_never_show_in_repr_or_dumps(real_secrets: dict[str, bytes]) -> None:
    settings = Settings()
    encoded = _b64(real_secrets["pseudonym_key"])
    assert encoded not in repr(settings)
    assert encoded not in settings.model_dump_json()


def test_reads_a_secret_from_a_file(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kek = os.urandom(32)
    path = tmp_path / "kek"
    path.write_text(_b64(kek) + "\n")
    monkeypatch.delenv("GLASSBOX_KEY_ENCRYPTION_KEY")
    monkeypatch.setenv("GLASSBOX_KEY_ENCRYPTION_KEY_FILE", str(path))
    assert Settings().key_encryption_key.get_secret_value() == kek


def test_refuses_a_secret_given_twice(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "kek"
    path.write_text(_b64(os.urandom(32)))
    monkeypatch.setenv("GLASSBOX_KEY_ENCRYPTION_KEY_FILE", str(path))
    with pytest.raises(ValidationError, match="not both"):
        Settings()


def test_refuses_a_missing_secret(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLASSBOX_TOKEN_SIGNING_KEY")
    with pytest.raises(ValidationError, match="GLASSBOX_TOKEN_SIGNING_KEY"):
        Settings()


def test_refuses_an_unreadable_secret_file(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GLASSBOX_PSEUDONYM_KEY")
    monkeypatch.setenv("GLASSBOX_PSEUDONYM_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValidationError, match="cannot read"):
        Settings()


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("key_encryption_key", 16),  # AES-128 is not what we promised
        ("key_encryption_key", 48),
        ("checkpoint_signing_key", 31),
        ("pseudonym_key", 20),
        ("token_signing_key", 8),
        ("webhook_signing_key", 16),
    ],
)
def test_refuses_keys_of_the_wrong_length(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, name: str, length: int
) -> None:
    monkeypatch.setenv(f"GLASSBOX_{name.upper()}", _b64(os.urandom(length)))
    with pytest.raises(ValidationError, match=name):
        Settings()


def test_refuses_a_placeholder_key(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_TOKEN_SIGNING_KEY", _b64(bytes(32)))  # decodes, but all zero
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_refuses_text_that_is_not_base64(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_PSEUDONYM_KEY", "changethis!")
    with pytest.raises(ValidationError, match="base64"):
        Settings()


def test_demo_secrets_are_refused_outside_demo_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = generate_demo_secrets(tmp_path)
    for name, value in env.items():
        if name != "GLASSBOX_DEMO_MODE":
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="demo secrets are refused"):
        Settings()
    monkeypatch.setenv("GLASSBOX_DEMO_MODE", "true")
    settings = Settings()
    assert settings.demo_mode
    assert all(getattr(settings, name).demo for name in SECRET_NAMES)


def test_one_demo_secret_among_real_ones_is_refused(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_KEY_ENCRYPTION_KEY", "demo-" + _b64(os.urandom(32)))
    with pytest.raises(ValidationError, match="GLASSBOX_KEY_ENCRYPTION_KEY"):
        Settings()


def test_generated_demo_secrets_are_private_and_stable(tmp_path: Path) -> None:
    first = generate_demo_secrets(tmp_path)
    contents = {
        name: Path(path).read_text() for name, path in first.items() if name.endswith("_FILE")
    }
    second = generate_demo_secrets(tmp_path)  # a restarted demo must still open its log
    assert first == second
    for name, path in first.items():
        if not name.endswith("_FILE"):
            continue
        file = Path(path)
        assert file.parent == (tmp_path / "secrets").resolve()
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert file.read_text() == contents[name]
        assert SecretKey.parse(file.read_text()).demo


def test_get_settings_builds_once_and_can_be_reset(real_secrets: dict[str, bytes]) -> None:
    assert get_settings() is get_settings()
    before = get_settings()
    get_settings.cache_clear()
    assert get_settings() is not before


def test_importing_the_storage_modules_does_nothing(tmp_path: Path) -> None:
    # No GLASSBOX_* variable is set and the working directory is empty: reading settings,
    # creating a database or a secrets directory at import time would show here.
    code = (
        "import api.core.settings, api.core.database, api.core.crypto, api.audit.log, "
        "api.audit.writer, api.audit.checkpoints, api.vault.keys, api.vault.sealing"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url", ["decisions.example.org", "ftp://decisions.example.org", "https://"]
)
def test_the_public_url_must_name_an_http_host(real_secrets: dict[str, bytes], url: str) -> None:
    # Its host is the one name the service answers besides loopback (api.core.hosts).
    with pytest.raises(ValidationError, match="absolute http"):
        Settings(public_url=url)
