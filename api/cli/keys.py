"""``glassbox keys``: API keys of applications and staff."""

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

__all__ = ["keys_app"]

keys_app = typer.Typer(help="API keys of applications and staff.", no_args_is_help=True)


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option(help="application, reviewer, auditor or admin.")],
    name: Annotated[str, typer.Option(help="Who or what holds the key.")],
    application: Annotated[
        str | None,
        typer.Option(
            help="Application keys: the application it belongs to -- an existing one to "
            "rotate its key (same people), or a new one. Default: a new application named "
            "after the key."
        ),
    ] = None,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Create an API key and print it -- once; only its hash is stored."""
    from api.core.errors import InvalidRequestError
    from api.core.security import create_api_key

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        try:
            raw_key, principal = create_api_key(
                session, name=name, role=role, application=application
            )
        except InvalidRequestError as exc:
            refuse(exc)
    console.print(
        f"Created key [bold]{principal.key_id}[/] ({principal.role}) for {principal.name!r}.",
        highlight=False,
    )
    if principal.application is not None:
        console.print(
            f"Application {principal.application!r}, pseudonym scope "
            f"{principal.pseudonym_scope!r}.",
            highlight=False,
        )
    console.print("Store it now, it cannot be shown again:")
    typer.echo(raw_key)


@keys_app.command("list")
def list_keys(home: HomeOption = Path(".glassbox"), demo: DemoOption = False) -> None:
    """List API keys (ids, names, roles; never the keys)."""
    from api.core.security import list_api_keys

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        keys = list_api_keys(session)
    table = Table(title="API keys")
    table.add_column("key id", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("name")
    table.add_column("application")
    table.add_column("created", no_wrap=True)
    table.add_column("revoked", no_wrap=True)
    for key in keys:
        table.add_row(
            key.key_id,
            key.role.value,
            key.name,
            key.application or "",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `glassbox keys list`).")],
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Revoke an API key."""
    from api.core.errors import NotFoundError
    from api.core.security import DEFAULT_CACHE_TTL_SECONDS, revoke_api_key

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        try:
            key = revoke_api_key(session, key_id=key_id)
        except NotFoundError:
            errors.print(f"No API key has the id {key_id!r}.", markup=False)
            raise typer.Exit(2) from None
    console.print(
        f"Revoked key {key.key_id} ({key.role.value}); running services refuse it within "
        f"{DEFAULT_CACHE_TTL_SECONDS:.0f} s.",
        highlight=False,
    )
