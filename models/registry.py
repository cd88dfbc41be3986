"""Tracking and registering models in MLflow, and loading the champion by alias.

A model version is registered only when its quality gates pass, and the ``champion`` alias is
what serving follows (stages are deprecated in MLflow). Models are stored with skops and an
explicit list of trusted types, so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from models.classifier import TrainResult
from models.reporting import model_card, shap_summary_figure
from models.spec import ModelSpec

__all__ = [
    "CHAMPION",
    "TRUSTED_TYPES",
    "LoadedModel",
    "Registration",
    "RegistryError",
    "StoreNotFoundError",
    "load_model",
    "local_store",
    "log_training",
    "model_versions",
    "promote",
    "registered_models",
    "require_store",
]

CHAMPION = "champion"
EXPERIMENT = "glassbox"

# Everything a saved glassbox model may contain beyond what skops trusts by default. Loading
# refuses any other type, so a tampered artifact cannot smuggle in code.
TRUSTED_TYPES = [
    "models.encoding.SpecEncoder",
    "models.recommendation.HybridRecommender",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]

_MODULE_DIR = Path(__file__).parent


class RegistryError(RuntimeError):
    """A registry operation that cannot be done as asked (unknown version, failed gates …)."""


class StoreNotFoundError(RegistryError):
    """No MLflow store at the tracking URI: reading one never creates it."""


@dataclass(frozen=True)
class Registration:
    """Where a training run ended up."""

    name: str
    run_id: str
    model_uri: str
    version: int | None
    champion: bool
    passed: bool
    metrics: dict[str, float]
    gates: dict[str, bool]


@dataclass(frozen=True)
class LoadedModel:
    """A servable model: the fitted object, its spec, and exactly which version it is."""

    name: str
    version: int
    run_id: str
    model: Any
    spec: ModelSpec


def local_store(home: str | Path) -> str:
    """The tracking URI of a project-local, SQLite-backed MLflow store under ``home``."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mlflow.db'}"


def require_store(tracking_uri: str) -> None:
    """Refuse a local MLflow store that does not exist, before MLflow would create an empty one.

    MLflow creates a SQLite file (with its tables) or a store folder on first use of a URI, so a
    mistyped path would otherwise read as a store with no models in it. SQLite stores are opened
    read-only here; remote stores (HTTP, a database server) are left to MLflow.

    Parameters
    ----------
    tracking_uri : str
        ``sqlite:///<path>``, ``file://<path>``, a plain path, or a remote URI.

    Raises
    ------
    StoreNotFoundError
        When the file or folder does not exist, or the SQLite file holds no MLflow registry.
    """
    scheme, _, rest = tracking_uri.partition(":")
    if scheme == "sqlite":
        database = rest.removeprefix("///").split("?", 1)[0]
        if database in {"", ":memory:"}:
            return
        path = Path(database)
        if not path.is_file():
            raise StoreNotFoundError(f"no MLflow store at {tracking_uri}: {path} does not exist")
        try:
            with contextlib.closing(
                sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            ) as connection:
                found = connection.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    ("registered_models",),
                ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreNotFoundError(f"{tracking_uri} is not an MLflow store: {exc}") from exc
        if found is None:
            raise StoreNotFoundError(f"{tracking_uri} is not an MLflow store (no model registry)")
        return
    if scheme == "file" or "://" not in tracking_uri:
        folder = Path(unquote(urlparse(tracking_uri).path) if scheme == "file" else tracking_uri)
        if not folder.is_dir():
            raise StoreNotFoundError(f"no MLflow store at {tracking_uri}: {folder} does not exist")


@contextlib.contextmanager
def _tracking(tracking_uri: str, *, create: bool = False) -> Iterator[Any]:
    # Only training creates a store; anything else on a mistyped URI must fail, not find an
    # empty store. No telemetry from a service that promises not to track people; and keep
    # MLflow's global tracking URI from leaking between stores.
    if not create:
        require_store(tracking_uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow
    from mlflow import MlflowClient

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def _experiment_id(client: Any, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifacts: str | None = None
    if tracking_uri.startswith("sqlite:///"):
        # Artifacts beside the database, so the whole store is one project-local folder.
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        artifacts = (db.parent / "mlartifacts").resolve().as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=artifacts))


def _requirements() -> list[str]:
    names = ["scikit-learn", "skops", "numpy", "pandas", "scipy", "pyyaml", "pydantic"]
    return [f"{name}=={package_version(name)}" for name in names]


def log_training(
    result: TrainResult,
    *,
    tracking_uri: str,
    data_source: str,
    register: bool = True,
) -> Registration:
    """Log a training run to MLflow and, if its gates pass, register it and make it champion.

    Logged: parameters, metrics, each gate's verdict, the spec, a model card, the fairness
    table, a global SHAP summary plot, and the model (skops, with signature and input example).
    """
    import mlflow
    from mlflow.models import infer_signature

    spec = result.spec
    with _tracking(tracking_uri, create=True) as client:
        experiment_id = _experiment_id(client, tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}-train") as run:
            mlflow.set_tags(
                {
                    "glassbox.model": spec.name,
                    "glassbox.kind": spec.kind,
                    "glassbox.policy_version": spec.policy.version,
                    "glassbox.data_source": data_source,
                    "glassbox.gates": "passed" if result.passed else "failed",
                }
            )
            mlflow.log_params({k: str(v) for k, v in result.params.items()})
            mlflow.log_metrics(result.metrics)
            mlflow.log_metrics({f"gate.{k}": float(v) for k, v in result.gates.items()})
            mlflow.log_text(spec.to_yaml(), "spec.yaml")
            mlflow.log_text(model_card(result, data_source=data_source), "model_card.md")
            mlflow.log_text(json.dumps(result.fairness, indent=2), "fairness.json")
            figure = shap_summary_figure(result)
            mlflow.log_figure(figure, "shap_summary.png")
            import matplotlib.pyplot as plt

            plt.close(figure)
            example = result.example
            signature = infer_signature(example, result.model.predict_proba(example)[:, 1])
            info = mlflow.sklearn.log_model(
                result.model,
                name="model",
                serialization_format="skops",
                skops_trusted_types=TRUSTED_TYPES,
                signature=signature,
                input_example=example,
                pip_requirements=_requirements(),
                code_paths=[str(_MODULE_DIR)],
            )
            model_uri = info.model_uri
            run_id = run.info.run_id
        version: int | None = None
        champion = False
        if register and result.passed:
            registered = mlflow.register_model(
                model_uri, spec.name, tags={"glassbox.gates": "passed", "glassbox.run_id": run_id}
            )
            version = int(registered.version)
            client.set_registered_model_alias(spec.name, CHAMPION, str(version))
            champion = True
    return Registration(
        name=spec.name,
        run_id=run_id,
        model_uri=model_uri,
        version=version,
        champion=champion,
        passed=result.passed,
        metrics=dict(result.metrics),
        gates=dict(result.gates),
    )


def promote(name: str, version: int, *, tracking_uri: str) -> None:
    """Point the ``champion`` alias at ``version`` (a rollback is a promote of an older one).

    Raises
    ------
    RegistryError
        When the model or version does not exist, or the version did not pass its gates.
    """
    from mlflow.exceptions import MlflowException

    with _tracking(tracking_uri) as client:
        try:
            mv = client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise RegistryError(f"model {name!r} has no version {version}") from exc
        if mv.tags.get("glassbox.gates") != "passed":
            raise RegistryError(f"{name} version {version} did not pass its quality gates")
        client.set_registered_model_alias(name, CHAMPION, str(version))


def model_versions(name: str, *, tracking_uri: str) -> list[dict[str, Any]]:
    """Registered versions of a model, newest first, with aliases and run ids."""
    from mlflow.exceptions import MlflowException

    with _tracking(tracking_uri) as client:
        try:
            aliases = client.get_registered_model(name).aliases
        except MlflowException as exc:
            raise RegistryError(f"no registered model named {name!r}") from exc
        by_version: dict[str, list[str]] = {}
        for alias, v in aliases.items():
            by_version.setdefault(str(v), []).append(alias)
        versions = client.search_model_versions(f"name = '{name}'")
        return [
            {
                "version": int(mv.version),
                "run_id": mv.run_id,
                "aliases": sorted(by_version.get(str(mv.version), [])),
                "created_at": mv.creation_timestamp,
            }
            for mv in sorted(versions, key=lambda m: int(m.version), reverse=True)
        ]


def registered_models(*, tracking_uri: str) -> dict[str, dict[str, int]]:
    """Every registered model of a store, with its aliases.

    Raises
    ------
    StoreNotFoundError
        When there is no store at the URI (none is created).

    Returns
    -------
    dict of str to dict of str to int
        Model name to ``{alias: version}``, by name.
    """
    with _tracking(tracking_uri) as client:
        found: dict[str, dict[str, int]] = {}
        token: str | None = None
        while True:
            page = client.search_registered_models(max_results=1000, page_token=token)
            for model in page:
                found[model.name] = {alias: int(v) for alias, v in model.aliases.items()}
            token = page.token
            if not token:
                return dict(sorted(found.items()))


def load_model(
    name: str, *, tracking_uri: str, alias: str = CHAMPION, version: int | None = None
) -> LoadedModel:
    """Load the version an alias points at (or a given version), with its training spec.

    Raises
    ------
    RegistryError
        When the model, alias or version does not exist.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    with _tracking(tracking_uri) as client:
        try:
            if version is None:
                mv = client.get_model_version_by_alias(name, alias)
            else:
                mv = client.get_model_version(name, str(version))
        except MlflowException as exc:
            wanted = f"version {version}" if version is not None else f"version aliased {alias!r}"
            raise RegistryError(f"model {name!r} has no {wanted}") from exc
        model = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path="spec.yaml", dst_path=tmp
            )
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return LoadedModel(
        name=name,
        version=int(mv.version),
        run_id=str(mv.run_id),
        model=model,
        spec=ModelSpec.model_validate(raw),
    )
