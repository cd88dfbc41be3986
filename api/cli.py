"""The ``glassbox`` command line: demo, fixtures, train, promote, models."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from models.spec import ModelKind

app = typer.Typer(
    name="glassbox",
    help="Scored, explained, recorded and contestable automated decisions.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

KINDS: tuple[ModelKind, ...] = get_args(ModelKind)

HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="GLASSBOX_HOME",
        help="Project-local state: MLflow store, fixtures, secrets.",
    ),
]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="GLASSBOX_MLFLOW_TRACKING_URI",
        help="MLflow tracking and registry URI (default: SQLite store under --home).",
    ),
]


def _tracking_uri(home: Path, tracking_uri: str | None) -> str:
    from models.registry import local_store

    return tracking_uri or local_store(home)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _metrics_table(rows: Sequence[tuple[str, dict[str, float], dict[str, bool], str]]) -> Table:
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


@app.command()
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
    with _progress() as progress:
        progress.add_task(f"Generating {size} fixtures in {target}", total=None)
        paths = generate_all(target, size=size, seed=seed)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")
    console.print(f"Done in {time.perf_counter() - started:.1f} s")


@app.command()
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
    from models.recommendation import DataWarning
    from models.registry import log_training
    from models.spec import SpecError
    from models.training import TrainingFiles, train_from_files

    if kind not in KINDS:
        errors.print(f"[red]Unknown model kind {kind!r}[/]: choose one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    if data is None:
        data, items, learners = _fixture_files(home, kind)
    uri = _tracking_uri(home, tracking_uri)
    try:
        with _progress() as progress:
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
    console.print(_metrics_table([(kind, result.metrics, result.gates, where)]))
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


@app.command()
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
        promote_version(name, version, tracking_uri=_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{name} version {version} is now champion.")


@app.command()
def models(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
) -> None:
    """List a model's registered versions and aliases."""
    from models.registry import RegistryError, model_versions

    try:
        versions = model_versions(name, tracking_uri=_tracking_uri(home, tracking_uri))
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


@app.command()
def demo(
    home: HomeOption = Path(".glassbox"),
    size: Annotated[str, typer.Option(help="Fixture size: small, demo or full.")] = "demo",
    seed: int = 7,
) -> None:
    """Generate fixtures, train the three models and register them in a local MLflow store."""
    from data_fixtures import generate_all
    from models.registry import log_training
    from models.training import TrainingFiles, train_from_files

    started = time.perf_counter()
    home = home.resolve()
    uri = _tracking_uri(home, None)
    rows = []
    with _progress() as progress:
        task = progress.add_task(f"Generating fixtures ({size})", total=None)
        paths = generate_all(home / "fixtures", size=size, seed=seed)
        progress.update(task, description=f"Fixtures in {home / 'fixtures'}", total=1, completed=1)
        inputs: dict[ModelKind, TrainingFiles] = {
            "fraud": TrainingFiles(data=paths["transactions"]),
            "churn": TrainingFiles(data=paths["customers"]),
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
                f"v{registration.version} @champion"
                if registration.champion
                else "[red]not registered[/]"
            )
            progress.update(task, description=f"Trained {kind}: {where}", total=1, completed=1)
            rows.append((kind, result.metrics, result.gates, where))
    console.print(_metrics_table(rows))
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


def main() -> None:
    """Entry point of the ``glassbox`` console script."""
    app()
