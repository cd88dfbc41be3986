"""The running service a batch uses in-process: the same context an API worker holds.

A batch is not a second implementation of the decision path: it opens the database (migrated,
its secrets checked as a start checks them), loads the model from the registry, starts the one
group-commit writer and the oversight modes, and calls the service's functions with an
application's credentials, which it authenticates as the API does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from api.audit.writer import LogWriter
from api.context import AppContext
from api.core.errors import ForbiddenError, UnauthorizedError
from api.core.security import KeyStore, Principal, Role
from api.core.settings import Settings

__all__ = ["application_principal", "batch_context"]


@contextmanager
def batch_context(settings: Settings, *, model_names: tuple[str, ...]) -> Iterator[AppContext]:
    """A service context serving ``model_names``, with its writer running, for a batch.

    Raises
    ------
    api.core.secret_check.SecretMismatchError
        The secrets do not open the data already stored.
    api.decisions.runtime.ModelsUnavailableError
        None of the models can be served.
    """
    from api.core.database import create_db_engine, create_session_factory, migrate
    from api.decisions.oversight import OversightModes
    from api.decisions.runtime import ModelRegistry
    from api.decisions.serving import ServedVersions
    from api.main import check_stored_secrets

    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        sessions = create_session_factory(engine)
        check_stored_secrets(sessions, settings)
        models = ModelRegistry(settings.mlflow_tracking_uri)
        models.load_all(model_names)
        writer = LogWriter(engine, kek=settings.key_encryption_key.get_secret_value()).start()
        # The version every worker serves, as named in the database, scores the batch too.
        serving = ServedVersions(sessions, models).start()
        oversight = OversightModes(sessions).start()
        try:
            yield AppContext(
                settings=settings,
                engine=engine,
                sessions=sessions,
                writer=writer,
                keys=KeyStore(sessions),
                models=models,
                oversight=oversight,
                serving=serving,
            )
        finally:
            oversight.stop()
            serving.stop()
            writer.stop()
    finally:
        engine.dispose()


def application_principal(context: AppContext, *, api_key: str) -> Principal:
    """The application a batch is run for, authenticated by its API key as over HTTP.

    Raises
    ------
    UnauthorizedError
        The key is malformed, unknown or revoked.
    ForbiddenError
        The key is not an application's.
    """
    principal = context.keys.authenticate(api_key)
    if principal is None:
        raise UnauthorizedError("The API key is not valid.")
    if principal.role is not Role.APPLICATION:
        raise ForbiddenError("A batch is run for an application: give an application's key.")
    return principal
