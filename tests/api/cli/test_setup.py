"""``glassbox init``: a deployment's secrets and its settings file to source; nothing replaced."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.core.settings import SECRET_NAMES, SecretKey, Settings, generate_demo_secrets, get_settings
from tests.api.cli.conftest import API_KEY, invoke


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """An operator's shell: no GLASSBOX_* variable, an empty working directory."""
    for name in list(os.environ):
        if name.startswith("GLASSBOX_") and name != "GLASSBOX_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _source(env_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What ``source <env_file>`` exports, set in this process's environment."""
    exported: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            (assignment,) = shlex.split(line.removeprefix("export "))
            name, _, value = assignment.partition("=")
            exported[name] = value
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return exported


def test_init_creates_secrets_a_service_starts_with(
    bare_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "deployment"
    code, output = invoke("init", "--home", str(home))
    assert code == 0, output
    env_file = home / "glassbox.env"
    assert f"source {env_file}" in output
    for name in SECRET_NAMES:
        secret = home / "secrets" / name
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert not SecretKey.parse(secret.read_text()).demo
        assert secret.read_text().strip() not in output  # paths are printed, never keys
        assert f"export GLASSBOX_{name.upper()}_FILE={secret}" in output
    exported = _source(env_file, monkeypatch)
    assert exported["GLASSBOX_SERVED_MODELS"] == (
        "fraud,churn,credit,recommendation,refund,geo-restriction,account-suspension,"
        "lifetime_value,propensity,segments"
    )
    settings = Settings()
    assert not settings.demo_mode
    assert settings.database_url == f"sqlite:///{home / 'glassbox.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.served_models == [
        "fraud",
        "churn",
        "credit",
        "recommendation",
        "refund",
        "geo-restriction",
        "account-suspension",
        "lifetime_value",
        "propensity",
        "segments",
    ]
    # An operations command runs on those settings, on the database under the home.
    code, output = invoke("keys", "create", "--role", "admin", "--name", "operator")
    assert code == 0, output
    assert API_KEY.search(output) and (home / "glassbox.db").is_file()


def test_init_never_replaces_secrets(bare_env: None, tmp_path: Path) -> None:
    home = tmp_path / "deployment"
    assert invoke("init", "--home", str(home))[0] == 0
    before = {name: (home / "secrets" / name).read_text() for name in SECRET_NAMES}
    code, output = invoke("init", "--home", str(home))
    assert code == 2
    (line,) = output.splitlines()
    assert line.startswith("Refused:") and "never replaces" in line
    (home / "glassbox.env").unlink()  # the settings file gone, the secrets still there
    code, output = invoke("init", "--home", str(home))
    assert code == 2
    (line,) = output.splitlines()
    assert line.startswith("Refused:") and "already holds" in line and "Traceback" not in output
    assert {name: (home / "secrets" / name).read_text() for name in SECRET_NAMES} == before
    assert not (home / "glassbox.env").exists()


def test_init_refuses_a_home_with_the_demos_secrets(bare_env: None, tmp_path: Path) -> None:
    home = tmp_path / ".glassbox"
    generate_demo_secrets(home)
    code, output = invoke("init", "--home", str(home))
    assert code == 2
    (line,) = output.splitlines()
    assert "already holds" in line
    assert all(SecretKey.parse((home / "secrets" / n).read_text()).demo for n in SECRET_NAMES)


def test_the_demo_refuses_a_home_with_a_deployments_secrets_before_training(
    bare_env: None, tmp_path: Path
) -> None:
    home = tmp_path / "deployment"
    assert invoke("init", "--home", str(home))[0] == 0
    code, output = invoke("demo", "--home", str(home), "--no-serve", "--size", "small")
    assert code == 2
    (line,) = output.splitlines()
    assert "not the demo's" in line and "another --home" in line
    assert not (home / "mlflow.db").exists() and not (home / "fixtures").exists()
