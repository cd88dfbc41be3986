"""Review tests: the deciding models as the service serves them, loaded once per session."""

from __future__ import annotations

from typing import Any

import pytest

from api.decisions.runtime import ModelRegistry
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels


@pytest.fixture(scope="session")
def registry(trained: TrainedModels) -> ModelRegistry:
    """The trained models as the service would serve them (fraud and churn champions)."""
    models = ModelRegistry(trained.tracking_uri)
    models.load_all(("fraud", "churn"))
    return models


@pytest.fixture
def risky(trained: TrainedModels) -> dict[str, Any]:
    """The features of a transaction the fraud model blocks."""
    return fraud_rows(trained)[0]


@pytest.fixture
def version(trained: TrainedModels) -> int:
    """The fraud model's trained version."""
    number = trained.registrations["fraud"].version
    assert number is not None
    return number
