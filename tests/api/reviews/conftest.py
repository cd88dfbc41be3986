"""Review tests: the deciding models as the service serves them, loaded once per session."""

from __future__ import annotations

import pytest

from api.decisions.runtime import ModelRegistry
from tests.conftest import TrainedModels


@pytest.fixture(scope="session")
def registry(trained: TrainedModels) -> ModelRegistry:
    """The trained models as the service would serve them (fraud and churn champions)."""
    models = ModelRegistry(trained.tracking_uri)
    models.load_all(("fraud", "churn"))
    return models
