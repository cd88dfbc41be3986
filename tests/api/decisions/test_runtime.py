"""Served models: a start serves the ones it can and warns of the others, naming what is
registered; a start that can serve none of them refuses, and says why."""

from __future__ import annotations

import logging
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


def test_a_start_serves_what_it_can_and_warns_of_a_name_not_registered(
    settings: Settings, trained: TrainedModels, caplog: pytest.LogCaptureFixture
) -> None:
    served = settings.model_copy(
        update={"mlflow_tracking_uri": trained.tracking_uri, "served_models": ["churn", "frad"]}
    )
    with caplog.at_level(logging.WARNING, "glassbox.startup"), TestClient(create_app(served)):
        pass
    (warning,) = [r for r in caplog.records if r.name == "glassbox.startup"]
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert message.startswith("GLASSBOX_SERVED_MODELS names frad, which is not registered")
    # Every registered model is named, the decisions by rules (account-suspension ...) too.
    assert "did you mean fraud?" in message and "registered there: " in message
    assert "churn (champion v" in message and "refund (champion v" in message
    assert "\n" not in message


def test_a_start_refuses_when_no_served_model_can_be_served(
    settings: Settings, trained: TrainedModels
) -> None:
    served = settings.model_copy(
        update={"mlflow_tracking_uri": trained.tracking_uri, "served_models": ["telco-churn"]}
    )
    with pytest.raises(ModelsUnavailableError) as refused, TestClient(create_app(served)):
        pass
    message = str(refused.value)
    assert "none of GLASSBOX_SERVED_MODELS (telco-churn)" in message
    assert "registered there: " in message and "churn (champion v" in message
    assert "fraud" in message
    # The decisions by rules and the profiles are registered models too, named in order.
    assert (
        "GLASSBOX_SERVED_MODELS=account-suspension,churn,credit,fraud,geo-restriction,"
        "lifetime_value,propensity,recommendation,refund,segments" in message
    )
    assert "\n" not in message


def test_the_check_before_workers_start_agrees_with_loading(trained: TrainedModels) -> None:
    registry = ModelRegistry(trained.tracking_uri)
    assert registry.check_servable(("fraud", "churn", "credit", "recommendation")) == {}
    warned = registry.check_servable(("churn", "scoring"))
    assert list(warned) == ["scoring"] and "not registered" in warned["scoring"]
    assert registry.load_all(("churn", "scoring")) == warned
    assert registry.names() == ["churn"]
    with pytest.raises(ModelsUnavailableError, match="scoring"):
        registry.check_servable(("scoring",))
    empty = ModelRegistry(trained.tracking_uri.replace("mlflow.db", "missing.db"))
    with pytest.raises(ModelsUnavailableError, match="no MLflow store"):
        empty.check_servable(("churn",))
