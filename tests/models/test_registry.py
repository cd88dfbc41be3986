"""Tracking, gating, registration, promotion and loading by alias, on a real MLflow store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from models.classifier import TrainResult
from models.registry import (
    CHAMPION,
    TRUSTED_TYPES,
    Registration,
    RegistryError,
    StoreNotFoundError,
    load_model,
    local_store,
    log_training,
    model_versions,
    promote,
    require_store,
)
from models.spec import Gate, load_spec
from models.training import TrainingFiles, train_from_files
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml"


@dataclass(frozen=True)
class Store:
    uri: str
    result: TrainResult
    first: Registration


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    home = tmp_path_factory.mktemp("mlflow")
    data = write_telco_csv(home / "telco.csv", n=2500)
    result = train_from_files("churn", TrainingFiles(data=data), spec_path=TELCO_SPEC, seed=3)
    uri = local_store(home)
    return Store(
        uri=uri,
        result=result,
        first=log_training(result, tracking_uri=uri, data_source="telco.csv"),
    )


def test_passing_model_is_registered_as_champion_and_loads_by_alias(store: Store) -> None:
    assert store.first.passed
    assert store.first.version == 1
    assert store.first.champion
    loaded = load_model("telco-churn", tracking_uri=store.uri)
    assert (loaded.version, loaded.run_id) == (1, store.first.run_id)
    assert loaded.spec == store.result.spec
    example = store.result.example
    np.testing.assert_array_equal(
        loaded.model.predict_proba(example), store.result.model.predict_proba(example)
    )


def test_saved_model_needs_only_the_listed_trusted_types(store: Store) -> None:
    dumped = sio.dumps(store.result.model)
    assert set(sio.get_untrusted_types(data=dumped)) <= set(TRUSTED_TYPES)
    with pytest.raises(Exception, match="Untrusted types"):
        sio.loads(dumped, trusted=[])


def test_model_failing_its_gates_is_logged_but_never_registered(store: Store) -> None:
    strict = store.result.spec.model_copy(update={"gates": {"roc_auc": Gate(min=0.999)}})
    failing = TrainResult(**{**store.result.__dict__, "spec": strict, "gates": {"roc_auc": False}})
    before = model_versions("telco-churn", tracking_uri=store.uri)
    registration = log_training(failing, tracking_uri=store.uri, data_source="telco.csv")
    assert not registration.passed
    assert registration.version is None
    assert not registration.champion
    assert model_versions("telco-churn", tracking_uri=store.uri) == before
    # Someone registering that run by hand still cannot make it champion.
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    manual = mlflow.register_model(registration.model_uri, "telco-churn")
    with pytest.raises(RegistryError, match="did not pass its quality gates"):
        promote("telco-churn", int(manual.version), tracking_uri=store.uri)
    assert load_model("telco-churn", tracking_uri=store.uri).version == 1


def test_promote_moves_the_alias_and_rolls_back(store: Store) -> None:
    second = log_training(store.result, tracking_uri=store.uri, data_source="telco.csv")
    assert second.version is not None
    assert load_model("telco-churn", tracking_uri=store.uri).version == second.version
    promote("telco-churn", 1, tracking_uri=store.uri)
    versions = model_versions("telco-churn", tracking_uri=store.uri)
    assert [v["version"] for v in versions if CHAMPION in v["aliases"]] == [1]
    assert load_model("telco-churn", tracking_uri=store.uri).version == 1
    with pytest.raises(RegistryError, match="has no version 99"):
        promote("telco-churn", 99, tracking_uri=store.uri)


def test_unknown_model_or_alias(store: Store) -> None:
    with pytest.raises(RegistryError, match="no version aliased"):
        load_model("nonexistent", tracking_uri=store.uri)
    with pytest.raises(RegistryError, match="no registered model"):
        model_versions("nonexistent", tracking_uri=store.uri)


def test_run_carries_card_spec_fairness_and_shap_plot(store: Store) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store.uri)
    names = {a.path for a in client.list_artifacts(store.first.run_id)}
    assert {"spec.yaml", "model_card.md", "fairness.json", "shap_summary.png"} <= names
    run = client.get_run(store.first.run_id)
    assert run.data.metrics["roc_auc"] == pytest.approx(store.result.metrics["roc_auc"])
    assert run.data.tags["glassbox.gates"] == "passed"
    card = Path(
        client.download_artifacts(
            store.first.run_id, "model_card.md", str(Path(store.uri[10:]).parent)
        )
    ).read_text(encoding="utf-8")
    assert "## Intended use" in card
    assert "| roc_auc |" in card
    assert "### gender" in card, "fairness by protected attribute is in the card"
    assert load_spec(TELCO_SPEC).name in card


@pytest.mark.parametrize("form", ["sqlite", "sqlite-empty-file", "file", "path"])
def test_reading_a_store_that_does_not_exist_refuses_and_creates_nothing(
    tmp_path: Path, form: str
) -> None:
    # A mistyped URI used to create an empty store there, which then served no model at all.
    where = tmp_path / "typo" / "mlflow.db"
    uri = {
        "sqlite": f"sqlite:///{where}",
        "sqlite-empty-file": f"sqlite:///{tmp_path / 'empty.db'}",
        "file": (tmp_path / "typo" / "mlruns").as_uri(),
        "path": str(tmp_path / "typo" / "mlruns"),
    }[form]
    if form == "sqlite-empty-file":
        (tmp_path / "empty.db").touch()
    for read in (
        lambda: load_model("churn", tracking_uri=uri),
        lambda: model_versions("churn", tracking_uri=uri),
        lambda: promote("churn", 1, tracking_uri=uri),
    ):
        with pytest.raises(StoreNotFoundError, match="MLflow store"):
            read()
    with pytest.raises(StoreNotFoundError):
        require_store(uri)
    assert not (tmp_path / "typo").exists()
    if form == "sqlite-empty-file":
        assert (tmp_path / "empty.db").stat().st_size == 0  # opened read-only: no tables made


def test_an_existing_store_is_accepted(store: Store) -> None:
    require_store(store.uri)
    assert model_versions(store.first.name, tracking_uri=store.uri)
