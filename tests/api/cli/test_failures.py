"""Every command's errors in one line, without a traceback unless ``--debug`` asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli import app
from api.cli.failures import CommandGroup
from api.core.settings import (
    InvalidSettingsError,
    SecretsExistError,
    create_secrets,
    get_settings,
)
from tests.api.cli.conftest import invoke, runner


def _one_line(output: str) -> str:
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_a_bad_setting_is_one_line_naming_the_variable_in_every_command(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_SERVED_MODELS", "Telco Churn")
    for command in (["keys", "list"], ["verify-log"], ["serve"], ["checkpoint", "create"]):
        get_settings.cache_clear()
        code, output = invoke(*command)
        assert code == 2, (command, output)
        line = _one_line(output)
        assert line.startswith("Invalid settings: GLASSBOX_SERVED_MODELS: 'Telco Churn'"), line


def test_debug_lets_the_error_through_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "deployment"
    create_secrets(home)  # the demo refuses this home
    code, output = invoke("demo", "--home", str(home), "--no-serve")
    assert code == 2 and _one_line(output).startswith("Refused: ")
    result = runner.invoke(app, ["--debug", "demo", "--home", str(home), "--no-serve"])
    assert isinstance(result.exception, SecretsExistError)
    monkeypatch.setenv("GLASSBOX_DEBUG", "1")
    result = runner.invoke(app, ["demo", "--home", str(home), "--no-serve"])
    assert isinstance(result.exception, SecretsExistError)


def test_training_and_registry_errors_are_one_line(tmp_path: Path) -> None:
    code, output = invoke("train", "churn", "--data", str(tmp_path / "absent.csv"))
    assert code == 2 and "absent.csv" in output and "Traceback" not in output
    nowhere = tmp_path / "typo" / "mlflow.db"
    code, output = invoke("models", "fraud", "--tracking-uri", f"sqlite:///{nowhere}")
    assert code == 2 and str(nowhere) in _one_line(output)
    assert not nowhere.parent.exists()


def test_an_unreachable_database_is_one_line(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "GLASSBOX_DATABASE_URL", "postgresql+psycopg://glassbox:hunter2@127.0.0.1:1/glassbox"
    )
    get_settings.cache_clear()
    code, output = invoke("keys", "list")
    assert code == 2
    line = _one_line(output)
    assert line.startswith("Database error on") and "Connection refused" in line
    assert "hunter2" not in output


# --- the command group itself, on commands that fail as no glassbox command should -------------

failing = typer.Typer(cls=CommandGroup)


@failing.callback()
def _root(debug: bool = typer.Option(False, "--debug", envvar="GLASSBOX_DEBUG")) -> None:
    """A root like glassbox's."""


@failing.command()
def unreadable(path: Path) -> None:
    """An expected error: a file that cannot be read."""
    path.read_text()


@failing.command()
def broken() -> None:
    """An unexpected error."""
    raise KeyError("lookup table")


@failing.command()
def settings() -> None:
    """Settings refused."""
    raise InvalidSettingsError("GLASSBOX_PUBLIC_URL: must be an absolute http(s) URL")


def test_expected_errors_exit_2_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(failing, ["unreadable", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert _one_line(result.output) == f"No such file or directory: {tmp_path / 'absent'}"
    result = CliRunner().invoke(failing, ["settings"])
    assert result.exit_code == 2
    assert _one_line(result.output).startswith("Invalid settings: GLASSBOX_PUBLIC_URL: ")


def test_unexpected_errors_exit_1_in_one_line_and_debug_shows_them() -> None:
    result = CliRunner().invoke(failing, ["broken"])
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert "Unexpected error: KeyError" in line and "lookup table" in line and "--debug" in line
    result = CliRunner().invoke(failing, ["--debug", "broken"])
    assert isinstance(result.exception, KeyError)
    result = CliRunner().invoke(failing, ["broken"], env={"GLASSBOX_DEBUG": "1"})
    assert isinstance(result.exception, KeyError)
