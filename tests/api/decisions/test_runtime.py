"""Served models: a start that cannot serve every model it should refuses, and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.core.settings import Settings
from api.decisions.runtime import ModelRegistry, ModelsUnavailableError
from api.main import create_app
from tests.conftest import TrainedModels


def test_a_start_on_a_tracking_uri_with_no_store_refuses_and_creates_none(
    settings: Settings, tmp_path: Path
) -> None:
    # A typo in the URI used to create an empty store there and serve a "healthy" nothing.
    nowhere = tmp_path / "typo" / "mlflow.db"
    wrong = settings.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{nowhere}"})
    with pytest.raises(ModelsUnavailableError) as refused, TestClient(create_app(wrong)):
        pass
    message = str(refused.value)
    assert "no MLflow store" in message and str(nowhere) in message
    assert "GLASSBOX_MLFLOW_TRACKING_URI" in message and "\n" not in message
    assert not nowhere.parent.exists()


def test_a_start_refuses_a_served_model_without_a_champion(
    settings: Settings, trained: TrainedModels
) -> None:
    served = settings.model_copy(
        update={"mlflow_tracking_uri": trained.tracking_uri, "served_models": ["churn", "credit"]}
    )
    with pytest.raises(ModelsUnavailableError) as refused, TestClient(create_app(served)):
        pass
    message = str(refused.value)
    assert "no version of credit is registered as champion" in message
    assert "churn" not in message and "\n" not in message


def test_the_check_before_workers_start_agrees_with_loading(trained: TrainedModels) -> None:
    registry = ModelRegistry(trained.tracking_uri)
    registry.check_servable(("fraud", "churn", "recommendation"))
    with pytest.raises(ModelsUnavailableError, match="credit"):
        registry.check_servable(("churn", "credit"))
    with pytest.raises(ModelsUnavailableError, match="credit"):
        registry.load_all(("churn", "credit"))
    assert registry.names() == ["churn"]
    empty = ModelRegistry(trained.tracking_uri.replace("mlflow.db", "missing.db"))
    with pytest.raises(ModelsUnavailableError, match="no MLflow store"):
        empty.check_servable(("churn",))
