"""Training any kind of model from files: the operator's own or the generated fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import churn, credit, fraud, profiles
from models.classifier import TrainResult
from models.data import DataError, read_csv, validate_frame
from models.spec import ModelKind, ModelSpec, SpecError, default_spec_path, load_spec

__all__ = ["TrainingFiles", "train_from_files"]


@dataclass(frozen=True)
class TrainingFiles:
    """The input files of one training run.

    ``data`` is the table of examples (transactions, customers) or, for the recommender, the
    interactions; ``items`` the recommender's catalogue; ``learners`` optional protected
    attributes of the recommender's users for the fairness table.
    """

    data: Path
    items: Path | None = None
    learners: Path | None = None


def _spec(kind: ModelKind, spec_path: Path | None) -> ModelSpec:
    spec = load_spec(spec_path or default_spec_path(kind))
    if spec.kind != kind:
        raise SpecError(f"{spec_path}: the spec is for a {spec.kind} model, not {kind}")
    return spec


def train_from_files(
    kind: ModelKind,
    files: TrainingFiles,
    *,
    spec_path: Path | None = None,
    seed: int = 7,
) -> TrainResult:
    """Validate the files against the spec and train; nothing is registered here.

    Raises
    ------
    SpecError
        The spec file is unreadable or invalid, or is for another kind of model.
    DataError
        A file does not fit the spec (missing column, wrong type, empty, single-class target …).
    """
    spec = _spec(kind, spec_path)
    if kind == "recommendation":
        from models.recommendation_data import validate_interactions, validate_items
        from models.recommendation_training import train

        if files.items is None:
            raise DataError(str(files.data), ["a recommender needs an items CSV (--items)"])
        # Items first: interactions that point outside the catalogue are checked against it.
        items = validate_items(
            read_csv(files.items, options=spec.csv), spec, source=str(files.items)
        )
        interactions = validate_interactions(
            read_csv(files.data, options=spec.csv), spec, source=str(files.data), items=items
        )
        learners = read_csv(files.learners, options=spec.csv) if files.learners else None
        return train(interactions, items, spec, seed=seed, learners=learners)
    frame = validate_frame(read_csv(files.data, options=spec.csv), spec, source=str(files.data))
    if kind == "fraud":
        return fraud.train(frame, spec, seed=seed)
    if kind == "credit":
        return credit.train(frame, spec, seed=seed)
    if kind == "lifetime_value":
        return profiles.train_lifetime_value(frame, spec, seed=seed)
    if kind == "propensity":
        return profiles.train_propensity(frame, spec, seed=seed)
    if kind == "segments":
        return profiles.train_segments(frame, spec, seed=seed)
    return churn.train(frame, spec, seed=seed)
