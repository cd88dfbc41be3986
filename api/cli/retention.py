"""``glassbox retention``: retention periods of personal data, applied by crypto-shredding."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import (
    DemoOption,
    HomeOption,
    console,
    errors,
    open_database,
    progress_display,
    service_settings,
)

__all__ = ["retention_app"]

retention_app = typer.Typer(
    help="Retention periods of personal data (crypto-shredding).", no_args_is_help=True
)


@retention_app.command("run")
def retention_run_command(
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be shredded; change nothing.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(help="Apply the periods as of this ISO time (UTC), not the current time."),
    ] = None,
    spec: Annotated[
        list[Path] | None,
        typer.Option(help="Spec of a model in service (repeatable); the shipped ones otherwise."),
    ] = None,
) -> None:
    """Shred the data keys whose retention period has ended, per category of each spec, and
    finish erasures whose legal holds have lapsed. Never touches the log's entries."""
    from datetime import datetime

    from api.core.timestamps import as_utc
    from api.rights.retention import run_retention
    from models.spec import SpecError, load_spec

    try:
        clock = datetime.fromisoformat(now) if now else None
        specs = [load_spec(path) for path in spec or []]
    except (ValueError, SpecError) as exc:
        errors.print(f"Refused: {exc}", markup=False)
        raise typer.Exit(2) from None
    if clock is not None:
        clock = as_utc(clock)  # a time typed without a zone means UTC, as stored
    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, progress_display() as progress:
        task = progress.add_task("Applying retention periods", total=None)

        def step(line: str) -> None:
            progress.update(task, description=line)
            progress.console.print(f"  {line}", highlight=False)

        report = run_retention(
            sessions,
            specs=specs,
            now=clock,
            dry_run=dry_run,
            progress=step,
            engine=sessions.kw["bind"],
        )
        progress.update(task, total=1, completed=1, description="Retention applied")
    table = Table(title="Retention" + (" (dry run: nothing changed)" if dry_run else ""))
    table.add_column("category")
    table.add_column("models")
    table.add_column("period", justify="right")
    table.add_column("expired through", justify="right")
    table.add_column("keys shredded" if not dry_run else "keys to shred", justify="right")
    for category, row in report.categories.items():
        table.add_row(
            category,
            ", ".join(row["models"]),
            f"{row['days']} days",
            str(row["through_year"] or "-"),
            str(row["keys_shredded"]),
        )
    console.print(table)
    console.print(
        f"Erasures completed: {report.erasures_completed}; still under a legal hold: "
        f"{report.erasures_pending}; subjects with an open case kept: {report.held_subjects}.",
        highlight=False,
    )
    if report.log_entry_id:
        console.print(f"Logged as entry {report.log_entry_id}.", highlight=False)
