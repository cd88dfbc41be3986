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
    InvalidSettingsError,
    SecretKey,
    SecretsExistError,
    Settings,
    create_secrets,
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


# --- the served models, as an operator writes them ---------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "telco-churn,fraud",
        " telco-churn , fraud ",
        '["telco-churn", "fraud"]',
        "telco-churn,fraud,telco-churn",  # named twice, served once
    ],
)
def test_served_models_are_a_comma_separated_or_json_list(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("GLASSBOX_SERVED_MODELS", written)
    assert get_settings().served_models == ["telco-churn", "fraud"]


def test_an_empty_json_list_serves_no_model(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_SERVED_MODELS", "[]")  # the staff routes only
    assert get_settings().served_models == []


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("Telco Churn", "'Telco Churn' is not a model name"),
        ("fraud,,churn", "'' is not a model name"),
        ("", "is empty"),
        ('["fraud", "churn"', "is not a valid JSON list"),
        ("x" * 32, "is not a model name"),  # the length of a decision id: its URL is a decision's
    ],
)
def test_a_bad_served_models_value_is_one_line_naming_the_variable(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, written: str, said: str
) -> None:
    monkeypatch.setenv("GLASSBOX_SERVED_MODELS", written)
    with pytest.raises(InvalidSettingsError) as refused:
        get_settings()
    message = str(refused.value)
    assert message.startswith("GLASSBOX_SERVED_MODELS: ") and said in message
    assert "\n" not in message and "pydantic" not in message
    for raw in real_secrets.values():
        assert _b64(raw) not in message


def test_allowed_hosts_are_a_comma_separated_list_too(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_ALLOWED_HOSTS", "internal.lb, decisions.internal")
    assert get_settings().allowed_hosts == ["internal.lb", "decisions.internal"]


def test_invalid_settings_name_every_variable_in_one_line(
    real_secrets: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_MAX_BODY_BYTES", "0")
    monkeypatch.setenv("GLASSBOX_PUBLIC_URL", "decisions.example")
    with pytest.raises(InvalidSettingsError) as refused:
        get_settings()
    message = str(refused.value)
    assert "GLASSBOX_MAX_BODY_BYTES: " in message and "GLASSBOX_PUBLIC_URL: " in message
    assert "\n" not in message


# --- a deployment's own secrets ----------------------------------------------------------------


def test_created_secrets_are_private_real_and_accepted_outside_demo_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = create_secrets(tmp_path / "home")
    assert set(env) == {f"GLASSBOX_{name.upper()}_FILE" for name in SECRET_NAMES}
    for name, path in env.items():
        file = Path(path)
        assert file.parent == (tmp_path / "home" / "secrets").resolve()
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert not SecretKey.parse(file.read_text()).demo
        monkeypatch.setenv(name, path)
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    settings = Settings()
    assert not settings.demo_mode
    assert len({getattr(settings, name) for name in SECRET_NAMES}) == len(SECRET_NAMES)


def test_secrets_are_never_created_over_existing_ones(tmp_path: Path) -> None:
    env = create_secrets(tmp_path)
    before = {path: Path(path).read_text() for path in env.values()}
    (tmp_path / "secrets" / "pseudonym_key").unlink()  # even one of them present is refused
    with pytest.raises(SecretsExistError, match="key_encryption_key"):
        create_secrets(tmp_path)
    assert not (tmp_path / "secrets" / "pseudonym_key").exists()
    for path, text in before.items():
        if Path(path).exists():
            assert Path(path).read_text() == text
    generate_demo_secrets(tmp_path / "demo")
    with pytest.raises(SecretsExistError):  # nor over the demo's
        create_secrets(tmp_path / "demo")


def test_the_demo_never_replaces_a_deployments_secrets(tmp_path: Path) -> None:
    env = create_secrets(tmp_path)
    before = {path: Path(path).read_text() for path in env.values()}
    with pytest.raises(SecretsExistError, match="not the demo's"):
        generate_demo_secrets(tmp_path)
    assert {path: Path(path).read_text() for path in env.values()} == before
