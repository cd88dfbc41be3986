"""Tracking and registering models in MLflow, and loading the champion by alias.

A model version is registered only when its quality gates pass, and the ``champion`` alias is
what serving follows (stages are deprecated in MLflow). Models are stored with skops and an
explicit list of trusted types, so loading never unpickles arbitrary objects.

Champion and challenger: a new version that passes its gates becomes champion only when there
is none yet, or when it beats the current champion measured on the *new* run's held-out data
(the same rows, the same metric function, the new spec's gates): better on the primary metric
(the spec's first gate) by more than ``TOLERANCE``, or the champion fails a gate on that data.
A tie keeps the champion: re-running the same training changes nothing that serves. A version
that does not win is still registered, under the ``challenger`` alias, to be promoted by hand;
when the champion cannot be measured on the new data (other features, another kind), nothing
moves unless promotion is forced. The comparison is logged on the new run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import yaml

from models.classifier import TrainResult
from models.holdout import ClassifierHoldout, NotComparableError
from models.monitoring import REFERENCE_ARTIFACT, Reference, compute_reference
from models.reporting import model_card, shap_summary_figure
from models.rules import ExampleResult, check_examples
from models.spec import ModelSpec

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "TOLERANCE",
    "TRUSTED_TYPES",
    "Comparison",
    "LoadedModel",
    "Registration",
    "RegistryError",
    "StoreNotFoundError",
    "judge",
    "load_model",
    "local_store",
    "log_rules",
    "log_training",
    "model_versions",
    "promote",
    "registered_models",
    "require_store",
    "training_reference",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
# How much better the primary metric must be to move the champion: a re-run, or noise of this
# size, is not a reason to change what serves.
TOLERANCE = 0.001
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


Verdict = Literal["first", "better", "not-better", "not-comparable"]


@dataclass(frozen=True)
class Comparison:
    """A new version against the current champion, both measured on the new run's held-out data.

    ``verdict``: ``first`` (there was no champion), ``better`` (the new version wins),
    ``not-better`` (the champion stays), ``not-comparable`` (the champion cannot be measured on
    the new data; ``reason`` says why). ``promoted`` is whether the new version became champion,
    ``forced`` whether that was asked for regardless of the verdict.
    """

    verdict: Verdict
    reason: str
    promoted: bool
    forced: bool = False
    champion_version: int | None = None
    primary: str | None = None
    held_out: str = ""
    challenger: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)


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
    comparison: Comparison | None = None

    @property
    def aliases(self) -> list[str]:
        """The aliases the new version got (none when it was not registered)."""
        if self.version is None:
            return []
        return [CHAMPION] if self.champion else [CHALLENGER]


@dataclass(frozen=True)
class LoadedModel:
    """A servable model: the fitted object, its spec, and exactly which version it is."""

    name: str
    version: int
    run_id: str
    model: Any
    spec: ModelSpec
    # The training reference of the monitoring figures (None: a version registered before it).
    reference: Reference | None = None


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
    # Loading the champion to compare with it downloads its spec: no progress bar in the
    # middle of a command's output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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


def _higher_is_better(spec: ModelSpec) -> dict[str, bool]:
    # A ``min`` gate bounds a metric where more is better (AUC, precision); a ``max`` gate one
    # where less is better (Brier score, calibration error).
    return {name: gate.min is not None or gate.max is None for name, gate in spec.gates.items()}


def judge(
    spec: ModelSpec, challenger: Mapping[str, float], champion: Mapping[str, float]
) -> tuple[bool, str]:
    """Whether a new version that passed its gates beats the champion, and why, in words.

    Both sets of metrics were measured on the same held-out data. The new version wins when the
    champion fails one of ``spec``'s gates on that data, or when it is better on the primary
    metric (the first gate) by more than ``TOLERANCE``; a tie keeps the champion.

    Raises
    ------
    NotComparableError
        When the spec has no gates, or the champion's primary metric cannot be measured.
    """
    if not spec.gates:
        raise NotComparableError("the spec has no gate metric to compare on")
    primary = next(iter(spec.gates))
    new, old = challenger.get(primary, math.nan), champion.get(primary, math.nan)
    if math.isnan(old):
        raise NotComparableError(f"its {primary} cannot be measured on the new data")
    failing = [m for m, gate in spec.gates.items() if not gate.passes(champion.get(m, math.nan))]
    if failing:
        return True, f"the champion fails the gate on {', '.join(failing)} on the new data"
    gain = new - old if _higher_is_better(spec)[primary] else old - new
    figures = f"{primary} {new:.4f} against the champion's {old:.4f}"
    if gain > TOLERANCE:
        return True, f"better on {figures}"
    return False, f"not better than the champion by more than {TOLERANCE} on {figures}"


def _compare(result: TrainResult, *, tracking_uri: str, client: Any, force: bool) -> Comparison:
    """Measure the current champion on the new run's held-out data and judge the two."""
    from mlflow.exceptions import MlflowException

    spec = result.spec
    mine = {m: result.metrics.get(m, math.nan) for m in spec.gates}
    base: dict[str, Any] = {
        "forced": force,
        "primary": next(iter(spec.gates), None),
        "challenger": mine,
        "higher_is_better": _higher_is_better(spec),
        "held_out": result.holdout.size if result.holdout is not None else "",
    }
    try:
        current = client.get_model_version_by_alias(spec.name, CHAMPION)
    except MlflowException:
        return Comparison("first", "there is no champion yet", promoted=True, **base)
    base["champion_version"] = int(current.version)
    try:
        if result.holdout is None:
            raise NotComparableError("the new run kept no held-out data to measure it on")
        try:
            loaded = load_model(spec.name, tracking_uri=tracking_uri)
        # Whatever stops an old artifact from loading (a type no longer trusted, a missing
        # file) means it cannot be compared; the operator is told why and may force promotion.
        except Exception as exc:
            raise NotComparableError(f"it could not be loaded: {exc}") from exc
        theirs = result.holdout.score(loaded.model, loaded.spec)
        if loaded.reference is None:
            _cache_reference(client, str(current.run_id), loaded.model, loaded.spec, result)
        base["champion"] = {m: theirs.get(m, math.nan) for m in spec.gates}
        wins, reason = judge(spec, mine, theirs)
    except NotComparableError as exc:
        reason = (
            f"the champion (version {current.version}) cannot be measured on the new data: {exc}"
        )
        return Comparison("not-comparable", reason, promoted=force, **base)
    return Comparison("better" if wins else "not-better", reason, promoted=wins or force, **base)


def training_reference(result: TrainResult) -> Reference | None:
    """The monitoring reference of a classifier run, on its evaluation split.

    Returns
    -------
    Reference or None
        None for a run that kept no evaluation rows (a recommender).
    """
    if not isinstance(result.holdout, ClassifierHoldout):
        return None
    return compute_reference(result.model, result.spec, result.holdout.frame)


def _cache_reference(
    client: Any, run_id: str, model: Any, spec: ModelSpec, result: TrainResult
) -> None:
    """Compute an older version's reference on the new run's held-out rows and log it to its run.

    A version registered before references were logged gets one the first time a new run holds
    rows it can be measured on; its served figures then have bins and a baseline.
    """
    if not isinstance(result.holdout, ClassifierHoldout) or model is None:
        return
    if any(f not in result.holdout.frame.columns for f in spec.feature_names):
        return
    reference = compute_reference(model, spec, result.holdout.frame)
    client.log_dict(run_id, reference.to_dict(), REFERENCE_ARTIFACT)


def _reference(client: Any, run_id: str) -> Reference | None:
    import mlflow

    folder = REFERENCE_ARTIFACT.rpartition("/")[0]
    if not any(a.path == REFERENCE_ARTIFACT for a in client.list_artifacts(run_id, folder)):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp
        )
        return Reference.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _log_comparison(comparison: Comparison) -> None:
    import mlflow

    mlflow.log_metrics(
        {f"champion_{m}": v for m, v in comparison.champion.items() if math.isfinite(v)}
    )
    tags = {
        "glassbox.comparison": comparison.verdict,
        "glassbox.comparison_reason": comparison.reason,
        "glassbox.promotion": (
            "forced" if comparison.forced else CHAMPION if comparison.promoted else CHALLENGER
        ),
    }
    if comparison.champion_version is not None:
        tags["glassbox.champion_version"] = str(comparison.champion_version)
    if comparison.primary is not None:
        tags["glassbox.primary_metric"] = comparison.primary
    mlflow.set_tags(tags)


def _version_tags(run_id: str, comparison: Comparison) -> dict[str, str]:
    """The tags of a registered version: it passed, its run, how it compared."""
    return {
        "glassbox.gates": "passed",
        "glassbox.run_id": run_id,
        "glassbox.comparison": comparison.verdict,
        "glassbox.forced": str(comparison.forced).lower(),
    }


def _take_alias(client: Any, name: str, version: int, comparison: Comparison) -> bool:
    """Give a new version ``champion`` if it was promoted, else ``challenger``; whether it won."""
    alias = CHAMPION if comparison.promoted else CHALLENGER
    client.set_registered_model_alias(name, alias, str(version))
    return comparison.promoted


def log_training(
    result: TrainResult,
    *,
    tracking_uri: str,
    data_source: str,
    register: bool = True,
    force_promote: bool = False,
) -> Registration:
    """Log a training run to MLflow; if its gates pass, register it and judge it for champion.

    Logged: parameters, metrics, each gate's verdict, the spec, a model card, the fairness
    table, a global SHAP summary plot, and the model (skops, with signature and input example).
    A registered version becomes champion if there is none, if it beats the champion on the
    new run's held-out data (see the module's docstring), or if ``force_promote``; otherwise it
    gets the ``challenger`` alias. The comparison is logged on the run: the champion's figures
    as ``champion_<metric>`` metrics, the verdict and its reason as ``glassbox.comparison*``
    tags.

    Parameters
    ----------
    result : TrainResult
        A training run, with its held-out data.
    tracking_uri : str
        The MLflow store (created if missing).
    data_source : str
        Where the training data came from, for the run's tags and model card.
    register : bool
        False to log the run only.
    force_promote : bool
        Make a passing version champion whatever the comparison says.

    Returns
    -------
    Registration
        The run, the version (``None`` when not registered) and the comparison.
    """
    import mlflow
    from mlflow.models import infer_signature

    spec = result.spec
    comparison: Comparison | None = None
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
            reference = training_reference(result)
            if reference is not None:
                mlflow.log_dict(reference.to_dict(), REFERENCE_ARTIFACT)
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
            if register and result.passed:
                comparison = _compare(
                    result, tracking_uri=tracking_uri, client=client, force=force_promote
                )
                _log_comparison(comparison)
        version: int | None = None
        champion = False
        if comparison is not None:
            registered = mlflow.register_model(
                model_uri, spec.name, tags=_version_tags(run_id, comparison)
            )
            version = int(registered.version)
            champion = _take_alias(client, spec.name, version, comparison)
    return Registration(
        name=spec.name,
        run_id=run_id,
        model_uri=model_uri,
        version=version,
        champion=champion,
        passed=result.passed,
        metrics=dict(result.metrics),
        gates=dict(result.gates),
        comparison=comparison,
    )


def _rules_card(spec: ModelSpec, examples: list[ExampleResult]) -> str:
    """The rules of a version as an operator reads them: each rule, its outcome, the examples."""
    rules = spec.rules
    assert rules is not None
    lines = [f"# {spec.name} (decided by rules)", "", spec.description.en, "", "## Rules", ""]
    for n, rule in enumerate(rules.rules, 1):
        when = " and ".join(f"{c.input} {c.op} {c.value}" for c in rule.when)
        lines.append(f"{n}. `{rule.id}`: when {when}, **{rule.outcome}**: {rule.reason.en}")
    lines += ["", f"Otherwise **{rules.default_outcome}**: {rules.default_reason.en}", ""]
    lines += ["## Worked examples", "", "| example | expected | decided |", "|---|---|---|"]
    lines += [f"| {e.name} | {e.expected} | {e.outcome} |" for e in examples]
    return "\n".join(lines) + "\n"


def log_rules(
    spec: ModelSpec, *, tracking_uri: str, data_source: str, force_promote: bool = False
) -> Registration:
    """Log a spec of kind ``rules`` to MLflow and register it if its worked examples pass.

    A version whose rules decide every example as the spec states is registered and becomes
    champion, unless the champion already has the very same spec (a re-run changes nothing
    that serves). The gate is ``examples`` (all decided as stated); the metrics are how many
    were.

    Parameters
    ----------
    spec : ModelSpec
        A spec of kind ``rules``.
    tracking_uri : str
        The MLflow store (created if missing).
    data_source : str
        The spec file, for the run's tags.
    force_promote : bool
        Make the version champion even when the champion has the same spec.

    Returns
    -------
    Registration
    """
    import mlflow

    examples = check_examples(spec)
    failed = sum(not e.passed for e in examples)
    metrics = {
        "examples": (len(examples) - failed) / len(examples),
        "examples_passed": float(len(examples) - failed),
        "examples_failed": float(failed),
    }
    gates = {"examples": failed == 0}
    text = spec.to_yaml()
    comparison: Comparison | None = None
    with _tracking(tracking_uri, create=True) as client:
        experiment_id = _experiment_id(client, tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{spec.name}-rules") as run:
            mlflow.set_tags(
                {
                    "glassbox.model": spec.name,
                    "glassbox.kind": spec.kind,
                    "glassbox.policy_version": spec.policy.version,
                    "glassbox.data_source": data_source,
                    "glassbox.gates": "passed" if gates["examples"] else "failed",
                }
            )
            mlflow.log_metrics(metrics)
            mlflow.log_metrics({f"gate.{k}": float(v) for k, v in gates.items()})
            mlflow.log_text(text, "spec.yaml")
            mlflow.log_text(text, "rules/spec.yaml")
            mlflow.log_text(_rules_card(spec, examples), "model_card.md")
            run_id = run.info.run_id
            source = f"{run.info.artifact_uri}/rules"
        version: int | None = None
        champion = False
        if gates["examples"]:
            comparison = _compare_rules(spec, text, client=client, force=force_promote)
            if not client.search_registered_models(filter_string=f"name = '{spec.name}'"):
                client.create_registered_model(spec.name)
            registered = client.create_model_version(
                spec.name,
                source,
                run_id=run_id,
                tags={**_version_tags(run_id, comparison), "glassbox.kind": "rules"},
            )
            version = int(registered.version)
            champion = _take_alias(client, spec.name, version, comparison)
    return Registration(
        name=spec.name,
        run_id=run_id,
        model_uri=f"models:/{spec.name}/{version}" if version is not None else source,
        version=version,
        champion=champion,
        passed=gates["examples"],
        metrics=metrics,
        gates=gates,
        comparison=comparison,
    )


def _compare_rules(spec: ModelSpec, text: str, *, client: Any, force: bool) -> Comparison:
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(spec.name, CHAMPION)
    except MlflowException:
        return Comparison("first", "there was no champion", promoted=True, forced=force)
    if current.tags.get("glassbox.kind") != "rules":
        raise RegistryError(
            f"{spec.name} is a trained model in this store; rules need a name of their own"
        )
    champion_version = int(current.version)
    same = _spec_text(client, current.run_id) == text
    if same and not force:
        return Comparison(
            "not-better",
            "the champion has the same rules",
            promoted=False,
            champion_version=champion_version,
        )
    return Comparison(
        "better",
        "the rules changed and every worked example is decided as stated",
        promoted=True,
        forced=force,
        champion_version=champion_version,
    )


def _spec_text(client: Any, run_id: str) -> str:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="spec.yaml", dst_path=tmp
        )
        return Path(path).read_text(encoding="utf-8")


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
        if mv.aliases and CHALLENGER in mv.aliases:
            client.delete_registered_model_alias(name, CHALLENGER)


def model_versions(name: str, *, tracking_uri: str) -> list[dict[str, Any]]:
    """Registered versions of a model, newest first: aliases, run id, creation time (ms since
    the epoch), and how each compared with the champion of its day (``comparison``: the
    verdict; ``forced``: made champion by ``--promote`` whatever the verdict)."""
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
                "comparison": mv.tags.get("glassbox.comparison"),
                "forced": mv.tags.get("glassbox.forced") == "true",
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
        raw = yaml.safe_load(_spec_text(client, str(mv.run_id)))
        # A spec of kind rules is the whole of its version: nothing else to load.
        rules = mv.tags.get("glassbox.kind") == "rules"
        model = None if rules else mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
        reference = None if rules else _reference(client, str(mv.run_id))
    return LoadedModel(
        name=name,
        version=int(mv.version),
        run_id=str(mv.run_id),
        model=model,
        spec=ModelSpec.model_validate(raw),
        reference=reference,
    )
