"""The pages' tests run on SQLite only: they touch storage no differently from the API tests,
which run on both backends."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A temp-file SQLite database."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'glassbox.db'}"
