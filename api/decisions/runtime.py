"""Served models: loaded once by alias from the MLflow registry, explainers built at load.

A reload (admin) builds the new model and its explainers completely before it replaces the old
one, so a request is always answered by one consistent version, and every decision names it.

At start, a served name with no version under the alias (a typo, a model not trained or not
promoted yet) is a warning naming the registered models, and the others are served: the missing
one can be registered and reloaded without a restart. A start that could serve none of them
refuses, since it would look healthy and answer every decision with a 404.
"""

from __future__ import annotations

import difflib
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.core.errors import NotFoundError
from explain import TreeExplainer
from models.monitoring import FeatureBins, Reference, spec_bins
from models.registry import (
    CHAMPION,
    RegistryError,
    StoreNotFoundError,
    load_model,
    registered_models,
)
from models.spec import ModelSpec

__all__ = ["ModelNotServedError", "ModelRegistry", "ModelsUnavailableError", "ServedModel"]

logger = logging.getLogger("glassbox.startup")


class ModelNotServedError(NotFoundError):
    """No model of that name is served (unknown name, or no champion registered yet)."""


class ModelsUnavailableError(RuntimeError):
    """None of the models this deployment should serve can be loaded: the service does not start.

    A server that started without any would look healthy and answer every decision with a 404.
    """


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version with everything the decision path needs."""

    name: str
    version: int
    run_id: str
    # The registered spec, with each category feature's values as the model learned them.
    spec: ModelSpec
    model: Any
    loaded_at: datetime
    # Classifiers: one explainer. Recommender: one per mode (personalised / not), keyed by bool.
    explainers: dict[bool, TreeExplainer] = field(default_factory=dict)
    # The spec restricted to each mode's features, for wording the factors of that mode.
    mode_specs: dict[bool, ModelSpec] = field(default_factory=dict)
    # The monitoring reference logged with the version (None: none was), and the bins the
    # decision writer counts each feature on (the reference's, else the spec's).
    reference: Reference | None = None
    bins: dict[str, FeatureBins] = field(default_factory=dict)

    @property
    def is_recommender(self) -> bool:
        return self.spec.kind == "recommendation"

    @property
    def is_rules(self) -> bool:
        """Decided by the rules of its spec, not by a trained model."""
        return self.spec.kind == "rules"

    @property
    def explainer(self) -> TreeExplainer:
        return self.explainers[True]

    @property
    def encoder(self) -> Any:
        return self.model.named_steps["encode"]


def _with_learned_categories(spec: ModelSpec, encoder: Any) -> ModelSpec:
    """The spec with each category feature's values as the fitted encoder knows them.

    Where the spec lists no categories, the model learned them from the training file; where it
    has an "other" bucket, rare values were pooled into it. Either way the values the model
    knows are the encoder's, and the service checks requests, offers corrections and words
    explanations with those (an unseen value would otherwise be scored as if it were known).
    """
    learned: dict[str, list[str]] = getattr(encoder, "categories_", {})
    features = [
        f.model_copy(update={"categories": list(learned[f.name])})
        if f.type == "category" and f.name in learned
        else f
        for f in spec.features
    ]
    return spec.model_copy(update={"features": features})


def _build(name: str, tracking_uri: str, alias: str, version: int | None = None) -> ServedModel:
    loaded = load_model(name, tracking_uri=tracking_uri, alias=alias, version=version)
    spec = loaded.spec
    if spec.kind == "rules":
        # The spec is the whole version: its rules decide and explain themselves.
        explainers: dict[bool, TreeExplainer] = {}
        mode_specs = {True: spec}
    elif spec.kind == "recommendation":
        modes = {mode: loaded.model.feature_names_for(mode) for mode in (True, False)}
        explainers = {
            mode: TreeExplainer(loaded.model.ranker_for(mode), names)
            for mode, names in modes.items()
        }
        mode_specs = {
            mode: spec.model_copy(update={"features": [spec.feature(n) for n in names]})
            for mode, names in modes.items()
        }
    else:
        spec = _with_learned_categories(spec, loaded.model.named_steps["encode"])
        explainers = {True: TreeExplainer(loaded.model, spec.feature_names)}
        mode_specs = {True: spec}
    return ServedModel(
        name=name,
        version=loaded.version,
        run_id=loaded.run_id,
        spec=spec,
        model=loaded.model,
        loaded_at=datetime.now(UTC),
        explainers=explainers,
        mode_specs=mode_specs,
        reference=loaded.reference,
        bins=loaded.reference.bins if loaded.reference is not None else spec_bins(spec),
    )


class ModelRegistry:
    """The models this process serves, by name."""

    def __init__(self, tracking_uri: str, *, alias: str = CHAMPION) -> None:
        self.tracking_uri = tracking_uri
        self.alias = alias
        self._served: dict[str, ServedModel] = {}
        # Older versions, loaded on demand for reviewers' re-scores (a contest months later is
        # re-scored on the version that decided, which may no longer be the champion).
        self._versions: dict[tuple[str, int], ServedModel] = {}
        self._lock = threading.Lock()

    def load_all(self, names: tuple[str, ...]) -> dict[str, str]:
        """Load each named model that has a version under the alias; warn about the others.

        Returns
        -------
        dict of str to str
            A warning per name that is not served (each also logged as a WARNING).

        Raises
        ------
        ModelsUnavailableError
            When the store does not exist (it is never created here), or none of the names has
            a version under the alias; the message names the store and the registered models,
            in one line.
        """
        if not names:  # a service that serves no model (staff routes only) needs no store
            return {}
        registered = self._registered()
        missing: list[str] = []
        for name in names:
            if self.alias not in registered.get(name, {}):
                missing.append(name)
                continue
            try:
                self.reload(name)
            except ModelNotServedError:
                missing.append(name)
        warnings = self._unserved(names, missing, registered)
        for warning in warnings.values():
            logger.warning(warning)
        return warnings

    def check_servable(self, names: tuple[str, ...]) -> dict[str, str]:
        """What :meth:`load_all` would warn about or refuse, found without loading anything.

        For a parent process that starts workers: it can refuse once, with the reason, instead
        of starting workers that each fail to load.

        Returns
        -------
        dict of str to str
            The warnings :meth:`load_all` would log (not logged here), by model name.

        Raises
        ------
        ModelsUnavailableError
            As :meth:`load_all`.
        """
        if not names:
            return {}
        registered = self._registered()
        missing = [name for name in names if self.alias not in registered.get(name, {})]
        return self._unserved(names, missing, registered)

    def _registered(self) -> dict[str, dict[str, int]]:
        try:
            return registered_models(tracking_uri=self.tracking_uri)
        except StoreNotFoundError as exc:
            raise ModelsUnavailableError(f"{exc} (GLASSBOX_MLFLOW_TRACKING_URI)") from exc

    def _unserved(
        self, names: tuple[str, ...], missing: list[str], registered: dict[str, dict[str, int]]
    ) -> dict[str, str]:
        """One warning per missing name, or the refusal when no name is left to serve."""
        store = f"the MLflow store {self.tracking_uri}"
        servable = [name for name, aliases in registered.items() if self.alias in aliases]
        if missing and len(missing) == len(names):
            instead = (
                f"; serve registered ones, such as GLASSBOX_SERVED_MODELS={','.join(servable)}"
                if servable
                else ""
            )
            raise ModelsUnavailableError(
                f"none of GLASSBOX_SERVED_MODELS ({', '.join(names)}) has a version registered "
                f"as {self.alias} in {store} ({self._known(missing, registered)}){instead}"
            )
        return {
            name: f"GLASSBOX_SERVED_MODELS names {name}, which "
            + (
                f"has no version registered as {self.alias} in {store} "
                f"(glassbox promote {name} VERSION)"
                if name in registered
                else f"is not registered in {store} ({self._known([name], registered)})"
            )
            + f"; it is not served until it is, then reloaded (POST /v1/admin/models/{name}/reload)"
            for name in missing
        }

    def _known(self, missing: list[str], registered: dict[str, dict[str, int]]) -> str:
        """'did you mean …' for names that are close to a registered one, and what is there."""
        guesses = []
        for name in missing:
            close = difflib.get_close_matches(name, [n for n in registered if n != name], n=1)
            if close and name not in registered:
                guesses.append(
                    f"did you mean {close[0]}?"
                    if len(missing) == 1
                    else f"did you mean {close[0]} for {name}?"
                )
        if not registered:
            return "; ".join([*guesses, "no model is registered there"])
        listed = ", ".join(
            f"{name} ({self.alias} v{aliases[self.alias]})" if self.alias in aliases else name
            for name, aliases in registered.items()
        )
        return "; ".join([*guesses, f"registered there: {listed}"])

    def reload(self, name: str) -> ServedModel:
        """Load the version the alias points at now and start serving it.

        Raises
        ------
        ModelNotServedError
            When the model has no version under the alias.
        """
        try:
            served = _build(name, self.tracking_uri, self.alias)
        except RegistryError as exc:
            raise ModelNotServedError(f"no model {name!r} is registered as {self.alias}") from exc
        with self._lock:
            self._served[name] = served
        return served

    def get(self, name: str) -> ServedModel:
        """The served model of that name.

        Raises
        ------
        ModelNotServedError
            When no such model is loaded.
        """
        try:
            return self._served[name]
        except KeyError:
            raise ModelNotServedError(f"no model {name!r} is served") from None

    def version(self, name: str, version: int) -> ServedModel:
        """A given version of a model: the served one if it is that version, else loaded once.

        Raises
        ------
        ModelNotServedError
            When the registry has no such version.
        """
        served = self._served.get(name)
        if served is not None and served.version == version:
            return served
        with self._lock:
            cached = self._versions.get((name, version))
        if cached is not None:
            return cached
        try:
            built = _build(name, self.tracking_uri, self.alias, version=version)
        except RegistryError as exc:
            raise ModelNotServedError(f"model {name!r} has no version {version}") from exc
        with self._lock:
            return self._versions.setdefault((name, version), built)

    def names(self) -> list[str]:
        return sorted(self._served)
