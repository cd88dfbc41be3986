"""``glassbox demo``: fixtures, four models trained and registered, demo keys, then the API."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import (
    HomeOption,
    console,
    demo_environment,
    open_database,
    progress_display,
    resolve_tracking_uri,
    service_settings,
)
from api.cli.serve import run_server
from api.cli.training import metrics_table
from models.spec import ModelKind

__all__ = ["demo"]


def demo(
    home: HomeOption = Path(".glassbox"),
    size: Annotated[str, typer.Option(help="Fixture size: small, demo or full.")] = "demo",
    seed: int = 7,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve: Annotated[bool, typer.Option(help="Start the API after set-up.")] = True,
) -> None:
    """Fixtures, four models trained and three decisions by rules registered, demo keys, then
    the API on HOST:PORT."""
    from api.core.settings import generate_demo_secrets
    from data_fixtures import generate_all
    from models.registry import log_rules, log_training
    from models.spec import load_spec, shipped_rule_specs
    from models.training import TrainingFiles, train_from_files

    started = time.perf_counter()
    home = home.resolve()
    # First: a --home that holds a deployment's own secrets (glassbox init) is refused before
    # the demo's models land in that deployment's MLflow store.
    generate_demo_secrets(home)
    uri = resolve_tracking_uri(home, None)
    rows: list[tuple[str, dict[str, float], dict[str, bool], str]] = []
    with progress_display() as progress:
        task = progress.add_task(f"Generating fixtures ({size})", total=None)
        paths = generate_all(home / "fixtures", size=size, seed=seed)
        progress.update(task, description=f"Fixtures in {home / 'fixtures'}", total=1, completed=1)
        inputs: dict[ModelKind, TrainingFiles] = {
            "fraud": TrainingFiles(data=paths["transactions"]),
            "churn": TrainingFiles(data=paths["customers"]),
            "credit": TrainingFiles(data=paths["applicants"]),
            "recommendation": TrainingFiles(
                data=paths["interactions"], items=paths["items"], learners=paths["learners"]
            ),
        }
        for kind, files in inputs.items():
            task = progress.add_task(f"Training {kind}", total=None)
            result = train_from_files(kind, files, seed=seed)
            progress.update(task, description=f"Logging {kind} to MLflow")
            registration = log_training(result, tracking_uri=uri, data_source=str(files.data))
            where = (
                f"v{registration.version} @{registration.aliases[0]}"
                if registration.version is not None
                else "[red]not registered[/]"
            )
            progress.update(task, description=f"Trained {kind}: {where}", total=1, completed=1)
            rows.append((kind, result.metrics, result.gates, where))
        # The decisions made by rules: their worked examples are their gate.
        for path in shipped_rule_specs():
            spec = load_spec(path)
            registration = log_rules(spec, tracking_uri=uri, data_source=str(path))
            where = (
                f"v{registration.version} @{registration.aliases[0]}"
                if registration.version is not None
                else "[red]not registered[/]"
            )
            rows.append((spec.name, registration.metrics, registration.gates, where))
    console.print(metrics_table(rows))
    console.print(f"Set-up took {time.perf_counter() - started:.0f} s.")
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    console.print("\nOpen the MLflow UI on this store with:")
    console.print(
        f"  {mlflow_bin} ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000",
        soft_wrap=True,
    )
    console.print("  then browse http://127.0.0.1:5000 (experiment 'glassbox', Models tab).")
    if not all(all(r[2].values()) for r in rows):
        raise typer.Exit(1)
    os.environ.update(demo_environment(home, uri, host=host, port=port))
    _print_demo_keys(home, host=host, port=port)
    if serve:
        run_server(host=host, port=port, workers=1)


def _print_demo_keys(home: Path, *, host: str, port: int) -> None:
    from api.core.security import Role, create_api_key
    from api.core.settings import get_settings

    get_settings.cache_clear()
    settings = service_settings(home, demo=True)
    table = Table(title="Demo API keys (shown once; stored hashed)")
    table.add_column("role")
    table.add_column("key")
    keys: dict[str, str] = {}
    with open_database(settings) as sessions, sessions() as session:
        for role in Role:
            # One demo application across runs: a demo restarted on the same home keeps its people.
            keys[role.value], _ = create_api_key(
                session,
                name=f"demo {role.value}",
                role=role,
                application="demo" if role is Role.APPLICATION else None,
            )
            table.add_row(role.value, keys[role.value])
    console.print(table)
    base = f"http://{host}:{port}"
    console.print(f"API on {base} (OpenAPI at {base}/docs). Try:")
    console.print(
        f"  curl -s -X POST {base}/v1/decisions/fraud "
        f"-H 'Authorization: Bearer {keys['application']}' -H 'Content-Type: application/json' "
        '-d \'{"subject_ref": "customer-1", "legal_basis": "contract", '
        '"features": {"amount": 1250, "amount_ratio": 9.5, '
        '"merchant_category": "electronics", "country_mismatch": true, "hour": 3, '
        '"device_age_days": 0, "txn_count_1h": 6, "account_age_days": 20, '
        '"card_present": false, "distance_from_home_km": 900}, '
        '"monitoring": {"age_band": "35-49", "sex": "female"}}\'',
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(
        "The person's page is the decision's notice.link (the token rides in the fragment); "
        f"the review console is {base}/review/ (sign in with the reviewer key).",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
