"""Shared test set-up: the four models, trained once per session into a temporary MLflow store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.classifier import TrainResult
from models.registry import Registration, local_store, log_rules, log_training
from models.spec import ModelKind, load_spec, shipped_rule_specs
from models.training import TrainingFiles, train_from_files

# Large enough for the gates to be meaningful (about 200 frauds held out), small enough to train
# in seconds.
TEST_SIZES = {
    "transactions": 40_000,
    "customers": 10_000,
    "applicants": 3_000,
    "items": 150,
    "learners": 600,
    "buyers": 3_000,
}


@pytest.fixture(autouse=True, scope="session")
def _quiet_environment() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@dataclass(frozen=True)
class TrainedModels:
    """The session's models: training results and where each landed in the MLflow store."""

    home: Path
    tracking_uri: str
    files: dict[ModelKind, TrainingFiles]
    results: dict[ModelKind, TrainResult]
    registrations: dict[ModelKind, Registration]
    # The shipped decisions made by rules, registered in the same store, by name.
    rules: dict[str, Registration]


def _write_fixtures(folder: Path) -> dict[ModelKind, TrainingFiles]:
    from data_fixtures import (
        generate_applicants,
        generate_buyers,
        generate_catalogue,
        generate_customers,
        generate_interactions,
        generate_learners,
        generate_transactions,
    )

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in TEST_SIZES}
    generate_transactions(TEST_SIZES["transactions"]).to_csv(paths["transactions"], index=False)
    generate_customers(TEST_SIZES["customers"]).to_csv(paths["customers"], index=False)
    generate_applicants(TEST_SIZES["applicants"]).to_csv(paths["applicants"], index=False)
    generate_buyers(TEST_SIZES["buyers"]).to_csv(paths["buyers"], index=False)
    catalogue = generate_catalogue(TEST_SIZES["items"])
    learners = generate_learners(TEST_SIZES["learners"])
    catalogue.to_csv(paths["items"], index=False)
    learners.to_csv(paths["learners"], index=False)
    interactions = folder / "interactions.csv"
    generate_interactions(learners, catalogue).to_csv(interactions, index=False)
    return {
        "fraud": TrainingFiles(data=paths["transactions"]),
        "churn": TrainingFiles(data=paths["customers"]),
        "credit": TrainingFiles(data=paths["applicants"]),
        "recommendation": TrainingFiles(
            data=interactions, items=paths["items"], learners=paths["learners"]
        ),
        "lifetime_value": TrainingFiles(data=paths["buyers"]),
        "propensity": TrainingFiles(data=paths["buyers"]),
        "segments": TrainingFiles(data=paths["buyers"]),
    }


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    home = tmp_path_factory.mktemp("glassbox-home")
    files = _write_fixtures(home / "fixtures")
    uri = local_store(home)
    results: dict[ModelKind, TrainResult] = {}
    registrations: dict[ModelKind, Registration] = {}
    for kind, inputs in files.items():
        results[kind] = train_from_files(kind, inputs, seed=7)
        registrations[kind] = log_training(
            results[kind], tracking_uri=uri, data_source=str(inputs.data)
        )
    rules = {}
    for path in shipped_rule_specs():
        spec = load_spec(path)
        rules[spec.name] = log_rules(spec, tracking_uri=uri, data_source=str(path))
    return TrainedModels(
        home=home,
        tracking_uri=uri,
        files=files,
        results=results,
        registrations=registrations,
        rules=rules,
    )
