"""Decision tests use the app serving the session's models (``service``, tests/api/conftest.py)."""

from __future__ import annotations

import pytest

from api.core.settings import Settings


@pytest.fixture
def settings(service_settings: Settings) -> Settings:
    """The settings of the ``service`` app (the test's database, the session's models)."""
    return service_settings
