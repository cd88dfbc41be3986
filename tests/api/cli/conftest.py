"""The environment of a deployed service, and the command line invoked in it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.core.settings import get_settings
from tests.api.conftest import secret_env

runner = CliRunner()
API_KEY = re.compile(r"gbx_[a-z]+_[A-Za-z0-9_-]{43}")


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


def invoke(*args: str) -> tuple[int, str]:
    """Run ``glassbox ARGS``; its exit code and output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output
