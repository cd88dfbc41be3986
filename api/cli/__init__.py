"""The ``glassbox`` command line: demo, fixtures, train, promote, models, and operations.

One module per command group; this one builds the root command from them, in the order
``glassbox --help`` lists them, and holds the console script's entry point. The root group
(:class:`api.cli.failures.CommandGroup`) says every command's errors in one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import apps, batch, demo, keys, log, report, retention, serve, setup, training
from api.cli.failures import CommandGroup

__all__ = ["app", "main"]

app = typer.Typer(
    name="glassbox",
    cls=CommandGroup,
    help="Scored, explained, recorded and contestable automated decisions.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback's locals could hold a secret read from a file.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="GLASSBOX_DEBUG",
            help="Show the traceback of any error instead of one line.",
        ),
    ] = False,
) -> None:
    """Scored, explained, recorded and contestable automated decisions."""


app.command()(setup.init)
app.command()(training.fixtures)
app.command()(training.train)
app.command()(training.promote)
app.command()(training.models)
app.command()(demo.demo)
app.command("verify-log")(log.verify_log_command)
app.command("log")(log.show_log_command)
app.command()(serve.serve)
app.command()(batch.batch)
app.command("report")(report.report_command)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(apps.apps_app, name="apps")
app.add_typer(log.checkpoint_app, name="checkpoint")
app.add_typer(retention.retention_app, name="retention")


def main() -> None:
    """Entry point of the ``glassbox`` console script."""
    app()
