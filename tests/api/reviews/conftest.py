"""Review tests: storage-level fixtures (a case's decision, the deciding model's registry) and,
for the HTTP tests, the live app over the session's trained models from the decision tests."""

from __future__ import annotations

import pytest

from api.decisions.runtime import ModelRegistry
from tests.api.decisions.conftest import service, settings  # noqa: F401  # shared app fixtures
from tests.conftest import TrainedModels


@pytest.fixture(scope="session")
def registry(trained: TrainedModels) -> ModelRegistry:
    """The trained models as the service would serve them (fraud and churn champions)."""
    models = ModelRegistry(trained.tracking_uri)
    models.load_all(("fraud", "churn"))
    return models
