"""The recommender's data and fitted model, shared by its tests: generated CSVs through the
operator's path (read as text, validated against the spec), trained once per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from data_fixtures import generate_catalogue, generate_interactions, generate_learners
from models.classifier import TrainResult
from models.data import read_csv
from models.recommendation import HybridRecommender
from models.recommendation_data import validate_interactions, validate_items
from models.recommendation_training import train
from models.spec import ModelSpec, default_spec_path, load_spec

N_ITEMS, N_LEARNERS, SEED = 150, 600, 7
NOW = "2026-10-01T00:00:00Z"


@dataclass(frozen=True)
class Files:
    items: Path
    interactions: Path
    learners: Path


@dataclass(frozen=True)
class Data:
    spec: ModelSpec
    items: pd.DataFrame
    interactions: pd.DataFrame
    learners: pd.DataFrame


@pytest.fixture(scope="package")
def spec() -> ModelSpec:
    return load_spec(default_spec_path("recommendation"))


@pytest.fixture(scope="package")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("recommendation")
    catalogue = generate_catalogue(N_ITEMS, seed=SEED)
    learners = generate_learners(N_LEARNERS, seed=SEED)
    interactions = generate_interactions(learners, catalogue, seed=SEED)
    out = Files(folder / "items.csv", folder / "interactions.csv", folder / "learners.csv")
    catalogue.to_csv(out.items, index=False)
    interactions.to_csv(out.interactions, index=False)
    learners.to_csv(out.learners, index=False)
    return out


@pytest.fixture(scope="package")
def data(spec: ModelSpec, files: Files) -> Data:
    # Through the operator's path: text CSVs, read as text, validated against the spec.
    items = validate_items(read_csv(files.items), spec, source="items.csv")
    interactions = validate_interactions(
        read_csv(files.interactions), spec, source="interactions.csv", items=items
    )
    return Data(spec, items, interactions, read_csv(files.learners))


@pytest.fixture(scope="package")
def result(data: Data) -> TrainResult:
    return train(data.interactions, data.items, data.spec, seed=SEED, learners=data.learners)


@pytest.fixture(scope="package")
def model(result: TrainResult) -> HybridRecommender:
    assert isinstance(result.model, HybridRecommender)
    return result.model
