"""What every command shares: the consoles, the common options, the service's settings and
database, and the stores under ``--home``.

``--home`` (or ``GLASSBOX_HOME``) holds a deployment's stores: ``glassbox.db`` (decisions) and
``mlflow.db`` (models), plus ``secrets/`` and ``glassbox.env`` from ``glassbox init``. Every
command uses the stores under it unless ``GLASSBOX_DATABASE_URL`` or
``GLASSBOX_MLFLOW_TRACKING_URI`` name others; when they do and ``--home`` was given too, the
command says in one line that the variable wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

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
    "home_stores",
    "home_tracking_uri",
    "open_database",
    "progress_display",
    "refuse",
    "resolve_tracking_uri",
    "service_settings",
]

console = Console()
# Errors are never wrapped: one error, one line, whatever the terminal's width (a path or a
# URL cut in two cannot be copied).
errors = Console(stderr=True, soft_wrap=True)

HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="GLASSBOX_HOME",
        help="Project-local state: decision database, MLflow store, secrets, fixtures.",
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


def home_tracking_uri(home: Path) -> str:
    """The MLflow store under ``home`` (``mlflow.db``), without creating anything.

    Parameters
    ----------
    home : Path
        ``--home``.

    Returns
    -------
    str
        A tracking URI.
    """
    return f"sqlite:///{home.resolve() / 'mlflow.db'}"


def _shown(url: str) -> str:
    """A store's URL without its password, for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _same_store(first: str, second: str) -> bool:
    def normal(url: str) -> str:
        if url.startswith("sqlite:///") and url not in {"sqlite:///", "sqlite:///:memory:"}:
            path, _, query = url.removeprefix("sqlite:///").partition("?")
            return f"sqlite:///{Path(path).resolve()}" + (f"?{query}" if query else "")
        return url

    return normal(first) == normal(second)


def _home_given() -> bool:
    """Whether ``--home`` was given on the command line or by ``GLASSBOX_HOME``."""
    # Typer keeps its own copy of click: its context, not click's, is the current one.
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source("home") if ctx is not None else None
    return source in {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}


def home_stores(home: Path) -> dict[str, Any]:
    """The stores under ``home`` that the environment does not replace, as settings.

    ``GLASSBOX_DATABASE_URL`` and ``GLASSBOX_MLFLOW_TRACKING_URI`` win over ``--home``; when
    one names another store than an explicitly given ``--home``'s, that is said in one line,
    so a ``--home`` is never silently ignored.

    Parameters
    ----------
    home : Path
        ``--home``.

    Returns
    -------
    dict of str to str
        ``database_url`` and ``mlflow_tracking_uri``, for those the environment does not set.
    """
    under_home = {
        "database_url": ("GLASSBOX_DATABASE_URL", "database", demo_database_url(home)),
        "mlflow_tracking_uri": (
            "GLASSBOX_MLFLOW_TRACKING_URI",
            "MLflow store",
            home_tracking_uri(home),
        ),
    }
    stores: dict[str, Any] = {}
    for field, (variable, what, url) in under_home.items():
        given = os.environ.get(variable)
        if given is None:
            stores[field] = url
        elif _home_given() and not _same_store(given, url):
            errors.print(
                f"Note: {variable}={_shown(given)} is used, not the {what} under --home "
                f"{home} ({url}); unset it to use --home's.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    return stores


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
    """The service's settings (``GLASSBOX_*``, stores under ``--home``); with ``demo``, the
    demo's secrets under ``--home``.

    Demo mode is only ever asked for (``--demo``, ``GLASSBOX_DEMO_MODE=true`` or ``glassbox
    demo``): missing secrets are an error, never a reason to fall back on the demo's, which would
    seal real people's data under a key from a developer's checkout.
    """
    from pydantic import ValidationError

    from api.core.settings import (
        DEMO_MODE_WARNING,
        SECRET_NAMES,
        Settings,
        describe_settings_error,
    )

    stores = home_stores(home)
    try:
        settings = Settings(**stores)
    except ValidationError as exc:
        failure = exc
    else:
        if settings.demo_mode:
            errors.print(f"[yellow]{DEMO_MODE_WARNING}[/]")
        return settings
    for folder in (home / "secrets", home / ".glassbox" / "secrets") if demo else ():
        if all((folder / name).is_file() for name in SECRET_NAMES):
            files: dict[str, Any] = {f"{name}_file": folder / name for name in SECRET_NAMES}
            try:
                settings = Settings(demo_mode=True, **files, **stores)
            except ValidationError as exc:
                failure = exc
            else:
                errors.print(f"[yellow]{DEMO_MODE_WARNING}[/] (secrets in {folder})")
                return settings
    problems = describe_settings_error(failure)
    # The message only: pydantic's "input" could be a secret.
    errors.print(f"Invalid settings: {problems}", markup=False, highlight=False, soft_wrap=True)
    if any(f"GLASSBOX_{name.upper()}" in problems for name in SECRET_NAMES):
        sourced = home / "glassbox.env"
        errors.print(
            f"The secrets of `glassbox init` are read with: source {sourced}"
            if sourced.is_file()
            else "Create a deployment's secrets with `glassbox init --home DIR`, then "
            "`source DIR/glassbox.env`; for the local demo, run `glassbox demo` or pass --demo "
            "to use its secrets under --home.",
            markup=False,
            highlight=False,
            soft_wrap=True,
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
        errors.print(
            f"Cannot use the database {where}: {' '.join(str(exc).split())}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
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
        # The driver's message, in one line (psycopg puts the reason on the second).
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        errors.print(
            f"Database error on {where}: {reason}", markup=False, highlight=False, soft_wrap=True
        )
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
