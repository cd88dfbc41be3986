"""The glassbox service: ``create_app`` builds the FastAPI application.

Models are loaded once, by alias, in the lifespan (with their explainers); storage is migrated and
the group-commit writer started before the first request is accepted. A start refuses, with a
one-line reason, secrets that do not open the data already stored and models it cannot serve;
demo mode says so at start.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api.audit.writer import LogWriter
from api.context import AppContext
from api.core.database import create_db_engine, create_session_factory, migrate
from api.core.settings import DEMO_MODE_WARNING, Settings, get_settings

__all__ = ["check_stored_secrets", "create_app", "create_served_app"]

logger = logging.getLogger("glassbox.startup")


def check_stored_secrets(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Refuse secrets that do not open the data already stored (:mod:`api.core.secret_check`).

    A database from before the check is tried with the secrets themselves: a stored data key
    must unwrap under the KEK, the newest checkpoint must carry the checkpoint key's signature.

    Raises
    ------
    api.core.secret_check.SecretMismatchError
        Naming the secrets that do not match.
    """
    from api.core.secret_check import check_secrets
    from api.vault.keys import keys_open_stored_data

    def probe(session: Session) -> dict[str, bool]:
        return keys_open_stored_data(
            session,
            kek=settings.key_encryption_key.get_secret_value(),
            checkpoint_signing_key=settings.checkpoint_signing_key.get_secret_value(),
        )

    check_secrets(sessions, settings, probe=probe)


def create_app(settings: Settings | None = None, *, load_models: bool = True) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :func:`api.core.settings.get_settings` (the environment).
    load_models : bool
        Load the registered champions at start-up. Off for tests of the plumbing alone.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from api.core.secret_check import SecretMismatchError
        from api.core.security import KeyStore
        from api.decisions.oversight import OversightModes
        from api.decisions.runtime import ModelRegistry, ModelsUnavailableError
        from api.decisions.serving import ServedVersions
        from api.webhooks.dispatcher import WebhookDispatcher

        config = settings or get_settings()
        if config.demo_mode:
            logger.warning(DEMO_MODE_WARNING)
        engine = create_db_engine(config.database_url)
        try:
            migrate(engine)
            sessions = create_session_factory(engine)
            check_stored_secrets(sessions, config)
            models = ModelRegistry(config.mlflow_tracking_uri)
            if load_models:
                models.load_all(tuple(config.served_models))
        except (SecretMismatchError, ModelsUnavailableError) as exc:
            logger.error("refusing to start: %s", exc)
            engine.dispose()
            raise
        # Everything loaded so far (models, explainers, libraries) lives as long as the process:
        # moving it out of the collector's reach avoids full collections of ~450k objects that
        # stall a request for ~300 ms.
        gc.collect()
        gc.freeze()
        writer = LogWriter(engine, kek=config.key_encryption_key.get_secret_value()).start()
        webhooks = WebhookDispatcher(
            engine,
            signing_key=config.webhook_signing_key.get_secret_value(),
            metrics=app.state.metrics,
        ).start()
        # A version an admin named is loaded before the first request; then followed.
        serving = ServedVersions(sessions, models).start()
        oversight = OversightModes(sessions).start()
        app.state.context = AppContext(
            settings=config,
            engine=engine,
            sessions=sessions,
            writer=writer,
            keys=KeyStore(sessions),
            models=models,
            oversight=oversight,
            serving=serving,
        )
        try:
            yield
        finally:
            oversight.stop()
            serving.stop()
            webhooks.stop()
            writer.stop()
            engine.dispose()
            # What the shutdown logged (the log writer's figures) is written now: a worker
            # process of a supervisor ends without running the interpreter's exit handlers.
            for handler in logging.getLogger().handlers:
                handler.flush()

    built = settings or get_settings()
    app = FastAPI(
        title="glassbox",
        version="1",
        summary="Scored, explained, recorded and contestable automated decisions (GDPR Art. 22).",
        lifespan=lifespan,
        # No OpenTelemetry: metrics are Prometheus (/metrics) and logs are JSON lines. Left on,
        # FastAPI would look up the global OpenTelemetry providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # The API's description is served by api.web.docs: for API keys only in production,
        # and Swagger UI from this service's own files, never a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    from api.admin.router import router as admin_router
    from api.audit.router import router as audit_router
    from api.core.errors import install_error_handlers
    from api.core.hosts import TrustedHostMiddleware, trusted_hosts
    from api.core.limits import BodyLimits
    from api.core.observability import install_observability
    from api.core.openapi import install_problem_documentation
    from api.core.ratelimit import install_rate_limits
    from api.decisions.fast import decision_fast_route
    from api.decisions.history import recommendation_body_limit
    from api.decisions.router import router as decisions_router
    from api.profiles.router import router as profiles_router
    from api.profiles.router import subject_router as subject_profiles_router
    from api.reports.router import router as reports_router
    from api.reviews.router import audit_router as reviewer_stats_router
    from api.reviews.router import router as reviews_router
    from api.reviews.subject_router import router as subject_cases_router
    from api.rights.router import router as rights_router
    from api.rights.subject_router import router as rights_subject_router
    from api.subjects.router import links_router as subject_links_router
    from api.subjects.router import router as subjects_router
    from api.web.docs import docs_router
    from api.web.router import router as web_router
    from api.webhooks.router import router as webhooks_router

    install_error_handlers(app)
    install_rate_limits(app, settings or get_settings())
    install_problem_documentation(app)
    # One layer gives request ids, logs and counts every request, refuses oversized bodies
    # (so the access log sees those too; a served recommender's decisions have room for a long
    # history) and answers the decision hot path itself.
    install_observability(
        app,
        max_body_bytes=BodyLimits(
            built.max_body_bytes,
            routes=[
                recommendation_body_limit(
                    app,
                    max_body_bytes=built.max_body_bytes,
                    max_history_events=built.max_history_events,
                )
            ],
        ),
        fast_routes=[decision_fast_route(app)],
    )
    # Outermost: no layer under it sees a Host header it could echo into a redirect.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(built))
    app.include_router(decisions_router)
    app.include_router(profiles_router)
    app.include_router(subject_profiles_router)
    app.include_router(admin_router)
    app.include_router(audit_router)
    app.include_router(subjects_router)
    app.include_router(subject_links_router)
    app.include_router(rights_subject_router)
    app.include_router(rights_router)
    app.include_router(webhooks_router)
    app.include_router(subject_cases_router)
    app.include_router(reviews_router)
    app.include_router(reviewer_stats_router)
    app.include_router(reports_router)
    app.include_router(web_router)
    app.include_router(docs_router(public=built.docs_served))
    return app


def create_served_app() -> FastAPI:
    """The application as ``glassbox serve`` runs it, in each worker process.

    uvicorn starts every worker of ``--workers N`` as a fresh interpreter that only calls this
    factory, so the JSON logs are set up here: without it a worker would log nothing at INFO
    (no access lines) and its errors would go through logging's last-resort handler, messages
    and all.

    Returns
    -------
    FastAPI
        :func:`create_app` with the settings from the environment.
    """
    from api.core.logs import configure_logging
    from api.core.settings import InvalidSettingsError

    configure_logging("INFO")
    try:
        settings = get_settings()
    except InvalidSettingsError as exc:
        # One line naming the variable, then uvicorn's start-up failure code; a traceback
        # through uvicorn's loader would bury the reason.
        logger.error("refusing to start: invalid settings: %s", exc)
        raise SystemExit(3) from None
    return create_app(settings)
