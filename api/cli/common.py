"""What every command shares: the consoles, the common options, the service's settings and
database, and the demo's stores under ``--home``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from api.core.errors import ProblemError
    from api.core.settings import Settings

__all__ = [
    "DemoOption",
    "HomeOption",
    "TrackingOption",
    "console",
    "demo_database_url",
    "demo_environment",
    "errors",
    "open_database",
    "progress_display",
    "refuse",
    "resolve_tracking_uri",
    "service_settings",
]

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="GLASSBOX_HOME",
        help="Project-local state: MLflow store, fixtures, secrets.",
    ),
]
DemoOption = Annotated[
    bool,
    typer.Option(
        "--demo",
        envvar="GLASSBOX_DEMO_MODE",
        help="Use the demo's generated secrets and stores under --home (never for real data).",
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


def resolve_tracking_uri(home: Path, tracking_uri: str | None) -> str:
    """The MLflow store: the one given, or the SQLite store under ``home``.

    Parameters
    ----------
    home : Path
        ``--home``.
    tracking_uri : str, optional
        ``--tracking-uri``.

    Returns
    -------
    str
        A tracking URI.
    """
    from models.registry import local_store

    return tracking_uri or local_store(home)


def demo_database_url(home: Path) -> str:
    """The demo's decision database: SQLite beside its MLflow store under ``home``.

    Parameters
    ----------
    home : Path
        ``--home``.

    Returns
    -------
    str
        A SQLAlchemy URL.
    """
    return f"sqlite:///{home.resolve() / 'glassbox.db'}"


def demo_environment(home: Path, tracking_uri: str, *, host: str, port: int) -> dict[str, str]:
    """Settings of a local demo: generated demo secrets and stores under ``home``.

    Parameters
    ----------
    home : Path
        Where the demo's secrets and stores live.
    tracking_uri : str
        The demo's MLflow store.
    host, port : str, int
        Where the API will listen (its public URL).

    Returns
    -------
    dict of str to str
        ``GLASSBOX_*`` variables the environment does not set already (``*_FILE`` ones always).
    """
    from api.core.settings import generate_demo_secrets

    env = generate_demo_secrets(home)
    env.setdefault("GLASSBOX_DATABASE_URL", demo_database_url(home))
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = tracking_uri
    env["GLASSBOX_PUBLIC_URL"] = f"http://{host}:{port}"
    return {k: v for k, v in env.items() if k not in os.environ or k.endswith("_FILE")}


def progress_display() -> Progress:
    """A spinner with elapsed time per step, on the standard console.

    Returns
    -------
    Progress
        To use as a context manager.
    """
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def service_settings(home: Path, *, demo: bool = False) -> Settings:
    """The service's settings (``GLASSBOX_*``); with ``demo``, the demo's secrets under ``--home``.

    Demo mode is only ever asked for (``--demo``, ``GLASSBOX_DEMO_MODE=true`` or ``glassbox
    demo``): missing secrets are an error, never a reason to fall back on the demo's, which would
    seal real people's data under a key from a developer's checkout.
    """
    from pydantic import ValidationError

    from api.core.settings import DEMO_MODE_WARNING, SECRET_NAMES, Settings, get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        failure = exc
    else:
        if settings.demo_mode:
            errors.print(f"[yellow]{DEMO_MODE_WARNING}[/]")
        return settings
    for folder in (home / "secrets", home / ".glassbox" / "secrets") if demo else ():
        if all((folder / name).is_file() for name in SECRET_NAMES):
            files: dict[str, Any] = {f"{name}_file": folder / name for name in SECRET_NAMES}
            # The demo's stores live under --home too, unless the environment says otherwise.
            if "GLASSBOX_DATABASE_URL" not in os.environ:
                files["database_url"] = demo_database_url(home)
            if "GLASSBOX_MLFLOW_TRACKING_URI" not in os.environ:
                files["mlflow_tracking_uri"] = resolve_tracking_uri(home, None)
            try:
                settings = Settings(demo_mode=True, **files)
            except ValidationError as exc:
                failure = exc
            else:
                errors.print(f"[yellow]{DEMO_MODE_WARNING}[/] (secrets in {folder})")
                return settings
    errors.print("[red]The settings are incomplete or invalid:[/]")
    for problem in failure.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        # The message only: pydantic's "input" could be a secret.
        errors.print(f"  {where}: {problem['msg']}", markup=False)
    errors.print(
        "Set the GLASSBOX_* secrets (or GLASSBOX_<NAME>_FILE); for the local demo, run "
        "`glassbox demo` or pass --demo to use its secrets under --home."
    )
    raise typer.Exit(2)


@contextmanager
def open_database(
    settings: Settings, *, refusal: str = "Refused"
) -> Iterator[sessionmaker[Session]]:
    """Sessions on the service's database, migrated, once the secrets are known to open its data.

    An operations command with the wrong secrets would sign a checkpoint with another key or
    record them as the database's own: it stops as a start does, naming the secret.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.core.database import create_db_engine, create_session_factory, migrate
    from api.core.secret_check import SecretMismatchError
    from api.main import check_stored_secrets

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        engine = create_db_engine(settings.database_url)
    except (ValueError, SQLAlchemyError) as exc:
        errors.print(f"Cannot use the database {where}: {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        migrate(engine)
        sessions = create_session_factory(engine)
        try:
            check_stored_secrets(sessions, settings)
        except SecretMismatchError as exc:
            errors.print(f"{refusal}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        yield sessions
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        errors.print(f"Database error on {where}: {reason}", markup=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


def refuse(exc: ProblemError) -> NoReturn:
    """Print why the service refused the command, and exit 2.

    Parameters
    ----------
    exc : ProblemError
        The service's refusal, with the fields it names.

    Raises
    ------
    typer.Exit
        Always, with code 2.
    """
    reasons = "; ".join(f"{e.field} {e.message}" for e in exc.errors or [])
    errors.print(f"Refused: {reasons or exc.detail}", markup=False)
    raise typer.Exit(2)
