"""``glassbox report``: the signed periodic review of a model, as JSON, HTML and PDF."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from api.decisions.runtime import ModelRegistry
    from models.labels import Label

__all__ = ["report_command"]

#: The period when none is given: the 30 days up to yesterday (UTC).
DEFAULT_DAYS = 30


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.print(f"Refused: {option} must be a date, YYYY-MM-DD", markup=False)
        raise typer.Exit(2) from None


def report_command(
    model: Annotated[str, typer.Option("--model", help="The model to report on.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.json, report.html and report.pdf.")
    ],
    start: Annotated[
        str | None,
        typer.Option("--from", help="First UTC day of the period (default: 30 days to --to)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last UTC day of the period, included (default: yesterday)."),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the HTML and PDF: en or es.")
    ] = "en",
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Write a model's periodic review for a period -- versions, outcomes, drift, fairness,
    actuals, human review and every alert -- as report.json (the same bytes for the same
    period), report.html and report.pdf; sign the JSON's SHA-256 with the checkpoint key and
    append it to the decision log."""
    from api.decisions.runtime import ModelRegistry
    from api.reports.render import (
        LANGUAGES,
        Language,
        PdfUnavailableError,
        render_html,
        render_pdf,
    )
    from api.reports.service import build_report, record_report, report_bytes
    from api.reviews.health import review_policy

    if lang not in LANGUAGES:
        errors.print("Refused: --lang must be en or es", markup=False)
        raise typer.Exit(2)
    language: Language = "es" if lang == "es" else "en"
    last = _day(end, "--to") or datetime.now(UTC).date() - timedelta(days=1)
    first = _day(start, "--from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        errors.print("Refused: --to is before --from", markup=False)
        raise typer.Exit(2)
    settings = service_settings(home, demo=demo)
    models = ModelRegistry(settings.mlflow_tracking_uri)
    began = time.perf_counter()
    with open_database(settings) as sessions, progress_display() as progress:
        task = progress.add_task(f"Report of {model}, {first} to {last}", total=6)

        def step(line: str) -> None:
            progress.update(task, description=line, advance=1)

        with sessions() as session:
            report = build_report(
                session,
                model=model,
                start=first,
                end=last,
                models=models,
                review_policy=review_policy(settings),
                progress=step,
            )
        content = report_bytes(report)
        step("Signing the report and appending it to the decision log")
        with sessions() as session:
            stored = record_report(
                session,
                content=content,
                signing_key=settings.checkpoint_signing_key.get_secret_value(),
            )
        step(f"Writing the HTML and PDF ({lang})")
        labels = _labels(models, model, [v["version"] for v in report["versions"]])
        page = render_html(report, lang=language, sha256=stored.sha256, labels=labels)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_bytes(content)
        (out / "report.html").write_text(page, encoding="utf-8")
        (out / "report.sig.json").write_bytes(
            report_bytes(
                {
                    "report_id": stored.report_id,
                    "sha256": stored.sha256,
                    "signature": stored.signature,
                    "public_key": stored.public_key,
                    "public_key_id": stored.public_key_id,
                    "log_entry_id": stored.log_entry_id,
                    "log_entry_seq": stored.log_entry_seq,
                }
            )
        )
        try:
            (out / "report.pdf").write_bytes(render_pdf(page))
        except PdfUnavailableError as exc:
            progress.stop()
            errors.print(f"report.pdf not written: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        progress.update(task, description=f"Report of {model} written", completed=6)
    elapsed = time.perf_counter() - began
    _print_alerts(report["alerts"])
    console.print(
        f"report.json SHA-256 {stored.sha256}, signed and logged as entry "
        f"{stored.log_entry_seq} ({stored.log_entry_id}); report {stored.report_id}.",
        highlight=False,
        soft_wrap=True,
    )
    # One line, whatever the terminal's width: a path cut in two cannot be copied.
    console.print(f"Written to {out} in {elapsed:.2f} s.", highlight=False, soft_wrap=True)


def _labels(models: ModelRegistry, model: str, versions: list[int]) -> dict[str, Label]:
    """The spec's feature labels of the newest version in the period, if it can be loaded."""
    from api.decisions.runtime import ModelNotServedError

    for version in sorted(versions, reverse=True):
        try:
            spec = models.version(model, version).spec
        except ModelNotServedError:
            continue
        return {feature.name: feature.label for feature in spec.features}
    return {}


def _print_alerts(alerts: list[dict[str, object]]) -> None:
    if not alerts:
        console.print("[green]No alert[/] in this period.")
        return
    table = Table(title=f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}")
    for column in ("kind", "where", "value", "threshold"):
        table.add_column(column, justify="right" if column in ("value", "threshold") else "left")
    for alert in alerts:
        where = next(
            (str(alert[k]) for k in ("feature", "group", "reviewer") if alert.get(k) is not None),
            "score",
        )
        table.add_row(str(alert["kind"]), where, str(alert["value"]), str(alert["threshold"]))
    console.print(table)
