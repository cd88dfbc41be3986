"""Set-up: the bench's temporary home (fixtures, three models trained and registered, demo
secrets), the request bodies made from fixture rows, and an application key."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import HOST, REPO, SIZES, Json, clean_environ, executable, quiet_env, say

__all__ = ["Home", "build_home", "create_api_key", "write_bodies"]


@dataclass(frozen=True)
class Home:
    """The run's temporary home: its MLflow store, the servers' environment, the bodies."""

    path: Path
    tracking_uri: str
    env: dict[str, str]
    glassbox_bodies: Path
    mlflow_bodies: Path
    database: Path


def build_home(path: Path, *, n_bodies: int, seed: int = 7) -> tuple[Home, Json]:
    """Fixtures, three models trained and registered, demo secrets and request bodies."""
    import logging

    os.environ.update(quiet_env())
    from api.cli.common import demo_environment
    from data_fixtures import (
        generate_applicants,
        generate_catalogue,
        generate_customers,
        generate_interactions,
        generate_learners,
        generate_transactions,
    )
    from models.registry import local_store, log_training
    from models.spec import ModelKind
    from models.training import TrainingFiles, train_from_files

    started = time.perf_counter()
    fixtures = path / "fixtures"
    fixtures.mkdir(parents=True)
    transactions = generate_transactions(SIZES["transactions"], seed=seed)
    transactions.to_csv(fixtures / "transactions.csv", index=False)
    generate_customers(SIZES["customers"], seed=seed).to_csv(
        fixtures / "customers.csv", index=False
    )
    generate_applicants(SIZES["applicants"], seed=seed).to_csv(
        fixtures / "applicants.csv", index=False
    )
    catalogue = generate_catalogue(SIZES["items"], seed=seed)
    learners = generate_learners(SIZES["learners"], seed=seed)
    catalogue.to_csv(fixtures / "items.csv", index=False)
    learners.to_csv(fixtures / "learners.csv", index=False)
    generate_interactions(learners, catalogue, seed=seed).to_csv(
        fixtures / "interactions.csv", index=False
    )
    inputs: dict[ModelKind, TrainingFiles] = {
        "fraud": TrainingFiles(data=fixtures / "transactions.csv"),
        "churn": TrainingFiles(data=fixtures / "customers.csv"),
        "credit": TrainingFiles(data=fixtures / "applicants.csv"),
        "recommendation": TrainingFiles(
            data=fixtures / "interactions.csv",
            items=fixtures / "items.csv",
            learners=fixtures / "learners.csv",
        ),
    }
    uri = local_store(path)
    models: Json = {}
    for kind, files in inputs.items():
        result = train_from_files(kind, files, seed=seed)
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            registration = log_training(result, tracking_uri=uri, data_source=str(files.data))
        models[kind] = {
            "version": registration.version,
            "champion": registration.champion,
            "gates": registration.gates,
        }
        if kind == "fraud" and not registration.champion:
            raise RuntimeError(f"the fraud model failed its gates: {registration.gates}")
        say(f"  trained {kind}: v{registration.version} champion={registration.champion}")

    env = clean_environ()
    env.update(quiet_env())
    env.update(demo_environment(path, uri, host=HOST, port=8000))
    env["GLASSBOX_DEMO_MODE"] = "true"
    env["GLASSBOX_DATABASE_URL"] = f"sqlite:///{path / 'glassbox.db'}"
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = uri
    env["PATH"] = f"{Path(executable('glassbox')).parent}{os.pathsep}{env.get('PATH', '')}"

    glassbox_bodies, mlflow_bodies = write_bodies(path, transactions, n_bodies, seed=seed)
    home = Home(
        path=path,
        tracking_uri=uri,
        env=env,
        glassbox_bodies=glassbox_bodies,
        mlflow_bodies=mlflow_bodies,
        database=path / "glassbox.db",
    )
    return home, {"seconds": time.perf_counter() - started, "sizes": SIZES, "models": models}


def write_bodies(path: Path, transactions: Any, n: int, *, seed: int) -> tuple[Path, Path]:
    """Request bodies from fixture rows: glassbox's decision request and MLflow's
    ``dataframe_split``, for the same transactions. The amount is jittered a little so that
    no two bodies are the same; the subject is the transaction's customer (customers repeat,
    as they do in real traffic: their data keys are created once, then reused)."""
    from models.spec import default_spec_path, load_spec

    spec = load_spec(default_spec_path("fraud"))
    names = spec.feature_names
    types = {f.name: f.type for f in spec.features}
    rng = random.Random(seed)
    rows = transactions.sample(n=n, replace=n > len(transactions), random_state=seed)
    glassbox_lines, mlflow_lines = [], []
    for record in rows.to_dict("records"):
        features: dict[str, Any] = {}
        for name in names:
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                features[name] = None
            elif types[name] == "boolean":
                features[name] = bool(value)
            elif types[name] == "integer":
                features[name] = int(value)
            elif types[name] == "category":
                features[name] = str(value)
            else:
                features[name] = float(value)
        features["amount"] = round(features["amount"] * rng.uniform(0.95, 1.05), 2)
        glassbox_lines.append(
            json.dumps(
                {
                    "subject_ref": f"customer-{record['customer_id']}",
                    "legal_basis": "contract",
                    "locale": "es" if rng.random() < 0.2 else "en",
                    "features": {k: v for k, v in features.items() if v is not None},
                },
                separators=(",", ":"),
            )
        )
        # MLflow's signature (inferred from the example frame) has whole numbers as doubles.
        data = [
            float(v) if types[k] == "integer" and v is not None else v for k, v in features.items()
        ]
        mlflow_lines.append(
            json.dumps(
                {"dataframe_split": {"columns": list(names), "data": [data]}},
                separators=(",", ":"),
            )
        )
    folder = path / "bench"
    folder.mkdir(exist_ok=True)
    glassbox_path, mlflow_path = folder / "glassbox.jsonl", folder / "mlflow.jsonl"
    glassbox_path.write_text("\n".join(glassbox_lines) + "\n")
    mlflow_path.write_text("\n".join(mlflow_lines) + "\n")
    return glassbox_path, mlflow_path


def create_api_key(home: Home) -> str:
    """An application key made with ``glassbox keys create``, as an operator makes one."""
    cmd = [
        executable("glassbox"),
        "keys",
        "create",
        "--role",
        "application",
        "--name",
        "bench",
        "--application",
        "bench",  # joined on a second run on the same home
    ]
    out = subprocess.run(
        [*cmd, "--home", str(home.path)],
        env=home.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"gbx_application_[A-Za-z0-9_\-]+", out.stdout)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"glassbox keys create failed:\n{out.stdout}\n{out.stderr}")
    return match.group(0)
