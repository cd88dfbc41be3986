"""Model commands: generate fixtures, train, promote a version, list a model's versions."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.table import Table

from api.cli.common import (
    HomeOption,
    TrackingOption,
    console,
    errors,
    progress_display,
    resolve_tracking_uri,
)
from models.spec import ModelKind

__all__ = ["fixtures", "metrics_table", "models", "promote", "train"]

KINDS: tuple[ModelKind, ...] = get_args(ModelKind)


def metrics_table(rows: Sequence[tuple[str, dict[str, float], dict[str, bool], str]]) -> Table:
    """The trained models' gate metrics, verdicts and where they were registered.

    Parameters
    ----------
    rows : sequence of (name, metrics, gates, registry)
        One per model.

    Returns
    -------
    Table
        For the console.
    """
    table = Table(title="Models")
    table.add_column("model")
    table.add_column("gate metrics")
    table.add_column("gates")
    table.add_column("registry")
    for name, metrics, gates, where in rows:
        shown = ", ".join(f"{k}={metrics[k]:.3f}" for k in gates if k in metrics)
        verdict = "[green]passed[/]" if all(gates.values()) else "[red]failed[/]"
        table.add_row(name, shown, verdict, where)
    return table


def fixtures(
    home: HomeOption = Path(".glassbox"),
    out: Annotated[Path | None, typer.Option(help="Folder for the CSV files.")] = None,
    size: Annotated[str, typer.Option(help="small, demo or full.")] = "demo",
    seed: int = 7,
) -> None:
    """Generate the synthetic data sets (transactions, customers, catalogue, interactions)."""
    from data_fixtures import generate_all

    target = out or home / "fixtures"
    started = time.perf_counter()
    with progress_display() as progress:
        progress.add_task(f"Generating {size} fixtures in {target}", total=None)
        paths = generate_all(target, size=size, seed=seed)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")
    console.print(f"Done in {time.perf_counter() - started:.1f} s")


def train(
    kind: Annotated[str, typer.Argument(help="fraud, churn or recommendation.")],
    data: Annotated[
        Path | None,
        typer.Option(help="CSV of examples (recommendation: interactions). Default: fixtures."),
    ] = None,
    spec: Annotated[Path | None, typer.Option(help="Spec YAML. Default: the built-in one.")] = None,
    items: Annotated[Path | None, typer.Option(help="Recommendation: items CSV.")] = None,
    learners: Annotated[
        Path | None, typer.Option(help="Recommendation: learners CSV with protected attributes.")
    ] = None,
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
    seed: int = 7,
    register: Annotated[
        bool, typer.Option(help="Register and promote when the gates pass.")
    ] = True,
) -> None:
    """Train a model on a CSV that fits its spec, log it to MLflow and register it if it passes."""
    from models.data import DataError
    from models.recommendation_data import DataWarning
    from models.registry import log_training
    from models.spec import SpecError
    from models.training import TrainingFiles, train_from_files

    if kind not in KINDS:
        errors.print(f"[red]Unknown model kind {kind!r}[/]: choose one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    if data is None:
        data, items, learners = _fixture_files(home, kind)
    uri = resolve_tracking_uri(home, tracking_uri)
    try:
        with progress_display() as progress:
            task = progress.add_task(f"Training {kind} on {data}", total=None)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                result = train_from_files(
                    kind,
                    TrainingFiles(data=data, items=items, learners=learners),
                    spec_path=spec,
                    seed=seed,
                )
            for warning in caught:
                if issubclass(warning.category, DataWarning):
                    console.print(f"[yellow]Note:[/] {warning.message}")
            progress.update(task, description=f"Logging {kind} to MLflow")
            registration = log_training(
                result, tracking_uri=uri, data_source=str(data), register=register
            )
    except (DataError, SpecError) as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        errors.print("Nothing was trained or registered.")
        raise typer.Exit(2) from None
    where = (
        f"{registration.name} v{registration.version} @champion"
        if registration.champion
        else f"run {registration.run_id} (not registered)"
    )
    console.print(metrics_table([(kind, result.metrics, result.gates, where)]))
    if not result.passed:
        failed = [k for k, ok in result.gates.items() if not ok]
        errors.print(f"[red]Quality gates failed[/] ({', '.join(failed)}): not registered.")
        raise typer.Exit(1)


def _fixture_files(home: Path, kind: ModelKind) -> tuple[Path, Path | None, Path | None]:
    folder = home / "fixtures"
    names = {
        "fraud": ("transactions.csv", None, None),
        "churn": ("customers.csv", None, None),
        "recommendation": ("interactions.csv", "items.csv", "learners.csv"),
    }[kind]
    if not (folder / names[0]).exists():
        from data_fixtures import generate_all

        generate_all(folder, size="demo")
    return (
        folder / names[0],
        folder / names[1] if names[1] else None,
        folder / names[2] if names[2] else None,
    )


def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to make champion.")],
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
) -> None:
    """Move the champion alias to another registered version (also how to roll back)."""
    from models.registry import RegistryError
    from models.registry import promote as promote_version

    try:
        promote_version(name, version, tracking_uri=resolve_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{name} version {version} is now champion.")


def models(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
) -> None:
    """List a model's registered versions and aliases."""
    from models.registry import RegistryError, model_versions

    try:
        versions = model_versions(name, tracking_uri=resolve_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    table = Table(title=name)
    table.add_column("version")
    table.add_column("aliases")
    table.add_column("run")
    for v in versions:
        table.add_row(str(v["version"]), ", ".join(v["aliases"]), v["run_id"])
    console.print(table)
