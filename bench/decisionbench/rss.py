"""Child mode ``decisions.py _rss``: the RSS a fresh process gains by importing the service and
then by loading each model, as the server does."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .common import MODEL_NAMES, PAGE_KIB, REPO, Json

__all__ = ["main"]


def _self_rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_KIB / 1024


def main(argv: Sequence[str]) -> None:
    """RSS of a fresh process before and after loading each model (as the server does)."""
    import gc

    parser = argparse.ArgumentParser(prog="decisions.py _rss")
    parser.add_argument("--tracking-uri", required=True)
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    steps: Json = {"interpreter_mib": _self_rss_mib()}
    import api.decisions.service  # noqa: F401  (what the server imports)
    from api.decisions.runtime import ModelRegistry

    steps["after_service_import_mib"] = _self_rss_mib()
    # The libraries every model load needs (imported lazily by the first load otherwise), and
    # the registry store opened once, so that the first model's delta is the model's own.
    import mlflow.sklearn  # noqa: F401
    import shap  # noqa: F401
    import skops.io  # noqa: F401
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=ns.tracking_uri).search_registered_models()
    gc.collect()
    steps["after_libraries_mib"] = _self_rss_mib()
    registry = ModelRegistry(ns.tracking_uri)
    per_model: Json = {}
    for name in MODEL_NAMES:
        before = _self_rss_mib()
        try:
            registry.reload(name)
        except Exception as exc:  # a model that is not registered is reported, not fatal
            per_model[name] = {"error": str(exc)}
            continue
        gc.collect()
        per_model[name] = {"delta_mib": _self_rss_mib() - before}
    steps["after_all_models_mib"] = _self_rss_mib()
    print(json.dumps({"steps": steps, "per_model": per_model}))
