"""``glassbox batch``: a file of a whole customer base, each row a decision or a profile."""

from __future__ import annotations

import contextlib
import json
import shutil
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.common import DemoOption, HomeOption, console, errors, service_settings

__all__ = ["batch"]


def batch(
    model: Annotated[str, typer.Argument(help="A served decision or profile model.")],
    input_file: Annotated[
        Path, typer.Option("--input", help="CSV or Parquet (.parquet) of the people to score.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results.jsonl, batch.json, summary.json.")
    ],
    api_key: Annotated[
        str,
        typer.Option(
            "--api-key",
            envvar="GLASSBOX_API_KEY",
            help="The application's API key: the people are its people, as over HTTP.",
        ),
    ],
    engine: Annotated[
        str,
        typer.Option(
            help="local (in this process) or spark (executors explain, this process records)."
        ),
    ] = "local",
    spark_master: Annotated[
        str, typer.Option(help="The Spark master of --engine spark.")
    ] = "local[2]",
    key_column: Annotated[
        str | None, typer.Option(help="The column naming each row; the spec's id column.")
    ] = None,
    subject_column: Annotated[
        str | None, typer.Option(help="The column of the people's references; the key column.")
    ] = None,
    locale: Annotated[str, typer.Option(help="en or es: notices and explanations.")] = "en",
    legal_basis: Annotated[
        str, typer.Option(help="Decisions: contract, law, explicit_consent or none.")
    ] = "none",
    chunk_size: Annotated[int, typer.Option(min=1, max=4096)] = 256,
    processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Local engine: worker processes that explain and compose a classifier's rows "
            "(0: all in this process). By default one per core but one.",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Stop after this many new rows (resume later).")
    ] = None,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every row of a file as a decision or a profile, each explained, sealed, logged and
    chained as over HTTP; the notices and links go to OUT/results.jsonl. A re-run of the same
    file writes nothing twice and finishes what a crash left undone."""
    from api.batch.engine import run_local_batch
    from api.batch.files import BatchFileError, read_batch_file
    from api.batch.service import application_principal, batch_context
    from api.core.errors import ProblemError
    from api.core.secret_check import SecretMismatchError
    from api.decisions.runtime import ModelsUnavailableError

    if engine not in ("local", "spark"):
        errors.print(f"Refused: --engine is local or spark, not {engine!r}", markup=False)
        raise typer.Exit(2)
    if locale not in ("en", "es"):
        errors.print("Refused: --locale is en or es", markup=False)
        raise typer.Exit(2)
    if legal_basis not in ("contract", "law", "explicit_consent", "none"):
        errors.print("Refused: --legal-basis is contract, law, explicit_consent or none")
        raise typer.Exit(2)
    if engine == "spark" and shutil.which("java") is None:
        errors.print(
            "Refused: --engine spark needs Java (Debian: apt-get install openjdk-17-jre-headless)",
            markup=False,
        )
        raise typer.Exit(2)
    settings = service_settings(home, demo=demo)
    try:
        with contextlib.ExitStack() as stack:
            context = stack.enter_context(batch_context(settings, model_names=(model,)))
            principal = application_principal(context, api_key=api_key)
            served = context.models.get(model)
            rows = read_batch_file(
                input_file,
                spec=served.spec,
                key_column=key_column,
                subject_column=subject_column,
            )
            with Progress(
                TextColumn(f"{model} ({engine})"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=errors,
                disable=as_json,
            ) as bar:
                task = bar.add_task("rows", total=len(rows))
                if engine == "spark":
                    from api.batch.spark import run_spark_batch, spark_refusal, spark_session

                    refusal = spark_refusal(served, rows)
                    if refusal is not None:
                        raise BatchFileError(refusal)
                    session = spark_session(spark_master)
                    stack.callback(session.stop)
                    run = partial(run_spark_batch, context, session)
                else:
                    run = partial(run_local_batch, context, processes=processes)
                summary = run(
                    model_name=model,
                    batch=rows,
                    out_dir=out,
                    principal=principal,
                    locale=_locale(locale),
                    legal_basis=legal_basis,  # type: ignore[arg-type]
                    chunk_size=chunk_size,
                    limit=limit,
                    progress=lambda n: bar.advance(task, n),
                )
    except (BatchFileError, SecretMismatchError, ModelsUnavailableError) as exc:
        errors.print(f"Refused: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except ProblemError as exc:
        errors.print(f"Refused: {exc.detail}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    figures = {
        "model": summary.model,
        "model_version": summary.model_version,
        "rows": summary.rows,
        "recorded": summary.recorded,
        "recovered": summary.recovered,
        "refused": summary.refused,
        "skipped": summary.skipped,
        "engine": summary.engine,
        "stopped": summary.stopped,
        "seconds": round(summary.seconds, 3),
        "per_second": round(summary.per_second, 1),
        "results": str(out / "results.jsonl"),
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    console.print(
        f"{summary.model} v{summary.model_version}: {summary.recorded} recorded, "
        f"{summary.recovered} recovered, {summary.refused} refused, {summary.skipped} done "
        f"before, of {summary.rows} rows in {summary.seconds:.1f} s "
        f"({summary.per_second:.0f}/s)" + (" -- stopped at --limit" if summary.stopped else ""),
        markup=False,
    )
    console.print(f"Notices and links: {out / 'results.jsonl'}", markup=False)


def _locale(value: str) -> Literal["en", "es"]:
    return "es" if value == "es" else "en"
