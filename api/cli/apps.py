"""``glassbox apps``: applications, and which of them share their people."""

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
    refuse,
    service_settings,
)

__all__ = ["apps_app"]

apps_app = typer.Typer(
    help="Applications, and which of them share their people (pseudonym scopes).",
    no_args_is_help=True,
)


@apps_app.command("allow-private-callbacks")
def allow_private_callbacks_command(
    name: Annotated[str, typer.Argument(help="The application (see `glassbox apps list`).")],
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Take the allowance back.")] = False,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Let an application's webhooks reach loopback and private addresses (or stop them)."""
    from api.core.errors import NotFoundError
    from api.webhooks.service import allow_private_callbacks

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        try:
            allow_private_callbacks(session, application=name, allowed=not withdraw)
        except NotFoundError:
            errors.print(f"No application is named {name!r}.", markup=False)
            raise typer.Exit(2) from None
    console.print(
        f"Application {name}: webhooks may {'no longer ' if withdraw else ''}go to loopback and "
        "private addresses (metadata, link-local and multicast ones stay refused).",
        highlight=False,
    )


@apps_app.command("list")
def list_apps(home: HomeOption = Path(".glassbox"), demo: DemoOption = False) -> None:
    """List applications and their pseudonym scopes."""
    from api.core.applications import list_applications

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        applications = list_applications(session)
    table = Table(title="Applications")
    table.add_column("application", no_wrap=True)
    table.add_column("pseudonym scope", no_wrap=True)
    table.add_column("active keys", justify="right")
    table.add_column("decisions", no_wrap=True)
    for application in applications:
        table.add_row(
            application.name,
            application.pseudonym_scope,
            str(application.active_keys),
            "yes" if application.has_decisions else "none",
        )
    console.print(table)


@apps_app.command("group")
def group_apps(
    names: Annotated[list[str], typer.Argument(help="The applications.")],
    as_: Annotated[
        str,
        typer.Option(
            "--as",
            help="The group: its applications see the same people. `legacy` joins the keys "
            "created before applications had scopes of their own.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            help="Move applications that already have decisions: their earlier decisions "
            "keep the old pseudonyms, so each such person is split in two."
        ),
    ] = False,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Let applications that share a customer base see the same people."""
    from api.core.applications import LEGACY_SCOPE, group_scope, set_pseudonym_scope
    from api.core.errors import ConflictError, InvalidRequestError, NotFoundError
    from api.core.security import DEFAULT_CACHE_TTL_SECONDS

    scope = LEGACY_SCOPE if as_ == LEGACY_SCOPE else group_scope(as_)
    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        try:
            applications = set_pseudonym_scope(session, names=names, scope=scope, force=force)
        except (ConflictError, InvalidRequestError, NotFoundError) as exc:
            refuse(exc)
    for application in applications:
        console.print(
            f"{application.name}: pseudonym scope {application.pseudonym_scope!r}",
            highlight=False,
        )
    console.print(
        f"Running services use it within {DEFAULT_CACHE_TTL_SECONDS:.0f} s.", highlight=False
    )
