"""Model commands: generate fixtures, train, promote a version, list a model's versions."""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from api.cli.common import (
    HomeOption,
    TrackingOption,
    console,
    errors,
    progress_display,
    resolve_tracking_uri,
)
from models.spec import ModelKind

if TYPE_CHECKING:
    from models.registry import Registration

__all__ = ["comparison_table", "fixtures", "metrics_table", "models", "promote", "train"]

KINDS: tuple[ModelKind, ...] = get_args(ModelKind)
# Decisions made by rules are "trained" by checking their worked examples and registered alike.
RULES = "rules"


def metrics_table(
    rows: Sequence[tuple[str, dict[str, float], dict[str, bool], str]],
) -> RenderableType:
    """The trained models' gate metrics, verdicts and where they were registered.

    One line per gate metric, so that no metric name is cut at 80 columns; where each model
    went is printed below the table, whole.

    Parameters
    ----------
    rows : sequence of (name, metrics, gates, registry)
        One per model.

    Returns
    -------
    RenderableType
        For the console.
    """
    table = Table(title="Models")
    table.add_column("model", no_wrap=True)
    table.add_column("gate metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("gate", no_wrap=True)
    for name, metrics, gates, _ in rows:
        for n, (metric, ok) in enumerate(gates.items()):
            value = metrics.get(metric, math.nan)
            verdict = "[green]passed[/]" if ok else "[red]failed[/]"
            table.add_row(name if n == 0 else "", metric, f"{value:.3f}", verdict)
        if not gates:
            table.add_row(name, "(no gates)", "", "[green]passed[/]")
    return Group(table, *(Text.from_markup(f"{name}: {where}") for name, _, _, where in rows))


def comparison_table(registration: Registration) -> RenderableType:
    """The new version against the champion on the same held-out data, and the verdict.

    Parameters
    ----------
    registration : Registration
        A registered training run (``registration.comparison`` is set).

    Returns
    -------
    RenderableType
        For the console.
    """
    comparison = registration.comparison
    assert comparison is not None
    new = f"v{registration.version}"
    old = f"v{comparison.champion_version}"
    if comparison.verdict == "first":
        return Text(f"{registration.name} {new} is the first champion.")
    lines: list[RenderableType] = []
    if comparison.champion:
        table = Table(
            title=f"{new} against champion {old} on the same {comparison.held_out}",
            title_justify="left",
        )
        table.add_column("gate metric", no_wrap=True)
        table.add_column(f"new {new}", justify="right", no_wrap=True)
        table.add_column(f"champion {old}", justify="right", no_wrap=True)
        table.add_column("better", no_wrap=True)
        for metric, value in comparison.challenger.items():
            label = f"{metric} (primary)" if metric == comparison.primary else metric
            higher = comparison.higher_is_better.get(metric, True)
            table.add_row(
                label,
                f"{value:.4f}",
                f"{comparison.champion.get(metric, math.nan):.4f}",
                "higher" if higher else "lower",
            )
        lines.append(table)
    if registration.champion:
        how = "forced by --promote" if comparison.forced else "it won"
        lines.append(
            Text(f"{registration.name} {new} is now champion ({how}): {comparison.reason}.")
        )
    else:
        lines.append(Text(f"Champion stays {old}: {comparison.reason}."))
        lines.append(Text(f"{new} is registered as challenger. To make it champion:"))
        lines.append(Text(f"  glassbox promote {registration.name} {registration.version}"))
    return Group(*lines)


def fixtures(
    home: HomeOption = Path(".glassbox"),
    out: Annotated[Path | None, typer.Option(help="Folder for the CSV files.")] = None,
    size: Annotated[str, typer.Option(help="small, demo or full.")] = "demo",
    seed: int = 7,
) -> None:
    """Generate the synthetic data sets (transactions, customers, catalogue, interactions,
    buyers)."""
    from data_fixtures import generate_all

    target = out or home / "fixtures"
    started = time.perf_counter()
    with progress_display() as progress:
        progress.add_task(f"Generating {size} fixtures in {target}", total=None)
        paths = generate_all(target, size=size, seed=seed)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")
    console.print(f"Done in {time.perf_counter() - started:.1f} s")


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on standard output.")
]


def _number(value: float) -> float | None:
    # JSON has no NaN or infinity; a metric that could not be measured is null.
    return value if math.isfinite(value) else None


def registration_json(kind: str, registration: Registration) -> dict[str, Any]:
    """What ``glassbox train --json`` prints: the run, the version and the comparison."""
    comparison = registration.comparison
    return {
        "model": registration.name,
        "kind": kind,
        "run_id": registration.run_id,
        "model_uri": registration.model_uri,
        "version": registration.version,
        "aliases": registration.aliases,
        "champion": registration.champion,
        "passed": registration.passed,
        "gates": {
            metric: {"value": _number(registration.metrics.get(metric, math.nan)), "passed": ok}
            for metric, ok in registration.gates.items()
        },
        "metrics": {k: _number(v) for k, v in registration.metrics.items()},
        "comparison": None
        if comparison is None
        else {
            "verdict": comparison.verdict,
            "reason": comparison.reason,
            "promoted": comparison.promoted,
            "forced": comparison.forced,
            "champion_version": comparison.champion_version,
            "primary_metric": comparison.primary,
            "held_out": comparison.held_out,
            "metrics": {
                metric: {
                    "new": _number(value),
                    "champion": _number(comparison.champion[metric])
                    if metric in comparison.champion
                    else None,
                    "higher_is_better": comparison.higher_is_better.get(metric, True),
                }
                for metric, value in comparison.challenger.items()
            },
        },
    }


def train(
    kind: Annotated[
        str, typer.Argument(help="fraud, churn, credit, recommendation, or rules (--spec).")
    ],
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
        bool,
        typer.Option(help="Register the version when the gates pass (--no-register: log only)."),
    ] = True,
    force_promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="Make the new version champion if its gates pass, without comparing it "
            "with the current champion.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a model on a CSV that fits its spec, log it to MLflow and register it if it passes.

    A version that passes its gates becomes champion only if it beats the current champion
    on the new run's held-out data (or with --promote); otherwise it is registered as
    challenger.
    """
    from models.data import DataError
    from models.recommendation_data import DataWarning
    from models.registry import log_training
    from models.spec import SpecError
    from models.training import TrainingFiles, train_from_files

    if force_promote and not register:
        errors.print("[red]Refused:[/] --promote needs registration; drop --no-register.")
        raise typer.Exit(2)
    if kind == RULES:
        if data is not None or items is not None or learners is not None or not register:
            errors.print("[red]Refused:[/] rules take a --spec only: they learn from no data.")
            raise typer.Exit(2)
        _train_rules(spec, home, tracking_uri, force_promote=force_promote, as_json=as_json)
        return
    if kind not in KINDS:
        errors.print(
            f"[red]Unknown model kind {kind!r}[/]: choose one of {', '.join((*KINDS, RULES))}"
        )
        raise typer.Exit(2)
    if data is None:
        data, items, learners = _fixture_files(home, kind)
    uri = resolve_tracking_uri(home, tracking_uri)
    # With --json, standard output carries the JSON alone: no spinner, notes on standard error.
    notes = errors if as_json else console
    try:
        with progress_display() if not as_json else contextlib.nullcontext() as progress:
            task = progress.add_task(f"Training {kind} on {data}", total=None) if progress else None
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
                    notes.print(f"[yellow]Note:[/] {warning.message}")
            if progress is not None and task is not None:
                progress.update(task, description=f"Logging {kind} to MLflow")
            registration = log_training(
                result,
                tracking_uri=uri,
                data_source=str(data),
                register=register,
                force_promote=force_promote,
            )
    except (DataError, SpecError) as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        errors.print("Nothing was trained or registered.")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(registration_json(kind, registration), indent=2))
    else:
        if registration.version is None:
            where = "not registered"
        else:
            where = f"{registration.name} v{registration.version} @{registration.aliases[0]}"
        console.print(metrics_table([(kind, result.metrics, result.gates, where)]))
        console.print(f"run id: {registration.run_id}", soft_wrap=True)
        if registration.comparison is not None:
            console.print(comparison_table(registration))
    if not result.passed:
        failed = [k for k, ok in result.gates.items() if not ok]
        errors.print(f"[red]Quality gates failed[/] ({', '.join(failed)}): not registered.")
        raise typer.Exit(1)


def _train_rules(
    spec_path: Path | None,
    home: Path,
    tracking_uri: str | None,
    *,
    force_promote: bool,
    as_json: bool,
) -> None:
    """``glassbox train rules``: check a rules spec's worked examples and register it (without
    ``--spec``, the shipped ones: refund, geographic restriction, account suspension)."""
    from models.registry import RegistryError, log_rules
    from models.spec import SpecError, load_spec, shipped_rule_specs

    paths = [spec_path] if spec_path is not None else shipped_rule_specs()
    uri = resolve_tracking_uri(home, tracking_uri)
    try:
        specs = [load_spec(path) for path in paths]
        for spec, path in zip(specs, paths, strict=True):
            if spec.kind != RULES:
                raise SpecError(f"{path}: a spec of kind {spec.kind} is trained on data, not here")
    except SpecError as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        errors.print("Nothing was registered.")
        raise typer.Exit(2) from None
    failed = False
    for spec, path in zip(specs, paths, strict=True):
        try:
            registration = log_rules(
                spec, tracking_uri=uri, data_source=str(path), force_promote=force_promote
            )
        except RegistryError as exc:
            errors.print(f"[red]Refused:[/] {exc}")
            raise typer.Exit(2) from None
        failed = failed or not registration.passed
        if as_json:
            typer.echo(json.dumps(registration_json(RULES, registration), indent=2))
            continue
        where = (
            f"{registration.name} v{registration.version} @{registration.aliases[0]}"
            if registration.version is not None
            else "not registered"
        )
        console.print(metrics_table([(spec.name, registration.metrics, registration.gates, where)]))
        if registration.comparison is not None:
            console.print(comparison_table(registration))
        if not registration.passed:
            from models.rules import check_examples

            for example in check_examples(spec):
                if not example.passed:
                    errors.print(
                        f"[red]Example {example.name!r}[/]: expected {example.expected}, "
                        f"the rules decide {example.outcome}"
                    )
    if failed:
        errors.print("[red]Worked examples failed[/]: those rules were not registered.")
        raise typer.Exit(1)


def _fixture_files(home: Path, kind: ModelKind) -> tuple[Path, Path | None, Path | None]:
    folder = home / "fixtures"
    names = {
        "fraud": ("transactions.csv", None, None),
        "churn": ("customers.csv", None, None),
        "credit": ("applicants.csv", None, None),
        "recommendation": ("interactions.csv", "items.csv", "learners.csv"),
        "lifetime_value": ("buyers.csv", None, None),
        "propensity": ("buyers.csv", None, None),
        "segments": ("buyers.csv", None, None),
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
    as_json: JsonOption = False,
) -> None:
    """List a model's registered versions, their aliases and run ids, newest first."""
    from models.registry import RegistryError, model_versions

    try:
        versions = model_versions(name, tracking_uri=resolve_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    for v in versions:
        v["created_at"] = (
            datetime.fromtimestamp(v["created_at"] / 1000, tz=UTC).isoformat(timespec="seconds")
            if v["created_at"] is not None
            else None
        )
    if as_json:
        typer.echo(json.dumps({"model": name, "versions": versions}, indent=2))
        return
    table = Table(title=name)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("compared")
    table.add_column("run id", no_wrap=True, min_width=32)
    for v in versions:
        compared = (v["comparison"] or "") + ("*" if v["forced"] else "")
        table.add_row(str(v["version"]), ", ".join(v["aliases"]), compared, v["run_id"])
    if any(v["forced"] for v in versions):
        table.caption = "* made champion with --promote, whatever the comparison said"
    console.print(table)
