"""Every command's errors in one line: what went wrong and what it names, never a traceback.

The root command group catches what a command lets through. An expected error (bad settings, a
spec or data file refused, a registry or MLflow refusal, a database that cannot be reached, a
file that cannot be read) becomes one line on stderr and exit code 2; anything else becomes one
line saying it was unexpected, and exit code 1. ``--debug`` (or ``GLASSBOX_DEBUG=1``) lets every
error through with its traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

__all__ = ["CommandGroup", "describe_failure"]

# (module, class, prefix) of the errors a command may meet in ordinary use. Looked up among the
# modules already imported: an error of a module that was never imported cannot have happened,
# and the error path should not import MLflow to find that out.
_EXPECTED: tuple[tuple[str, str, str], ...] = (
    ("api.core.settings", "InvalidSettingsError", "Invalid settings"),
    ("pydantic_settings", "SettingsError", "Invalid settings"),
    ("api.core.settings", "SecretsExistError", "Refused"),
    ("models.spec", "SpecError", "Refused"),
    ("models.data", "DataError", "Refused"),
    ("models.registry", "RegistryError", "Refused"),
    ("api.decisions.runtime", "ModelsUnavailableError", "Refused"),
    ("api.core.secret_check", "SecretMismatchError", "Refused"),
    ("mlflow.exceptions", "MlflowException", "MLflow refused"),
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _loaded(module: str, name: str) -> type[BaseException] | None:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def describe_failure(exc: Exception) -> str | None:
    """An expected error as one line for the operator, or None for an unexpected one.

    Parameters
    ----------
    exc : Exception
        What a command raised.

    Returns
    -------
    str or None
        Such as ``Invalid settings: GLASSBOX_SERVED_MODELS: 'Telco Churn' is not a model name …``.
    """
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from api.core.settings import describe_settings_error

        if exc.title == "Settings":
            return _one_line(f"Invalid settings: {describe_settings_error(exc)}")
        problems = "; ".join(
            ".".join(str(part) for part in error["loc"]) + f": {error['msg']}"
            for error in exc.errors()
        )
        return _one_line(f"Invalid {exc.title}: {problems}")
    for module, name, prefix in _EXPECTED:
        kind = _loaded(module, name)
        if kind is not None and isinstance(exc, kind):
            return _one_line(f"{prefix}: {exc}")
    problem = _loaded("api.core.errors", "ProblemError")
    if problem is not None and isinstance(exc, problem):
        reasons = "; ".join(f"{e.field} {e.message}" for e in getattr(exc, "errors", None) or [])
        return _one_line(f"Refused: {reasons or getattr(exc, 'detail', exc)}")
    database = _loaded("sqlalchemy.exc", "SQLAlchemyError")
    if database is not None and isinstance(exc, database):
        # The driver's own message says what failed; SQLAlchemy's wrapper adds the statement.
        return _one_line(f"Database error: {getattr(exc, 'orig', None) or exc}")
    if isinstance(exc, OSError):
        if exc.filename is not None and exc.strerror:
            return _one_line(f"{exc.strerror}: {exc.filename}")
        return _one_line(f"{type(exc).__name__}: {exc}")
    return None


class CommandGroup(TyperGroup):
    """The root command group: turns what a command raises into one line and an exit code."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # the command line's own exits and usage errors, already said
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            from api.cli.common import errors

            line = describe_failure(exc)
            if line is not None:
                errors.print(line, markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
            errors.print(
                _one_line(f"Unexpected error: {type(exc).__name__}: {exc}")
                + " (run again with --debug, or GLASSBOX_DEBUG=1, for the traceback)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
