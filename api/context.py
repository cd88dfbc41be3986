"""What a running service holds: settings, storage, the log writer, API keys, models, their
oversight modes and the versions every worker serves.

Built once in the app's lifespan and reached by dependencies through ``request.app.state``;
nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.audit.writer import LogWriter
from api.core.settings import Settings

if TYPE_CHECKING:
    from api.core.security import KeyStore
    from api.decisions.oversight import OversightModes
    from api.decisions.runtime import ModelRegistry
    from api.decisions.serving import ServedVersions

__all__ = ["AppContext", "ContextDep", "KekDep", "get_context", "key_encryption_key"]


@dataclass
class AppContext:
    """The service's long-lived collaborators."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: LogWriter
    keys: KeyStore
    models: ModelRegistry
    # Who decides for each model (automated, human_only, paused), re-read every half second.
    oversight: OversightModes
    # Which version of each model every worker serves, named in the database; followed every
    # half second, and this worker's report of what it serves.
    serving: ServedVersions


async def get_context(request: Request) -> AppContext:
    """The running app's context (a dependency).

    Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
    per request on the decision hot path for what is an attribute read.
    """
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


async def key_encryption_key(context: ContextDep) -> bytes:
    """The key-encryption key, which opens the subjects' data keys (a dependency).

    Routes that open sealed data take it from here rather than unwrapping the setting each.
    Async on purpose, as :func:`get_context`.
    """
    return context.settings.key_encryption_key.get_secret_value()


KekDep = Annotated[bytes, Depends(key_encryption_key)]
