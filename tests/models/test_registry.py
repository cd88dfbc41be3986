"""Tracking, gating, registration, promotion and loading by alias, on a real MLflow store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from models.classifier import TrainResult
from models.registry import (
    CHALLENGER,
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
    data: Path
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
        data=data,
        result=result,
        first=log_training(result, tracking_uri=uri, data_source="telco.csv"),
    )


def test_passing_model_is_registered_as_champion_and_loads_by_alias(store: Store) -> None:
    assert store.first.passed
    assert store.first.version == 1
    assert store.first.champion
    assert store.first.comparison is not None
    assert (store.first.comparison.verdict, store.first.aliases) == ("first", [CHAMPION])
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
    assert registration.comparison is None
    assert model_versions("telco-churn", tracking_uri=store.uri) == before
    # Someone registering that run by hand still cannot make it champion.
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    manual = mlflow.register_model(registration.model_uri, "telco-churn")
    with pytest.raises(RegistryError, match="did not pass its quality gates"):
        promote("telco-churn", int(manual.version), tracking_uri=store.uri)
    assert load_model("telco-churn", tracking_uri=store.uri).version == 1


def test_promote_moves_the_alias_and_rolls_back(store: Store) -> None:
    second = log_training(
        store.result, tracking_uri=store.uri, data_source="telco.csv", force_promote=True
    )
    assert second.version is not None
    assert second.comparison is not None
    assert (second.champion, second.comparison.forced) == (True, True)
    assert second.comparison.verdict == "not-better", "forced, whatever the comparison said"
    assert load_model("telco-churn", tracking_uri=store.uri).version == second.version
    promote("telco-churn", 1, tracking_uri=store.uri)
    versions = model_versions("telco-churn", tracking_uri=store.uri)
    assert [v["version"] for v in versions if CHAMPION in v["aliases"]] == [1]
    assert load_model("telco-churn", tracking_uri=store.uri).version == 1
    with pytest.raises(RegistryError, match="has no version 99"):
        promote("telco-churn", 99, tracking_uri=store.uri)


def _run(uri: str, run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    return run.data.metrics, run.data.tags


def test_the_same_training_again_is_a_challenger_and_the_champion_stays(store: Store) -> None:
    champion = load_model("telco-churn", tracking_uri=store.uri).version
    again = log_training(store.result, tracking_uri=store.uri, data_source="telco.csv")
    try:
        assert again.passed
        assert again.version is not None and again.version > champion
        assert not again.champion
        assert again.aliases == [CHALLENGER]
        assert load_model("telco-churn", tracking_uri=store.uri).version == champion
        comparison = again.comparison
        assert comparison is not None
        assert (comparison.verdict, comparison.champion_version) == ("not-better", champion)
        assert comparison.primary == "roc_auc"
        assert comparison.champion == comparison.challenger, "the same model on the same rows"
        assert comparison.held_out == f"{store.result.rows['eval']} held-out rows"
        metrics, tags = _run(store.uri, again.run_id)
        assert metrics["champion_roc_auc"] == pytest.approx(store.result.metrics["roc_auc"])
        assert metrics["champion_brier"] == pytest.approx(store.result.metrics["brier"])
        assert tags["glassbox.comparison"] == "not-better"
        assert tags["glassbox.promotion"] == CHALLENGER
        assert tags["glassbox.champion_version"] == str(champion)
        assert "roc_auc" in tags["glassbox.comparison_reason"]
        versions = {v["version"]: v for v in model_versions("telco-churn", tracking_uri=store.uri)}
        assert versions[again.version]["aliases"] == [CHALLENGER]
        assert versions[again.version]["comparison"] == "not-better"
        # A challenger can still be made champion by hand; it is then no longer the challenger.
        promote("telco-churn", again.version, tracking_uri=store.uri)
        versions = {v["version"]: v for v in model_versions("telco-churn", tracking_uri=store.uri)}
        assert versions[again.version]["aliases"] == [CHAMPION]
        assert not any(CHALLENGER in v["aliases"] for v in versions.values())
    finally:
        promote("telco-churn", champion, tracking_uri=store.uri)


def test_a_clearly_better_model_takes_champion(store: Store, tmp_path: Path) -> None:
    # The champion learned from 400 customers; the challenger from 2,500 others.
    small = write_telco_csv(tmp_path / "small.csv", n=400, seed=5)
    weaker = train_from_files("churn", TrainingFiles(data=small), spec_path=TELCO_SPEC, seed=3)
    uri = local_store(tmp_path / "store")
    first = log_training(weaker, tracking_uri=uri, data_source="small.csv")
    assert first.champion and first.version == 1
    better = log_training(store.result, tracking_uri=uri, data_source="telco.csv")
    comparison = better.comparison
    assert comparison is not None
    assert (comparison.verdict, better.champion, better.version) == ("better", True, 2)
    assert comparison.challenger["roc_auc"] > comparison.champion["roc_auc"] + 0.001
    assert comparison.reason.startswith("better on roc_auc")
    assert load_model("telco-churn", tracking_uri=uri).version == 2
    metrics, tags = _run(uri, better.run_id)
    assert metrics["champion_roc_auc"] == pytest.approx(comparison.champion["roc_auc"])
    assert (tags["glassbox.comparison"], tags["glassbox.promotion"]) == ("better", CHAMPION)


def test_a_champion_that_cannot_read_the_new_data_stays_unless_forced(
    store: Store, tmp_path: Path
) -> None:
    spec = load_spec(TELCO_SPEC)
    dropped = next(f.name for f in reversed(spec.features) if not f.actionable)
    narrower = spec.model_copy(update={"features": [f for f in spec.features if f.name != dropped]})
    path = tmp_path / "narrower.yaml"
    path.write_text(narrower.to_yaml(), encoding="utf-8")
    result = train_from_files("churn", TrainingFiles(data=store.data), spec_path=path, seed=3)
    champion = load_model("telco-churn", tracking_uri=store.uri).version
    try:
        kept = log_training(result, tracking_uri=store.uri, data_source="telco.csv")
        assert kept.comparison is not None
        assert kept.comparison.verdict == "not-comparable"
        assert f"features the new data lacks: {dropped}" in kept.comparison.reason
        assert (kept.champion, kept.aliases) == (False, [CHALLENGER])
        assert load_model("telco-churn", tracking_uri=store.uri).version == champion
        forced = log_training(
            result, tracking_uri=store.uri, data_source="telco.csv", force_promote=True
        )
        assert forced.comparison is not None
        assert (forced.champion, forced.comparison.verdict) == (True, "not-comparable")
        assert load_model("telco-churn", tracking_uri=store.uri).version == forced.version
        assert _run(store.uri, forced.run_id)[1]["glassbox.promotion"] == "forced"
    finally:
        promote("telco-churn", champion, tracking_uri=store.uri)


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
